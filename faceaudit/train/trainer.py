"""``train_lora``: supervised LoRA fine-tuning of an InternVL checkpoint with transformers' Trainer.

Run it in one process, or under ``accelerate launch`` / ``torchrun`` for several GPUs with no
code change (the Trainer reads the distributed environment). Checkpoints go to
``<out_dir>/checkpoints``; a run killed mid-way resumes from the last one. Outputs in
``out_dir``: ``adapter/`` (peft adapter as safetensors + tokenizer/processor, so it loads with
``load_model(base, adapter=...)``), optionally ``merged/`` (a full checkpoint that loads with
``from_pretrained`` alone), ``training_log.jsonl`` (loss per step, then a summary with
throughput, peak memory and per-attribute accuracy) and ``training.json`` (the section).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import random
import resource
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from faceaudit.data.records import McqItem
from faceaudit.errors import StaleResultsError
from faceaudit.models.chat import IGNORE_INDEX
from faceaudit.models.loading import load_model, save_processor
from faceaudit.schema.training import LossPoint, TrainingSection
from faceaudit.store import (
    atomic_directory,
    atomic_write_json,
    atomic_write_text,
    sha256_file,
    sha256_json,
    sha256_tree,
)
from faceaudit.train.data import (
    FastCollator,
    FastSupervisedDataset,
    SupervisedCollator,
    SupervisedDataset,
    mcq_examples,
    read_corpus,
)
from faceaudit.train.lora import build_lora_config, language_model_target_regex, lora_module_names
from faceaudit.train.mcq_eval import accuracy_by_task, chance_by_task, predict_mcq
from faceaudit.train.recipe import Recipe
from faceaudit.train.tiny import tiny_internvl_cached

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
ADAPTER = "adapter"
MERGED = "merged"
LOG = "training_log.jsonl"
INPUTS = "inputs.json"  # in the checkpoint directory: what the checkpoints were trained from
SECTION = "training.json"


def library_versions() -> dict[str, str]:
    import accelerate
    import peft
    import tokenizers
    import torch
    import transformers

    import faceaudit

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "accelerate": accelerate.__version__,
        "tokenizers": tokenizers.__version__,
        "faceaudit": faceaudit.__version__,
    }


def prepare_base_model(recipe: Recipe, cache_dir: Path) -> str:
    """The base checkpoint to train: the recipe's hub id / directory, or the tiny model built once."""
    if recipe.is_tiny:
        return str(tiny_internvl_cached(cache_dir))
    return recipe.base_model


def _base_identity(base_model: str, model: Any) -> tuple[str | None, str | None]:
    """(hub revision, content hash) of the base: a local directory is hashed, a hub id keeps its commit."""
    path = Path(base_model)
    if path.is_dir():
        digest = sha256_tree(path, "*.json")
        weights = sha256_tree(path, "*.safetensors")
        return None, sha256_json({"json": digest, "safetensors": weights})
    return getattr(model.config, "_commit_hash", None), None


def _check_resumable(checkpoint_dir: Path, last: Path | None, inputs: dict[str, Any]) -> None:
    """Refuse to continue a checkpoint trained from other inputs; record this run's inputs.

    A resumed run would otherwise finish someone else's training and report it as its own:
    the base weights, the recipe, the seed and the training examples must all be the same.
    """
    record = checkpoint_dir / INPUTS
    if last is not None:
        previous = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else {}
        changed = sorted(key for key, value in inputs.items() if previous.get(key) != value)
        if changed:
            raise StaleResultsError(
                f"{last} was trained from other inputs than this run's ({', '.join(changed)} changed"
                + (", or it predates this check" if not previous else "")
                + "); use a new --run-id, or set train.resume=false to start over"
            )
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(record, inputs)


def _precision_flags(recipe: Recipe) -> tuple[dict[str, bool], str]:
    import torch

    if recipe.precision == "fp32":
        return {}, "fp32"
    if not torch.cuda.is_available():
        # Mixed precision is a GPU feature here; on CPU the run stays fp32 and the section says so.
        return {}, "fp32 (recipe asked for " + recipe.precision + "; no CUDA device)"
    return {recipe.precision: True}, recipe.precision


def _checkpointing_args(arguments_class: Any, enabled: bool) -> dict[str, Any]:
    """Activation checkpointing under the name this transformers version uses (renamed in 5.x)."""
    import inspect

    names = inspect.signature(arguments_class).parameters
    prefix = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    if not enabled:
        return {}
    # Non-reentrant checkpointing needs no input-grad hook on a frozen embedding (peft).
    return {prefix: True, f"{prefix}_kwargs": {"use_reentrant": False}}


