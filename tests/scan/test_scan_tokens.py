"""The vectorised tokeniser counts exactly what CountVectorizer counts with the same pattern."""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer

from faceaudit.scan.tokens import TOKEN_PATTERN, tokenize

TEXTS = [
    "The man's face — lit from the LEFT — shows a 30-40 year-old; it’s fine.",
    "",
    "Café crème, naïve résumé: ÉCOLE école.",
    "hostile\x00text with a NUL <script>alert(1)</script> and under_score",
    "a",
    "   ",
    "Numbers 224 x 224, 3.5 and e-mail me@example.com!",
] * 3


def test_counts_match_countvectorizer_across_chunks():
    tokens = tokenize(TEXTS, chunk=4)
    vectorizer = CountVectorizer(token_pattern=TOKEN_PATTERN, lowercase=True)
    expected = vectorizer.fit_transform(TEXTS).toarray()
    ours = np.zeros((len(TEXTS), len(tokens.vocab)), dtype=int)
    np.add.at(ours, (tokens.doc, tokens.codes), 1)
    columns = [tokens.index[w] for w in vectorizer.get_feature_names_out()]
    assert sorted(tokens.vocab) == sorted(vectorizer.get_feature_names_out())
    assert (ours[:, columns] == expected).all()
    assert tokens.n_docs == len(TEXTS) and list(tokens.lengths[:2]) == [expected[0].sum(), 0]


def test_bigrams_do_not_cross_answers():
    tokens = tokenize(["the east", "asian man", "an east asian face"])
    hits = tokens.bigram_hits([("east", "asian")])
    assert list(tokens.doc[hits]) == [2]


def test_chunked_passes_do_not_depend_on_the_chunk_size(monkeypatch):
    from scan_support import random_corpus

    from faceaudit.scan import association
    from faceaudit.scan.association import image_word_counts
    from faceaudit.scan.hygiene import _minhash, sequence_hashes
    from faceaudit.scan.tokens import Tokens

    c = random_corpus(3, images_per_group=20)
    c.image[::7] = c.image[::-7].copy()  # answers of one image no longer next to each other
    whole = image_word_counts(c)
    hashes, (docs, signature) = sequence_hashes(c.tokens), _minhash(c.tokens, 0)
    small = Tokens.doc_ranges
    monkeypatch.setattr(Tokens, "doc_ranges", lambda self, max_tokens=0: small(self, 50))
    monkeypatch.setattr(association, "_SCRATCH", 200)  # a few images per chunk
    assert all((a == b).all() for a, b in zip(whole, image_word_counts(c), strict=True))
    assert (sequence_hashes(c.tokens) == hashes).all()
    chunked_docs, chunked_signature = _minhash(c.tokens, 0)
    assert (chunked_docs == docs).all() and (chunked_signature == signature).all()


def test_corpus_file_read_in_chunks_keeps_accepted_pairs_and_names_a_bad_line(tmp_path, monkeypatch):
    import json

    import pytest

    from faceaudit.scan import table

    lines = [json.dumps({"key": f"i{k}:a", "image_id": f"i{k}", "aspect": "a", "question": "Q?",
                         "answer": f"Answer {k}.", "status": "accepted"}) for k in range(50)]
    lines[10] = json.dumps({"image_id": "r", "aspect": "a", "answer": "no", "status": "rejected"})
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    monkeypatch.setattr(table, "_LINES_PER_CHUNK", 7)
    columns = table.read_pair_columns(path)
    assert len(columns.answers) == 49 and columns.n_rejected == 1 and columns.keys[10] == "i11:a"
    path.write_text("\n".join(lines[:20] + ["{not json"] + lines[20:]), encoding="utf-8")
    with pytest.raises(ValueError, match=r"corpus.jsonl: line 21: invalid JSON"):
        table.read_pair_columns(path)
    path.write_text(json.dumps({"image_id": "i", "aspect": "a", "answer": 3}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 1: field 'answer' must be a string"):
        table.read_pair_columns(path)


def test_an_imported_conversation_is_scanned_turn_by_turn(tmp_path):
    import json

    from faceaudit.scan import table

    record = {"key": "conversation:ab12", "kind": "conversation", "image_id": "val/3", "aspect": "conversation",
              "status": "accepted", "system": "be brief",
              "messages": [{"role": "user", "content": "<image>Who?"}, {"role": "assistant", "content": "A man."},
                           {"role": "user", "content": "Mood?"}, {"role": "assistant", "content": "Calm."}]}
    pair = {"key": "val/1:face_pose", "image_id": "val/1", "aspect": "face_pose", "answer": "Frontal."}
    path = tmp_path / "corpus.jsonl"
    path.write_text(json.dumps(pair) + "\n" + json.dumps(record) + "\n", encoding="utf-8")
    columns = table.read_pair_columns(path)
    assert columns.answers == ["Frontal.", "A man.", "Calm."]
    assert columns.keys[1:] == ["conversation:ab12#1", "conversation:ab12#3"] and columns.questions[2] == "Mood?"
