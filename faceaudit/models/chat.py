"""The one place where a question (and optionally its answer) becomes model inputs.

Training and evaluation must see byte-identical prompts, otherwise a fine-tuned model is
scored on a prompt it never saw. Both call these functions:

* training: ``encode_prompt(processor, images, text, answer=...)`` -> ``input_ids``,
  ``attention_mask``, ``pixel_values`` and ``labels`` (-100 everywhere except the answer
  tokens and the end-of-turn token that follows them);
* evaluation (multiple choice): ``encode_prompt(processor, images, item.prompt())`` without an
  answer; the logits at the LAST position predict the first answer token, and
  ``option_letter_token_ids(tokenizer, letters)`` gives the ids to compare there. Training on
  an McqItem uses ``answer=item.answer`` (the bare letter), so the letter is exactly the token
  that follows the prompt at training time.

Prompt layout (the model's own chat template, InternVL/Qwen2 style; docs/reference.md §1)::

    <|im_start|>user
    <IMG_CONTEXT>            one line per image; the processor expands each into
    {question text}<|im_end|>  <img> + image_seq_length x <IMG_CONTEXT> + </img>
    <|im_start|>assistant
    {answer}<|im_end|>       training only

Images are placed before the text (InternVL's convention). One tile per image: the
processor from :func:`faceaudit.models.loading.load_processor` never tiles.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from faceaudit.data.records import McqItem

IGNORE_INDEX = -100
#: How ShareGPT / LLaMA-Factory corpora mark where an image goes in a human turn.
SHAREGPT_IMAGE_TAG = "<image>"
_IMAGE_TAG_RE = re.compile(re.escape(SHAREGPT_IMAGE_TAG) + r"\s*")


def build_messages(question_text: str, n_images: int = 1, answer: str | None = None) -> list[dict[str, Any]]:
    """Chat messages in the transformers multimodal format: images first, then the text."""
    if n_images < 0:
        raise ValueError(f"n_images must be >= 0, got {n_images}")
    content: list[dict[str, Any]] = [{"type": "image"} for _ in range(n_images)]
    content.append({"type": "text", "text": question_text})
    messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
    if answer is not None:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    return messages


def strip_image_tags(text: str) -> tuple[str, int]:
    """Remove ShareGPT ``<image>`` tags from a human turn; return (text, number of tags)."""
    count = text.count(SHAREGPT_IMAGE_TAG)
    return _IMAGE_TAG_RE.sub("", text).strip(), count


def mcq_question_text(item: McqItem) -> str:
    """The text of a multiple-choice item as every model sees it (layout: ``item.prompt_style``)."""
    return item.prompt()


def prompt_text(processor: Any, question_text: str, n_images: int = 1) -> str:
    """The rendered chat prompt up to and including the assistant header."""
    return processor.apply_chat_template(
        build_messages(question_text, n_images), tokenize=False, add_generation_prompt=True
    )


def end_of_turn_text(processor: Any) -> str:
    """What the chat template writes after an assistant answer (``<|im_end|>\\n`` for Qwen2)."""
    tokenizer = _tokenizer(processor)
    return f"{tokenizer.eos_token}\n" if tokenizer.eos_token else "\n"


def load_images(paths: Sequence[str | Path], root: Path | None = None) -> list[Any]:
    """Decode images to RGB with the transport's one decoder; relative paths resolve against ``root``."""
    from faceaudit.data.images import open_face_image

    images = []
    for path in paths:
        full = Path(root) / path if root is not None else Path(path)
        if not full.is_file():
            raise FileNotFoundError(f"image not found: {full}")
        images.append(open_face_image(full)[0])
    return images


