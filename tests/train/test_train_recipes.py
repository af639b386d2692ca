"""Recipes as data: the shipped YAMLs, their validation, and the corpus readers."""

from __future__ import annotations

import json

import pytest
from train_support import make_square_set

from faceaudit.train.config import TrainConfig
from faceaudit.train.data import CorpusFormatError, mcq_examples, read_corpus
from faceaudit.train.recipe import RecipeError, available_recipes, load_recipe, resolve_recipe


def test_shipped_recipes():
    assert available_recipes() == ["facellm-1b", "facellm-38b", "facellm-8b", "tiny"]
    for size in ("1b", "8b", "38b"):
        recipe = load_recipe(f"facellm-{size}")
        # docs/reference.md §1: the FaceLLM train script's values.
        assert recipe.base_model == f"OpenGVLab/InternVL3-{size.upper()}-hf"
        assert (recipe.lora.r, recipe.lora.alpha, recipe.lora.dropout) == (16, 32, 0.0)
        assert recipe.lora.target == "language_model_linears"
        assert recipe.lora.modules_to_save == []
        assert (recipe.learning_rate, recipe.lr_scheduler_type, recipe.warmup_ratio) == (1e-5, "cosine", 0.0)
        assert (recipe.num_train_epochs, recipe.precision, recipe.cutoff_len) == (1, "bf16", 2048)
        assert recipe.max_grad_norm == 1.0 and recipe.trust_remote_code is False
        batch = (recipe.per_device_train_batch_size, recipe.gradient_accumulation_steps)
        assert batch == ((2, 6) if size == "38b" else (10, 8))
    tiny = load_recipe("tiny")
    assert tiny.is_tiny and tiny.lora.modules_to_save == ["multi_modal_projector"]
    assert len({load_recipe(n).sha256() for n in available_recipes()}) == 4


def test_recipe_from_a_path_and_its_validation_errors(tmp_path):
    good = tmp_path / "mine.yaml"
    good.write_text("name: mine\nbase_model: /models/internvl\nlora: {r: 8}\n")
    assert load_recipe(good).lora.r == 8
    cases = {
        "name: x\nbase_model: m\nlearning_rat: 0.1\n": r"learning_rat: unknown field",
        "name: x\nbase_model: m\nprecision: fp8\n": r"precision: .*'bf16', 'fp16' or 'fp32'.*got 'fp8'",
        "name: x\nbase_model: m\nlora: {r: 0}\n": r"lora\.r: Input should be greater than or equal to 1",
        "name: x\n": r"base_model: Field required",
        "name: x\nbase_model: OpenGVLab/InternVL3-8B\n": r"trust_remote_code; use the transformers-native OpenGVLab/InternVL3-8B-hf",
        "name: x\nbase_model: m\nlora: {modules_to_save: [lm_head]}\n": r"lora\.modules_to_save\.0: .*'vision_tower' or 'multi_modal_projector'",
        "- a list\n": r"must be a mapping of fields, got list",
        "name: [unclosed\n": r"not valid YAML",
    }
    for index, (text, message) in enumerate(cases.items()):
        path = tmp_path / f"bad{index}.yaml"
        path.write_text(text)
        with pytest.raises(RecipeError, match=message) as caught:
            load_recipe(path)
        assert str(path) in str(caught.value)
    with pytest.raises(RecipeError, match="unknown recipe 'facellm-2b'; accepted: facellm-1b, facellm-38b, facellm-8b, tiny"):
        load_recipe("facellm-2b")


def test_corpus_jsonl_keeps_accepted_records_only(tmp_path):
    items, corpus = make_square_set(tmp_path, n=6)
    examples = read_corpus(corpus)
    assert len(examples) == 6
    assert examples[0].image_paths == ("images/sq000.png",)
    assert examples[0].answer == "The square is red." and examples[0].task == "colour"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"image_path": "a.png", "question": "q", "answer": "a"}) + "\n"
                   + json.dumps({"image_path": "a.png", "question": "q", "answer": "a", "status": "maybe"}) + "\n")
    with pytest.raises(CorpusFormatError, match=r"bad.jsonl: line 2: status must be 'accepted' or 'rejected', got 'maybe'"):
        read_corpus(bad)
    bad.write_text(json.dumps({"image_path": "a.png", "question": "", "answer": "a"}) + "\n")
    with pytest.raises(CorpusFormatError, match=r"line 1: field 'question' must be a non-empty string"):
        read_corpus(bad)


