"""The training fast path: the same loss and gradients as the standard forward, less work.

The standard step (``model(**batch)``) runs the frozen vision tower on every image of every
example, and the LM head over every position of every row (a ``[batch, length, vocab]``
logits tensor) although only the answer tokens carry a label. With the vision tower frozen,
its output for an image is the same for all the Q&A pairs of that image (FairFaceGPT: 8 per
image; the tiny recipe: 4 multiple-choice items plus corpus pairs), so:

* :class:`VisionFeatureCache` keeps the vision tower's output for each image, taken *before*
  the projector (the tiny recipe trains the projector; FaceLLM's is frozen, which changes
  nothing here), computed once with the tower in eval mode and reused for every later
  example of that image; the dataset then stops decoding and preprocessing that image;
* :func:`fast_loss` builds the input embeddings itself (token embeddings with the projected
  image features scattered over the ``<IMG_CONTEXT>`` positions, exactly as
  ``InternVLModel.forward`` does), runs the language model for hidden states only and
  applies the LM head at the positions whose next token is labelled.

The loss is the standard one (token mean, normalised by the Trainer's ``num_items_in_batch``
across gradient accumulation) or the per-example mean of ``loss_weighting: example``.
Exactness (``tests/train/test_fast_path.py``): loss and LoRA/projector gradients equal the
standard path's to float tolerance. It holds when the vision tower applies no dropout in
training mode (InternVL3's configs: attention, projection dropout and drop-path 0); the cache
computes features in eval mode.

Used when the Trainer runs the unwrapped model in one process (no DDP, DataParallel, FSDP or
DeepSpeed wrapper, whose gradient synchronisation needs their own forward); otherwise the
standard path runs. ``recipe.fast_path: false`` switches it off.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from faceaudit.models.chat import IGNORE_INDEX


class VisionFeatureCache:
    """Vision-tower output (before the projector) per image key, up to ``max_bytes`` in memory.

    When full, new images are not stored (their features are recomputed when met again):
    memory stays bounded and results stay exact.
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._store: dict[Hashable, Any] = {}

    def __contains__(self, key: Hashable) -> bool:
        return key in self._store

    def __len__(self) -> int:
        return len(self._store)

    def get(self, key: Hashable) -> Any:
        self.hits += 1
        return self._store[key]

    def put(self, key: Hashable, features: Any) -> bool:
        """Store ``features`` (a CPU copy) for ``key``; False when it would exceed the budget."""
        self.misses += 1
        size = features.numel() * features.element_size()
        if key in self._store or self.bytes + size > self.max_bytes:
            return False
        self._store[key] = features.detach().to("cpu", copy=True)
        self.bytes += size
        return True

    def stats(self) -> dict[str, int]:
        return {"images": len(self._store), "bytes": self.bytes, "hits": self.hits, "computed": self.misses}