def encode_prompt(
    processor: Any,
    images: Sequence[Any],
    text: str,
    *,
    answer: str | None = None,
    max_length: int | None = None,
) -> dict[str, Any]:
    """Encode one example as a batch of one: tensors with a leading dimension of 1.

    Returns ``input_ids`` and ``attention_mask`` (``[1, L]``), ``pixel_values``
    (``[n_tiles, 3, H, W]``, one tile per image) when there are images, and, when ``answer``
    is given, ``labels`` (``[1, L]``) equal to ``input_ids`` on the answer tokens and the
    end-of-turn token, ``-100`` elsewhere. The prompt part is encoded exactly as without an
    answer (the answer ids are appended, never re-tokenized across the boundary), so the
    last prompt position at evaluation is the position that predicted the first answer
    token at training.

    ``max_length`` (the recipe's cutoff) truncates the answer only; a prompt that alone
    exceeds it is an error, because cutting it would cut image tokens.
    """
    import torch

    images = list(images)
    prompt = prompt_text(processor, text, n_images=len(images))
    encoded = processor(
        images=images or None, text=[prompt], return_tensors="pt", add_special_tokens=False
    )
    result: dict[str, Any] = {
        "input_ids": encoded["input_ids"],
        "attention_mask": encoded["attention_mask"],
    }
    if images:
        result["pixel_values"] = encoded["pixel_values"]
    prompt_len = result["input_ids"].shape[1]
    if max_length is not None and prompt_len > max_length:
        raise ValueError(
            f"prompt is {prompt_len} tokens, longer than the cutoff {max_length}: raise the "
            "recipe's cutoff_len or shorten the question"
        )
    if answer is None:
        return result
    tokenizer = _tokenizer(processor)
    answer_ids = tokenizer(answer + end_of_turn_text(processor), add_special_tokens=False)["input_ids"]
    if max_length is not None:
        answer_ids = answer_ids[: max_length - prompt_len]
    answer_tensor = torch.tensor([answer_ids], dtype=result["input_ids"].dtype)
    result["input_ids"] = torch.cat([result["input_ids"], answer_tensor], dim=1)
    result["attention_mask"] = torch.cat([result["attention_mask"], torch.ones_like(answer_tensor)], dim=1)
    labels = torch.full_like(result["input_ids"], IGNORE_INDEX)
    labels[0, prompt_len:] = answer_tensor[0]
    result["labels"] = labels
    return result


def encode_conversation(
    processor: Any,
    images: Sequence[Any],
    exchanges: Sequence[tuple[str, str]],
    *,
    system: str | None = None,
    max_length: int | None = None,
) -> dict[str, Any]:
    """Encode a multi-turn conversation for training: every answer is learned in its context.

    ``exchanges`` are ``(question, answer)`` pairs in order; a question holds one ShareGPT
    ``<image>`` tag per image it shows, and ``images`` are in tag order. ``system`` is the
    system prompt. Returns what :func:`encode_prompt` returns with an answer: ``labels``
    equal ``input_ids`` on every answer and the end-of-turn token after it, ``-100`` on
    the system prompt, the questions and the images.

    Each turn's prompt text is the chat template's rendering of the conversation so far
    minus what earlier turns already rendered, so the tokens of an answer are exactly the
    tokens a one-turn :func:`encode_prompt` would give it. ``max_length`` keeps whole
    exchanges (the last one's answer may be cut); a first question longer than it is an error.
    """
    import torch

    images = list(images)
    tags = sum(question.count(SHAREGPT_IMAGE_TAG) for question, _ in exchanges)
    if tags != len(images):
        raise ValueError(f"{tags} {SHAREGPT_IMAGE_TAG} tag(s) in the questions for {len(images)} image(s)")
    if not exchanges:
        raise ValueError("a conversation needs at least one question and answer")
    tokenizer = _tokenizer(processor)
    end_of_turn = end_of_turn_text(processor)
    messages: list[dict[str, Any]] = []
    if system:
        messages.append({"role": "system", "content": [{"type": "text", "text": system}]})
    ids: list[Any] = []
    labels: list[Any] = []
    pixels: list[Any] = []
    rendered = ""
    used_images = 0
    length = 0
    for turn, (question, answer) in enumerate(exchanges):
        text, n_images = strip_image_tags(question)
        # InternVL's convention (build_messages): a turn's images come before its text.
        content = [{"type": "image"} for _ in range(n_images)] + [{"type": "text", "text": text}]
        messages.append({"role": "user", "content": content})
        prompt = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        if not prompt.startswith(rendered):
            raise ValueError("the chat template renders earlier turns differently once more follow; "
                             "this conversation cannot be encoded turn by turn")
        turn_images = images[used_images : used_images + n_images]
        encoded = processor(images=turn_images or None, text=[prompt[len(rendered):]],
                            return_tensors="pt", add_special_tokens=False)
        prompt_ids = encoded["input_ids"][0]
        if max_length is not None and length + len(prompt_ids) >= max_length:
            if turn == 0:
                raise ValueError(f"the first question is {len(prompt_ids)} tokens, longer than the cutoff "
                                 f"{max_length}: raise the recipe's cutoff_len or shorten it")
            break
        answer_ids = tokenizer(answer + end_of_turn, add_special_tokens=False)["input_ids"]
        if max_length is not None:
            answer_ids = answer_ids[: max_length - length - len(prompt_ids)]
        ids += [prompt_ids, torch.tensor(answer_ids, dtype=prompt_ids.dtype)]
        labels += [torch.full_like(prompt_ids, IGNORE_INDEX), torch.tensor(answer_ids, dtype=prompt_ids.dtype)]
        if turn_images:
            pixels.append(encoded["pixel_values"])
        used_images += n_images
        length += len(prompt_ids) + len(answer_ids)
        rendered = prompt + answer + end_of_turn
        messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    input_ids = torch.cat(ids).unsqueeze(0)
    result: dict[str, Any] = {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "labels": torch.cat(labels).unsqueeze(0),
    }
    if pixels:
        result["pixel_values"] = torch.cat(pixels)
    return result


