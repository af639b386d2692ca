"""A tiny InternVL checkpoint built from configs, for tests and the embedded default.

The directory this module writes has the same layout as ``OpenGVLab/InternVL3-1B-hf``
(``config.json`` + safetensors weights, a fast tokenizer with the InternVL special tokens
and the Qwen2 chat template, a GotOcr2 image processor, ``processor_config.json``), so the
rest of faceaudit loads it through exactly the same ``from_pretrained`` path as a real
checkpoint (docs/design.md "Models": there is no separate fake code path).

Shapes follow docs/reference.md §5: vision hidden 32, 2 layers, patch 8 at 64 px; text
(Qwen2) hidden 64, 2 layers. One 64 px tile gives (64/8)^2 * 0.5^2 = 16 image tokens.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

#: InternVL-hf chat template, identical to the one shipped with InternVL3-*-hf
#: (Qwen2 ``<|im_start|>role\n ... <|im_end|>\n`` turns; an image part renders as
#: ``<IMG_CONTEXT>\n``, which the processor expands to ``<img>`` + N context tokens + ``</img>``).
INTERNVL_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\n'}}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}{{ '<IMG_CONTEXT>\n' }}"
    "{% elif content['type'] == 'video' %}{{ '<video>\n' }}"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}"
    "{% endif %}{% endfor %}{% endif %}"
    "{{'<|im_end|>\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{'<|im_start|>assistant\n' }}{% endif %}"
)

#: Named InternVL tokens; ``InternVLProcessor`` reads them as tokenizer attributes
#: (``tokenizer.context_image_token`` ...), exactly as in the real checkpoints.
INTERNVL_NAMED_TOKENS = {
    "start_image_token": "<img>",
    "end_image_token": "</img>",
    "context_image_token": "<IMG_CONTEXT>",
    "video_token": "<video>",
}
_CHAT_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

#: Written last: its presence (with matching parameters) marks a complete build.
BUILD_STAMP = "faceaudit_tiny.json"
_BUILD_VERSION = 3

# Enough text that the BPE learns whole tokens for what the tests and the tiny recipe
# ask and answer: option letters, digits, face-attribute vocabulary, corpus phrasing.
_TRAINING_TEXT = """
A B C D (A) (B) (C) (D) A. B. C. D. 0 1 2 3 4 5 6 7 8 9 10 19 20 29 30 39 40 49 50 59 60 69 70
Please answer the question and provide only the correct option letter, e.g., A, B, C, D.
What is the gender of the person in the image? What is the age of the person?
What is the skin tone of the person? What is the expression of the person?
Is the person wearing glasses? Is the person wearing a safety helmet? Yes No
gender male female man woman boy girl person face image photo
age child teen teenager young adult middle aged older elderly years old more than 70
0-2 3-9 10-19 20-29 30-39 40-49 50-59 60-69 0-19 20-39 40-59 60+
skin tone light medium dark lighter darker group skin_tone_group type I II III IV V VI
race White Black Latino Hispanic East Asian Southeast Asian Indian Middle Eastern Other
expression neutral smiling smile happy sad angry surprised frowning calm
glasses eyeglasses sunglasses no glasses helmet safety helmet hard hat no helmet mask
Describe the demographic attributes of the image based on the visual information.
Describe the facial structure, skin texture, expression and emotion, lighting and image
quality, face pose, forensic considerations and overall detail of the face.
The face shows a person with a round oval face, short hair, dark eyes, a straight nose,
soft lighting from the front, a frontal pose with no occlusion, and even skin texture.
The image is small and low resolution, with a plain background and sharp edges.
"""


# Label words of the synthetic faces and of FairFace, in the contexts where prompts put them
# ("(A) female", "are: child, older"), repeated so that BPE learns each as one token: a label
# that is one token in the question and in the options is far easier for a 2-layer model to
# match than fragments like "fema" + "le".
_LABEL_WORDS = ["female", "male", "woman", "man", "child", "young", "adult", "middle-aged", "older", "light", "medium", "dark", "neutral", "smiling", "yes", "no", "none", "stubble", "moustache", "beard", "dim", "normal", "bright", "short", "long", "curly", "bun", "bald", "black", "brown", "blonde", "red", "grey", "white", "Male", "Female", "White", "Black", "Indian", "Asian", "Latino_Hispanic", "Middle", "Eastern"]
_LABEL_TEXT = "\n".join(
    f"({letter}) {word}\nThe possible answers are: {word}, {word}. The {word} person is {word}."
    for word in _LABEL_WORDS
    for letter in "ABCD"
)


def _build_tokenizer(vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    special = _CHAT_TOKENS + list(INTERNVL_NAMED_TOKENS.values())
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    text = _TRAINING_TEXT + "\n" + _LABEL_TEXT
    core.train_from_iterator([line for line in text.splitlines() if line], trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=dict(INTERNVL_NAMED_TOKENS),
        chat_template=INTERNVL_CHAT_TEMPLATE,
        model_max_length=2048,
        padding_side="right",
    )


def _build_parameters(seed: int, image_size: int, **shape: int) -> dict:
    return {"version": _BUILD_VERSION, "seed": seed, "image_size": image_size, **shape}


def _is_complete(out_dir: Path, parameters: dict) -> bool:
    stamp = out_dir / BUILD_STAMP
    if not stamp.is_file():
        return False
    try:
        return json.loads(stamp.read_text(encoding="utf-8")) == parameters
    except (OSError, json.JSONDecodeError):
        return False


def build_tiny_internvl(
    out_dir: Path,
    *,
    seed: int = 0,
    image_size: int = 64,
    text_hidden_size: int = 64,
    text_layers: int = 2,
    vision_hidden_size: int = 32,
    vision_layers: int = 2,
) -> Path:
    """Build (or reuse) a tiny random-weight InternVL checkpoint directory at ``out_dir``.

    Idempotent: a directory that already holds a complete build with the same
    parameters is returned untouched. The build happens in a sibling temporary
    directory that is renamed into place, so a crash never leaves a half-written
    checkpoint that looks complete.
    """
    out_dir = Path(out_dir)
    parameters = _build_parameters(
        seed, image_size, text_hidden_size=text_hidden_size, text_layers=text_layers,
        vision_hidden_size=vision_hidden_size, vision_layers=vision_layers,
    )
    if _is_complete(out_dir, parameters):
        return out_dir
    patch = 8
    if image_size % (patch * 2):
        raise ValueError(f"image_size must be a multiple of {patch * 2} (patch 8, 2x pixel shuffle), got {image_size}")

    import torch
    from transformers import (
        GotOcr2ImageProcessorPil,
        InternVLConfig,
        InternVLForConditionalGeneration,
        InternVLVisionConfig,
        Qwen2Config,
    )

    torch.manual_seed(seed)
    tokenizer = _build_tokenizer(vocab_size=800)
    vision = InternVLVisionConfig(
        hidden_size=vision_hidden_size,
        num_hidden_layers=vision_layers,
        num_attention_heads=max(1, vision_hidden_size // 16),
        intermediate_size=2 * vision_hidden_size,
        image_size=[image_size, image_size],
        patch_size=[patch, patch],
    )
    text = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=text_hidden_size,
        num_hidden_layers=text_layers,
        num_attention_heads=max(1, text_hidden_size // 16),
        num_key_value_heads=max(1, text_hidden_size // 32),
        intermediate_size=2 * text_hidden_size,
        max_position_embeddings=2048,
        # Trained embeddings are far larger than the 0.02 default init; with 0.02 the tied LM
        # head cannot produce a logit margin above ~2.5 through the fixed-scale final RMSNorm,
        # so even a trivial answer stays stuck near uniform loss.
        initializer_range=0.25,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    image_seq_length = int((image_size // patch) ** 2 * 0.25)
    config = InternVLConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>"),
        image_seq_length=image_seq_length,
        tie_word_embeddings=True,
    )
    model = InternVLForConditionalGeneration(config).eval()
    image_processor = GotOcr2ImageProcessorPil(
        size={"height": image_size, "width": image_size},
        crop_to_patches=False,
        max_patches=1,
        do_normalize=True,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        image_processor.save_pretrained(staging)
        # InternVLProcessor.save_pretrained fails without torchvision (docs/reference.md §5),
        # so the processor's own settings are written by hand, as the real checkpoints hold them.
        processor_config = {"processor_class": "InternVLProcessor", "image_seq_length": image_seq_length}
        (staging / "processor_config.json").write_text(json.dumps(processor_config, indent=2) + "\n")
        (staging / "chat_template.jinja").write_text(INTERNVL_CHAT_TEMPLATE)
        (staging / BUILD_STAMP).write_text(json.dumps(parameters, indent=2) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def tiny_internvl_cached(cache_dir: Path, *, seed: int = 0, image_size: int = 64, **shape: int) -> Path:
    """The tiny checkpoint under ``cache_dir``, built once per parameter set.

    ``shape`` takes the size keywords of :func:`build_tiny_internvl`; the directory name
    encodes every parameter so that different shapes never overwrite each other.
    """
    suffix = "".join(f"-{key}{value}" for key, value in sorted(shape.items()))
    name = f"tiny-internvl-s{seed}-{image_size}px{suffix}"
    return build_tiny_internvl(Path(cache_dir) / name, seed=seed, image_size=image_size, **shape)
