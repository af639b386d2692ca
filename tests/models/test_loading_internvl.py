"""Loading checkpoints and building prompts: the path real and tiny models share."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from PIL import Image

from faceaudit.data.records import McqItem
from faceaudit.models.chat import (
    IGNORE_INDEX,
    build_messages,
    encode_conversation,
    encode_prompt,
    option_letter_token_ids,
    pad_batch,
    strip_image_tags,
)
from faceaudit.models.loading import (
    RemoteCodeRefused,
    SingleTileInternVLProcessor,
    load_model,
    load_processor,
    save_processor,
)
from faceaudit.train.tiny import tiny_internvl_cached


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return tiny_internvl_cached(tmp_path_factory.getbasetemp() / "tiny-models")


@pytest.fixture(scope="module")
def processor(tiny_dir):
    return load_processor(tiny_dir)


def _item(answer: str = "B") -> McqItem:
    return McqItem(
        item_id="q1", image_ids=["f1"], image_paths=["f1.png"], task="gender",
        question="What is the gender of the person?", options=["male", "female"], answer=answer,
    )


def test_processor_gives_one_tile_per_image_whatever_its_size(processor):
    assert isinstance(processor, SingleTileInternVLProcessor)
    assert processor.image_seq_length == 16
    # 224 px became 10 tiles with the stock processor defaults (docs/reference.md §5).
    images = [Image.new("RGB", (224, 224), (120, 60, 30)), Image.new("RGB", (300, 150))]
    encoded = encode_prompt(processor, images, "Compare the faces.")
    assert encoded["pixel_values"].shape == (2, 3, 64, 64)
    context_id = processor.tokenizer.context_image_token_id
    assert int((encoded["input_ids"] == context_id).sum()) == 2 * 16


def test_encode_prompt_masks_everything_but_the_answer(processor):
    item = _item()
    image = Image.new("RGB", (64, 64))
    with_answer = encode_prompt(processor, [image], item.prompt(), answer=item.answer)
    prompt_only = encode_prompt(processor, [image], item.prompt())
    n_prompt = prompt_only["input_ids"].shape[1]
    # The prompt is a byte-identical prefix: evaluation scores the position training taught.
    assert torch.equal(with_answer["input_ids"][0, :n_prompt], prompt_only["input_ids"][0])
    labels = with_answer["labels"][0]
    assert (labels[:n_prompt] == IGNORE_INDEX).all()
    answer_tokens = processor.tokenizer.convert_ids_to_tokens(labels[n_prompt:].tolist())
    assert answer_tokens == ["B", "<|im_end|>", "Ċ"]
    letter_ids = option_letter_token_ids(processor.tokenizer, ["A", "B"])
    assert int(labels[n_prompt]) == letter_ids[1]
    text = processor.tokenizer.decode(with_answer["input_ids"][0])
    assert text.startswith("<|im_start|>user\n<img><IMG_CONTEXT>")
    assert text.endswith("(B) female\n" + item.postpend_text + "<|im_end|>\n<|im_start|>assistant\nB<|im_end|>\n")


def test_cutoff_truncates_the_answer_and_refuses_to_cut_the_prompt(processor):
    image = Image.new("RGB", (64, 64))
    n_prompt = encode_prompt(processor, [image], "Describe the face.")["input_ids"].shape[1]
    long = encode_prompt(processor, [image], "Describe the face.", answer="word " * 50, max_length=n_prompt + 3)
    assert long["input_ids"].shape[1] == n_prompt + 3
    assert int((long["labels"] != IGNORE_INDEX).sum()) == 3
    with pytest.raises(ValueError, match="longer than the cutoff 10"):
        encode_prompt(processor, [image], "Describe the face.", max_length=10)


def test_option_letters_are_distinct_single_tokens(processor):
    ids = option_letter_token_ids(processor, ["A", "B", "C", "D"])
    assert len(set(ids)) == 4
    assert processor.tokenizer.convert_ids_to_tokens(ids) == ["A", "B", "C", "D"]
    with pytest.raises(ValueError, match="option letter 'female'"):
        option_letter_token_ids(processor.tokenizer, ["female"])


def test_left_padding_keeps_the_last_prompt_token_at_the_end(processor):
    image = Image.new("RGB", (64, 64))
    short = encode_prompt(processor, [image], "Age?")
    long = encode_prompt(processor, [image], "What is the age of the person in the image?")
    pad = processor.tokenizer.pad_token_id
    batch = pad_batch([short, long], pad, padding_side="left")
    assert batch["input_ids"].shape == (2, long["input_ids"].shape[1])
    assert batch["input_ids"][0, -1] == short["input_ids"][0, -1]
    n_pad = long["input_ids"].shape[1] - short["input_ids"].shape[1]
    assert batch["attention_mask"][0].tolist() == [0] * n_pad + [1] * short["input_ids"].shape[1]
    assert batch["pixel_values"].shape == (2, 3, 64, 64)
    right = pad_batch([short, long], pad, padding_side="right")
    assert right["input_ids"][0, : short["input_ids"].shape[1]].tolist() == short["input_ids"][0].tolist()


def test_build_messages_and_sharegpt_image_tags():
    assert build_messages("Q", n_images=2, answer="A") == [
        {"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "Q"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "A"}]},
    ]
    assert strip_image_tags("<image>\nDescribe the face.") == ("Describe the face.", 1)
    assert strip_image_tags("No image here") == ("No image here", 0)


def test_load_model_returns_eval_model_and_processor(tiny_dir):
    model, processor = load_model(tiny_dir, dtype="float32", device="cpu")
    assert not model.training
    assert next(model.parameters()).dtype == torch.float32
    encoded = encode_prompt(processor, [Image.new("RGB", (64, 64))], "Gender?")
    with torch.no_grad():
        logits = model(**encoded).logits
    assert logits.shape[-1] == len(processor.tokenizer)


def test_remote_code_checkpoint_is_refused_with_a_clear_message(tmp_path, tiny_dir):
    remote = tmp_path / "remote"
    shutil.copytree(tiny_dir, remote)
    config = json.loads((remote / "config.json").read_text())
    config["model_type"] = "internvl_chat"
    config["auto_map"] = {"AutoModel": "modeling_internvl_chat.InternVLChatModel"}
    (remote / "config.json").write_text(json.dumps(config))
    with pytest.raises(RemoteCodeRefused, match=r"trust_remote_code.*InternVL3-1B-hf"):
        load_model(remote)
    with pytest.raises(RemoteCodeRefused, match="internvl_chat"):
        load_processor(remote)


def test_saved_processor_loads_back_identically(tmp_path, processor):
    save_processor(processor, tmp_path / "p")
    (tmp_path / "p" / "config.json").write_text(json.dumps({"model_type": "internvl"}))
    again = load_processor(tmp_path / "p")
    image = Image.new("RGB", (90, 90), (10, 200, 30))
    a = encode_prompt(processor, [image], "Q?", answer="A")
    b = encode_prompt(again, [image], "Q?", answer="A")
    assert torch.equal(a["input_ids"], b["input_ids"])
    assert torch.equal(a["pixel_values"], b["pixel_values"])


def test_adapter_directory_without_config_is_rejected(tmp_path, tiny_dir):
    with pytest.raises(FileNotFoundError, match="adapter_config.json missing"):
        load_model(tiny_dir, adapter=tmp_path)


def test_a_conversation_learns_every_answer_in_context(processor):
    red, blue = Image.new("RGB", (64, 64), (200, 0, 0)), Image.new("RGB", (64, 64), (0, 0, 200))
    exchanges = [("<image>What colour is it?", "Red."), ("And this one?<image>", "Blue.")]
    encoded = encode_conversation(processor, [red, blue], exchanges, system="Be brief.")
    ids, labels = encoded["input_ids"][0], encoded["labels"][0]
    assert encoded["pixel_values"].shape[0] == 2 and encoded["attention_mask"].shape == encoded["input_ids"].shape
    tokenizer = processor.tokenizer
    learned = tokenizer.decode(labels[labels != IGNORE_INDEX])
    assert learned == "Red.<|im_end|>\nBlue.<|im_end|>\n"  # both answers, nothing else
    text = tokenizer.decode(ids)
    assert text.index("Be brief.") < text.index("What colour") < text.index("Red.") < text.index("And this one?")
    assert text.count("<img>") == 2 and text.endswith("<|im_start|>assistant\nBlue.<|im_end|>\n")
    # The first exchange is encoded exactly as encode_prompt would encode it on its own.
    single = encode_prompt(processor, [red], "What colour is it?", answer="Red.")
    alone = encode_conversation(processor, [red], [("<image>What colour is it?", "Red.")])
    assert torch.equal(single["input_ids"], alone["input_ids"]) and torch.equal(single["labels"], alone["labels"])
    first_turn = encode_conversation(processor, [red, blue], exchanges, max_length=len(alone["input_ids"][0]) + 5)
    assert tokenizer.decode(first_turn["labels"][0][first_turn["labels"][0] != IGNORE_INDEX]) == "Red.<|im_end|>\n"
    assert first_turn["pixel_values"].shape[0] == 1  # the cut exchange takes its image with it
    with pytest.raises(ValueError, match="1 <image> tag\\(s\\) in the questions for 2 image"):
        encode_conversation(processor, [red, blue], exchanges[:1])