def option_letter_token_ids(tokenizer: Any, letters: Sequence[str]) -> list[int]:
    """Token id of each option letter as the first token of an answer (``"A"`` -> id).

    The answer follows the assistant header's newline, so the letter is encoded on its own
    (no leading space). A letter that is not a single token cannot be scored from one
    position's logits: that is an error, not a silent approximation.
    """
    tokenizer = _tokenizer(tokenizer)
    ids = []
    for letter in letters:
        encoded = tokenizer(letter, add_special_tokens=False)["input_ids"]
        if len(encoded) != 1:
            raise ValueError(f"option letter {letter!r} is {len(encoded)} tokens {encoded} in this tokenizer; expected 1")
        ids.append(encoded[0])
    return ids


def pad_batch(
    examples: Sequence[dict[str, Any]], pad_token_id: int, *, padding_side: str = "right"
) -> dict[str, Any]:
    """Stack examples from :func:`encode_prompt` into one batch.

    Right padding for training; LEFT padding for last-position scoring, so that position -1
    is the last prompt token of every row. ``pixel_values`` are concatenated (the model
    matches tiles to ``<IMG_CONTEXT>`` runs in order).
    """
    import torch

    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    length = max(example["input_ids"].shape[1] for example in examples)
    fills = {"input_ids": pad_token_id, "attention_mask": 0, "labels": IGNORE_INDEX}
    batch: dict[str, Any] = {}
    for key, fill in fills.items():
        present = sum(key in example for example in examples)
        if present == 0:
            continue
        if present != len(examples):
            raise ValueError(f"{key!r} is in {present} of {len(examples)} examples; a batch needs it in all or none")
        rows = []
        for example in examples:
            row = example[key][0]
            pad = torch.full((length - row.shape[0],), fill, dtype=row.dtype)
            rows.append(torch.cat([row, pad]) if padding_side == "right" else torch.cat([pad, row]))
        batch[key] = torch.stack(rows)
    pixels = [example["pixel_values"] for example in examples if "pixel_values" in example]
    if pixels:
        batch["pixel_values"] = torch.cat(pixels)
    return batch


def _tokenizer(processor_or_tokenizer: Any) -> Any:
    return getattr(processor_or_tokenizer, "tokenizer", processor_or_tokenizer)