def _peak_memory() -> tuple[float, str]:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20, "cuda_max_allocated"
    # ru_maxrss is KiB on Linux, bytes on macOS.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (rss / 2**20 if sys.platform == "darwin" else rss / 2**10), "cpu_max_rss"


def _trainer_class(loss_weighting: str, feature_cache: Any = None, group_by_length: bool = False):
    """The Trainer for ``loss_weighting``; with ``feature_cache`` (not None), on the fast path;
    with ``group_by_length``, batching examples of similar length together."""
    base = _weighted_trainer_class(loss_weighting)
    if group_by_length:
        base = _length_grouped(base)
    if feature_cache is None:
        return base
    from faceaudit.train.fast import fast_loss

    class FastPathTrainer(base):  # type: ignore[valid-type,misc]
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: ANN001
            if return_outputs or self.accelerator.unwrap_model(model) is not model:
                raise RuntimeError(
                    "the training fast path runs on the unwrapped model only; set the recipe's fast_path: false"
                )
            return fast_loss(
                model, inputs, cache=feature_cache, loss_weighting=loss_weighting,
                num_items_in_batch=num_items_in_batch if self.model_accepts_loss_kwargs else None,
            )

    return FastPathTrainer


def _length_grouped(base: Any) -> Any:
    from transformers.trainer_pt_utils import LengthGroupedSampler

    class LengthGroupedTrainer(base):  # type: ignore[valid-type,misc]
        def _get_train_sampler(self, train_dataset=None):  # noqa: ANN001
            dataset = train_dataset if train_dataset is not None else self.train_dataset
            # The dataset's own estimate: transformers would otherwise encode every example
            # (images included) just to measure it.
            return LengthGroupedSampler(
                self.args.train_batch_size * self.args.gradient_accumulation_steps, lengths=dataset.lengths()
            )

    return LengthGroupedTrainer