def test_sharegpt_corpus(tmp_path):
    data = [
        {"conversations": [{"from": "human", "value": "<image>\nDescribe the face."},
                           {"from": "gpt", "value": "A calm face."}], "images": ["val/1.jpg"]},
        {"conversations": [{"from": "system", "value": "Be brief."},
                           {"from": "human", "value": "<image><image>Compare."}, {"from": "gpt", "value": "Same."},
                           {"from": "human", "value": "Why?"}, {"from": "gpt", "value": "Shape."}],
         "images": ["a.jpg", "b.jpg"]},
    ]
    path = tmp_path / "fairfacegpt.json"
    path.write_text(json.dumps(data))
    examples = read_corpus(path)
    assert [(e.question, e.answer, e.image_paths, e.conversation) for e in examples] == [
        ("Describe the face.", "A calm face.", ("val/1.jpg",), False),
        ("Why?", "Shape.", ("a.jpg", "b.jpg"), True),
    ]
    # A system prompt and several exchanges make one conversation, learned whole.
    assert examples[1].system == "Be brief."
    assert examples[1].exchanges == [("<image><image>Compare.", "Same."), ("Why?", "Shape.")]
    data[0]["images"] = []
    path.write_text(json.dumps(data))
    with pytest.raises(CorpusFormatError, match="conversation 0: 1 <image> tags but 0 images"):
        read_corpus(path)
    data[0]["images"], data[1]["images"] = ["val/1.jpg"], ["a.jpg"]
    path.write_text(json.dumps(data))
    with pytest.raises(CorpusFormatError, match="conversation 1: 2 <image> tags but 1 images"):
        read_corpus(path)
    other = tmp_path / "corpus.csv"
    other.write_text("image,question,answer\n")
    with pytest.raises(CorpusFormatError, match=r"corpus.csv: unknown corpus format; accepted: \.jsonl"):
        read_corpus(other)


def test_mcq_examples_answer_with_the_letter(tmp_path):
    items, _ = make_square_set(tmp_path, n=3)
    examples = mcq_examples(items, repeats=2)
    assert len(examples) == 6
    assert examples[0].answer == items[0].answer and examples[0].question == items[0].prompt()
    assert examples[3].source == "mcq" and examples[3].task == "colour"


def test_overrides_merge_and_are_validated():
    recipe = resolve_recipe("facellm-1b", overrides={"max_steps": 20, "lora": {"r": 8}}, base_model="/m/internvl")
    assert (recipe.max_steps, recipe.lora.r, recipe.lora.alpha, recipe.base_model) == (20, 8, 32, "/m/internvl")
    assert recipe.sha256() != load_recipe("facellm-1b").sha256()
    with pytest.raises(RecipeError, match=r"with overrides \['lora'\]:\n  lora\.dropout: .*less than 1"):
        resolve_recipe("tiny", overrides={"lora": {"dropout": 1.5}})
    config = TrainConfig(recipe="tiny", overrides={"max_steps": 3})
    assert resolve_recipe(config.recipe, overrides=config.overrides).max_steps == 3


def test_imported_conversations_train_as_conversations(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    conversation = {
        "key": "conversation:0123", "kind": "conversation", "image_id": "a", "image_ids": ["a", "b"],
        "aspect": "conversation", "system": "Be brief.", "image_paths": ["a.jpg", "b.jpg"],
        "messages": [{"role": "user", "content": "<image>Who?"}, {"role": "assistant", "content": "A man."},
                     {"role": "user", "content": "<image>And here?"}, {"role": "assistant", "content": "The same man."}],
        "status": "accepted",
    }
    corpus.write_text(json.dumps(conversation) + "\n")
    (example,) = read_corpus(corpus)
    assert example.conversation and example.system == "Be brief." and example.image_paths == ("a.jpg", "b.jpg")
    assert example.exchanges == [("<image>Who?", "A man."), ("<image>And here?", "The same man.")]
    corpus.write_text(json.dumps({**conversation, "messages": conversation["messages"][:3]}) + "\n")
    with pytest.raises(CorpusFormatError, match="line 1: 'messages' must alternate user and assistant"):
        read_corpus(corpus)
