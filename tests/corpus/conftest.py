"""Fixtures of the corpus tests (defined in corpus_server.py, which the tests also import)."""

from corpus_server import face_set, protocol_server  # noqa: F401