def _weighted_trainer_class(loss_weighting: str):
    """transformers' Trainer, or one whose loss weighs every example equally.

    The standard causal-LM loss is the mean over all answer tokens of the batch, so a
    100-token description outweighs a one-letter multiple-choice answer a hundredfold.
    ``example`` takes the token mean within each example, then the mean over examples.
    """
    from transformers import Trainer

    if loss_weighting == "token":
        return Trainer

    class ExampleMeanTrainer(Trainer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # The loss below is already a mean: let the Trainer divide it by the
            # accumulation steps, instead of expecting the model to normalise.
            self.model_accepts_loss_kwargs = False

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: ANN001
            import torch.nn.functional as F

            labels = inputs.pop("labels")
            outputs = model(**inputs)
            logits = outputs.logits[:, :-1, :].float()
            targets = labels[:, 1:].to(logits.device)
            mask = targets != IGNORE_INDEX
            token_loss = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), targets.clamp(min=0).reshape(-1), reduction="none"
            ).view_as(targets)
            per_example = (token_loss * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
            loss = per_example[mask.any(dim=1)].mean()
            return (loss, outputs) if return_outputs else loss

    return ExampleMeanTrainer


def _fast_path_applies(recipe: Recipe, args: Any) -> bool:
    """The fast path needs the unwrapped model in one process and a frozen vision tower."""
    if not recipe.fast_path:
        return False
    if "vision_tower" in recipe.lora.modules_to_save:
        log.info("training fast path off: the vision tower is trained, its features cannot be cached")
        return False
    distributed = (
        args.world_size > 1 or args.n_gpu > 1 or bool(args.fsdp) or args.deepspeed is not None
        or os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true"
        or os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true"
    )
    if distributed:
        log.info("training fast path off: a distributed or multi-GPU run uses the standard forward")
    return not distributed


def _loss_callback(log_path: Path, progress_start: float):
    from transformers import TrainerCallback

    class LossLog(TrainerCallback):
        """Appends one JSON line per logged step; rank 0 only."""

        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
            if not state.is_world_process_zero or not logs or "loss" not in logs:
                return
            record = {
                "step": state.global_step,
                "epoch": state.epoch,
                "loss": float(logs["loss"]),
                "learning_rate": logs.get("learning_rate"),
                "grad_norm": logs.get("grad_norm"),
                "elapsed_s": round(time.perf_counter() - progress_start, 3),
            }
            with open(log_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")

    return LossLog()


def _rewind_log(log_path: Path, checkpoint_step: int | None) -> None:
    """Keep only the loss records of the steps a (re)started run will not train again.

    A killed run has logged the steps after its last checkpoint, perhaps tearing the last
    line; the resumed run trains and logs those steps again. Without this the log held them
    twice (and the section took whichever came last), so a run killed several times no
    longer had the log of one uninterrupted run. Summaries of earlier finished runs go too:
    this run writes its own.
    """
    if not log_path.is_file():
        return
    kept = []
    for line in log_path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # torn by the kill
        if checkpoint_step is not None and "loss" in record and record.get("step", checkpoint_step + 1) <= checkpoint_step:
            kept.append(line + "\n")
    atomic_write_text(log_path, "".join(kept))


def _read_loss_curve(log_path: Path) -> list[LossPoint]:
    """Loss per step from the log (one record per step, see :func:`_rewind_log`)."""
    by_step: dict[int, LossPoint] = {}
    if log_path.is_file():
        for line in log_path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if "loss" in record and "step" in record:
                by_step[record["step"]] = LossPoint(
                    step=record["step"], loss=record["loss"], learning_rate=record.get("learning_rate")
                )
    return [by_step[step] for step in sorted(by_step)]


def _last_checkpoint(checkpoint_dir: Path) -> Path | None:
    """The newest complete checkpoint; one killed while being written (no readable
    trainer_state.json) is skipped."""
    if not checkpoint_dir.is_dir():
        return None
    candidates = []
    for path in checkpoint_dir.glob("checkpoint-*"):
        step = path.name.rsplit("-", 1)[-1]
        if step.isdigit() and _state_readable(path / "trainer_state.json"):
            candidates.append((int(step), path))
    return max(candidates)[1] if candidates else None


def _state_readable(path: Path) -> bool:
    # The Trainer writes trainer_state.json last, in place: a kill while writing it leaves it
    # torn, and resuming from that checkpoint would fail on it.
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def train_lora(
    *,
    base_model: str | Path,
    corpus: Path | None,
    image_root: Path,
    recipe: Recipe,
    out_dir: Path,
    train_items: Sequence[McqItem] | None = None,
    eval_items: Sequence[McqItem] | None = None,
    seed: int = 0,
    resume: bool = True,
    progress: bool = True,
    report_to: Sequence[str] = (),
) -> TrainingSection:
    """Train a LoRA adapter on ``corpus`` (+ ``train_items``) and measure it on ``eval_items``.

    ``base_model`` is a hub id or checkpoint directory (for the tiny recipe, see
    :func:`prepare_base_model`). ``image_root`` resolves the relative image paths of the
    corpus and of the items. With ``resume`` a run continues from the last checkpoint in
    ``out_dir/checkpoints``; without it, old checkpoints and logs are removed first.
    """
    import torch
    from peft import get_peft_model
    from transformers import TrainingArguments, set_seed

    started = time.perf_counter()
    out_dir = Path(out_dir)
    image_root = Path(image_root)
    base_model = str(base_model)
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_dir = out_dir / CHECKPOINTS
    log_path = out_dir / LOG
    if not resume:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
        log_path.unlink(missing_ok=True)

    corpus_examples = read_corpus(corpus) if (corpus is not None and recipe.include_corpus) else []
    if recipe.corpus_max_examples is not None and len(corpus_examples) > recipe.corpus_max_examples:
        keep = sorted(random.Random(seed).sample(range(len(corpus_examples)), recipe.corpus_max_examples))
        corpus_examples = [corpus_examples[i] for i in keep]
    mcq = mcq_examples(list(train_items or []), repeats=recipe.mcq_repeats)
    examples = corpus_examples + mcq
    if not examples:
        raise ValueError(
            "nothing to train on: the corpus has no accepted records"
            + (" (recipe.include_corpus is false)" if not recipe.include_corpus else "")
            + " and no multiple-choice training items were given"
        )

    set_seed(seed)
    model, processor = load_model(
        base_model, trust_remote_code=recipe.trust_remote_code, revision=recipe.base_revision, dtype="float32"
        if recipe.precision == "fp32" or not torch.cuda.is_available() else recipe.precision
    )
    revision, base_sha = _base_identity(base_model, model)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    _, target_leaves = language_model_target_regex(model)
    model = get_peft_model(model, build_lora_config(model, recipe.lora))
    lora_names = lora_module_names(model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())

    precision_flags, precision_used = _precision_flags(recipe)
    args = TrainingArguments(
        output_dir=str(checkpoint_dir),
        per_device_train_batch_size=recipe.per_device_train_batch_size,
        gradient_accumulation_steps=recipe.gradient_accumulation_steps,
        learning_rate=recipe.learning_rate,
        lr_scheduler_type=recipe.lr_scheduler_type,
        warmup_steps=recipe.warmup_ratio,  # a float < 1 is a ratio of the total steps in transformers 5
        weight_decay=recipe.weight_decay,
        max_grad_norm=recipe.max_grad_norm,
        num_train_epochs=recipe.num_train_epochs,
        max_steps=recipe.max_steps or -1,
        logging_steps=recipe.logging_steps,
        save_strategy="steps",
        save_steps=recipe.save_steps,
        save_total_limit=recipe.save_total_limit,
        seed=seed,
        data_seed=seed,
        report_to=list(report_to),  # mlflow / wandb: faceaudit.tracking.training_environment
        remove_unused_columns=False,
        disable_tqdm=not progress,
        dataloader_num_workers=recipe.dataloader_num_workers,
        dataloader_pin_memory=torch.cuda.is_available(),
        **_checkpointing_args(TrainingArguments, recipe.gradient_checkpointing),
        **precision_flags,
    )
    feature_cache = None
    if _fast_path_applies(recipe, args):
        from faceaudit.train.fast import VisionFeatureCache

        feature_cache = VisionFeatureCache(recipe.vision_cache_mb * 2**20)
        dataset: Any = FastSupervisedDataset(examples, processor, image_root, recipe.cutoff_len, feature_cache)
        collator: Any = FastCollator(processor.tokenizer.pad_token_id)
    else:
        dataset = SupervisedDataset(examples, processor, image_root, recipe.cutoff_len)
        collator = SupervisedCollator(processor.tokenizer.pad_token_id)
    trainer = _trainer_class(recipe.loss_weighting, feature_cache, recipe.group_by_length)(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=collator,
        callbacks=[_loss_callback(log_path, started)],
    )
    if not progress:
        from transformers import PrinterCallback

        # With tqdm off the Trainer prints every log dict to stdout instead; quiet means quiet.
        trainer.remove_callback(PrinterCallback)
    last = _last_checkpoint(checkpoint_dir) if resume else None
    _check_resumable(checkpoint_dir, last, {
        "base_model": base_model, "base_revision": revision, "base_model_sha256": base_sha,
        "recipe_sha256": recipe.sha256(), "seed": seed,
        "examples_sha256": sha256_json([[list(e.image_paths), e.question, e.answer, e.source] for e in examples]),
    })
    resumed_from = int(last.name.rsplit("-", 1)[-1]) if last is not None else None
    if args.process_index == 0:
        _rewind_log(log_path, resumed_from)
    output = trainer.train(resume_from_checkpoint=str(last) if last is not None else None)

    adapter_dir = out_dir / ADAPTER
    if trainer.args.world_size == 1:
        # Whole or not at all: weights and processor files go to a staging folder that is
        # renamed over the old adapter (store.atomic_directory), so a crash mid-save never
        # leaves an adapter that loads with missing or stale files.
        with atomic_directory(adapter_dir) as staging:
            trainer.save_model(str(staging))
            save_processor(processor, staging)
    else:
        # A sharded save is collective over every rank: written in place (not atomic).
        trainer.save_model(str(adapter_dir))
    if trainer.is_world_process_zero():
        _finish(
            trainer=trainer, output=output, processor=processor, recipe=recipe, base_model=base_model,
            revision=revision, base_sha=base_sha, corpus=corpus, train_items=train_items,
            eval_items=eval_items, examples=examples, n_corpus=len(corpus_examples), n_mcq=len(mcq),
            target_leaves=target_leaves, n_lora=len(lora_names), trainable=trainable, total=total,
            precision_used=precision_used, resumed_from=resumed_from, image_root=image_root,
            out_dir=out_dir, seed=seed, started=started, progress=progress,
        )
    # Other ranks wait for rank 0's measurements and return the same section.
    trainer.accelerator.wait_for_everyone()
    return TrainingSection.model_validate_json((out_dir / SECTION).read_text(encoding="utf-8"))


def _finish(
    *, trainer, output, processor, recipe: Recipe, base_model: str, revision, base_sha, corpus,
    train_items, eval_items, examples, n_corpus: int, n_mcq: int, target_leaves, n_lora: int,
    trainable: int, total: int, precision_used: str, resumed_from, image_root: Path, out_dir: Path,
    seed: int, started: float, progress: bool,
) -> TrainingSection:  # noqa: ANN001
    """Rank 0: save the processor, merge, score held-out items, write the log summary and section."""
    adapter_dir = out_dir / ADAPTER
    log_path = out_dir / LOG
    if trainer.args.world_size > 1:
        save_processor(processor, adapter_dir)
    merged_dir = merge_adapter(base_model, adapter_dir, out_dir / MERGED, recipe=recipe) if recipe.merge else None

    accuracy: dict = {}
    chance: dict = {}
    if eval_items:
        sharded = trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled
        # A sharded model cannot run on one rank; score a fresh copy of base + saved adapter instead.
        scorer = (
            load_model(base_model, adapter=adapter_dir, trust_remote_code=recipe.trust_remote_code,
                       revision=recipe.base_revision, dtype=recipe.precision if recipe.precision != "fp32" else None,
                       device="auto")[0]
            if sharded else trainer.model
        )
        predictions = predict_mcq(
            scorer, processor, list(eval_items), image_root,
            batch_size=recipe.eval_batch_size, progress=progress,
        )
        accuracy = accuracy_by_task(list(eval_items), predictions)
        chance = chance_by_task(list(eval_items))

    curve = _read_loss_curve(log_path)
    peak, peak_kind = _peak_memory()
    metrics = output.metrics
    section = TrainingSection(
        recipe=recipe.name,
        recipe_sha256=recipe.sha256(),
        base_model=base_model,
        base_model_revision=revision,
        base_model_sha256=base_sha,
        adapter_path=str(adapter_dir),
        adapter_sha256=sha256_file(adapter_dir / "adapter_model.safetensors"),
        merged_path=str(merged_dir) if merged_dir else None,
        corpus_path=str(corpus) if corpus is not None else None,
        corpus_sha256=sha256_file(corpus) if corpus is not None else None,
        train_items_sha256=sha256_json([i.model_dump(mode="json") for i in train_items]) if train_items else None,
        n_examples=len(examples),
        n_corpus_examples=n_corpus,
        n_mcq_examples=n_mcq,
        lora_target_modules=target_leaves,
        n_lora_modules=n_lora,
        modules_to_save=list(recipe.lora.modules_to_save),
        trainable_parameters=trainable,
        total_parameters=total,
        steps=output.global_step,
        epochs=float(trainer.state.epoch or 0.0),
        resumed_from_step=resumed_from,
        loss_first=curve[0].loss if curve else float("nan"),
        loss_last=curve[-1].loss if curve else float("nan"),
        loss_curve=curve,
        samples_per_second=float(metrics.get("train_samples_per_second", float("nan"))),
        steps_per_second=float(metrics.get("train_steps_per_second", float("nan"))),
        peak_memory_mb=round(peak, 1),
        peak_memory_kind=peak_kind,
        precision=precision_used,
        device=str(trainer.args.device),
        world_size=trainer.args.world_size,
        accuracy=accuracy,
        chance_accuracy=chance,
        log_path=str(log_path),
        library_versions=library_versions(),
        seed=seed,
        wall_time_s=round(time.perf_counter() - started, 3),
    )
    summary = {
        "summary": True,
        "steps": section.steps,
        "samples_per_second": section.samples_per_second,
        "steps_per_second": section.steps_per_second,
        "peak_memory_mb": section.peak_memory_mb,
        "peak_memory_kind": section.peak_memory_kind,
        "accuracy": {task: est.model_dump(mode="json") for task, est in accuracy.items()},
        "chance_accuracy": chance,
        "resumed_from_step": resumed_from,
        "wall_time_s": section.wall_time_s,
    }
    with open(log_path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(summary) + "\n")
    atomic_write_text(out_dir / SECTION, section.model_dump_json(indent=2) + "\n")
    return section


def merge_adapter(base_model: str, adapter_dir: Path, merged_dir: Path, *, recipe: Recipe) -> Path:
    """Write base + adapter merged as a standalone checkpoint (loads with ``from_pretrained``)."""
    model, processor = load_model(
        base_model, adapter=adapter_dir, trust_remote_code=recipe.trust_remote_code, revision=recipe.base_revision
    )
    merged = model.merge_and_unload()
    merged_dir = Path(merged_dir)
    with atomic_directory(merged_dir) as staging:
        merged.save_pretrained(str(staging))
        save_processor(processor, staging)
        atomic_write_json(staging / "faceaudit_merge.json", {"base_model": base_model, "adapter": str(adapter_dir)})
    return merged_dir