def internvl_parts(model: Any) -> tuple[Any, Any]:
    """(InternVLModel, LM head) of an InternVL model, peft-wrapped or not."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    core = getattr(inner, "model", None)
    head = getattr(inner, "lm_head", None)
    if core is None or head is None or not hasattr(core, "vision_tower") or not hasattr(core, "language_model"):
        raise TypeError(f"the training fast path needs an InternVL-style model, got {type(inner).__name__}")
    return core, head


def vision_features_before_projector(core: Any, pixel_values: Any) -> Any:
    """What ``InternVLModel.get_image_features`` computes up to (not including) the projector."""
    config = core.config
    layer = config.vision_feature_layer
    outputs = core.vision_tower(
        pixel_values=pixel_values.to(dtype=core.vision_tower.dtype), output_hidden_states=layer != -1, return_dict=True
    )
    features = outputs.last_hidden_state if layer == -1 else outputs.hidden_states[layer]
    if config.vision_feature_select_strategy == "default":
        features = features[:, 1:, :]
    batch, tokens = features.shape[0], features.shape[1]
    side = int(tokens**0.5)
    features = features.reshape(batch, side, side, -1)
    features = core.pixel_shuffle(features, scale_factor=config.downsample_ratio)
    return features.reshape(batch, -1, features.shape[-1])


def _image_features(core: Any, batch: dict[str, Any], cache: VisionFeatureCache | None) -> Any:
    """Pre-projector features of every image of the batch, in the order of its image tokens."""
    import torch

    keys: Sequence[Sequence[Hashable]] = batch["image_keys"]
    pixel_keys: Sequence[Hashable] = batch["pixel_keys"]
    pixel_values = batch.get("pixel_values")
    fresh: dict[Hashable, Any] = {}
    if pixel_keys:
        if pixel_values is None or pixel_values.shape[0] != len(pixel_keys):
            raise ValueError("fast path: pixel_values do not match the images that need them")
        tower = core.vision_tower
        was_training = tower.training
        tower.eval()
        try:
            with torch.no_grad():
                computed = vision_features_before_projector(core, pixel_values)
        finally:
            tower.train(was_training)
        for key, features in zip(pixel_keys, computed, strict=True):
            fresh[key] = features
            if cache is not None:
                cache.put(key, features)
    rows = []
    device = next(core.multi_modal_projector.parameters()).device
    for example_keys in keys:
        for key in example_keys:
            if key in fresh:
                rows.append(fresh[key])
            elif cache is not None and key in cache:
                rows.append(cache.get(key).to(device, non_blocking=True))
            else:
                raise KeyError(f"fast path: no pixels and no cached features for image {key!r}")
    return torch.stack(rows) if rows else None


def fast_loss(
    model: Any,
    batch: dict[str, Any],
    *,
    cache: VisionFeatureCache | None,
    loss_weighting: str,
    num_items_in_batch: Any = None,
) -> Any:
    """The training loss of ``batch`` (see the module doc), differentiable w.r.t. the trained weights.

    ``batch`` holds ``input_ids``, ``attention_mask``, ``labels`` (right-padded), ``image_keys``
    (per example, the keys of its images in order), ``pixel_keys`` and ``pixel_values`` (the
    images that are not cached, in that order).
    """
    import torch
    import torch.nn.functional as F

    core, head = internvl_parts(model)
    input_ids = batch["input_ids"]
    labels = batch["labels"]
    embeds = core.get_input_embeddings()(input_ids)
    features = _image_features(core, batch, cache)
    if features is not None:
        projected = core.multi_modal_projector(features.to(embeds.device, embeds.dtype))
        slots = input_ids == core.config.image_token_id
        if int(slots.sum()) != projected.shape[0] * projected.shape[1]:
            raise ValueError(
                f"fast path: {int(slots.sum())} image tokens but {projected.shape[0]} images of "
                f"{projected.shape[1]} features"
            )
        embeds = embeds.masked_scatter(slots.unsqueeze(-1).expand_as(embeds), projected.to(embeds.dtype))
    hidden = core.language_model(inputs_embeds=embeds, attention_mask=batch["attention_mask"]).last_hidden_state
    targets = labels[:, 1:].to(hidden.device)
    labelled = targets != IGNORE_INDEX
    logits = head(hidden[:, :-1][labelled]).float()
    token_loss = F.cross_entropy(logits, targets[labelled], reduction="none")
    if loss_weighting == "example":
        rows = labelled.nonzero()[:, 0]
        per_example = torch.zeros(labels.shape[0], device=token_loss.device, dtype=token_loss.dtype)
        per_example = per_example.index_add(0, rows, token_loss)
        counts = labelled.sum(dim=1)
        has = counts > 0
        return (per_example[has] / counts[has]).mean()
    if loss_weighting != "token":
        raise ValueError(f"loss_weighting must be 'token' or 'example', got {loss_weighting!r}")
    if num_items_in_batch is not None:
        return token_loss.sum() / num_items_in_batch
    return token_loss.mean()
