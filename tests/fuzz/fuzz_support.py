"""Shared by the fuzz tests: hypothesis settings, hostile text, and how many cases each ran."""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Derandomised: CI runs the same cases every time (no flaky failures from a new random draw);
# a failure found is reproduced by rerunning the test.
settings.register_profile(
    "faceaudit-fuzz",
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

#: property name -> examples run in this session (printed at the end, asserted per test).
CASES: Counter[str] = Counter()

HOSTILE_PIECES = [
    '"', '""', ",", "\n", "\r", "\r\n", "\x00", "\t", "\u2028", "\u2029", "\x85", "\x1b[31m", "\u202e",
    "$\\nope$", "<img src=x>", "NaN", "nan", "#N/A", "", " ", "../", "/etc/passwd", "{", "}", "[", "]",
    ":", "- ", "*", "&", "|", "`", "\ufeff", "🙂", "é", "\\", "'", "null", "1e999", "-0", "\ud800",
]

#: Text a user's file can hold, biased towards what breaks parsers.
hostile_text = st.lists(
    st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(max_size=6)), max_size=5
).map("".join)


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """``seed`` with a few bytes inserted, deleted or overwritten, or cut short."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(0, 4))):
        where = draw(st.integers(0, len(data)))
        piece = draw(st.one_of(
            st.sampled_from(HOSTILE_PIECES).map(lambda t: t.encode("utf-8", "surrogatepass")),
            st.binary(max_size=4),
        ))
        cut = draw(st.integers(0, 3))
        data[where:where + cut] = piece
    if draw(st.booleans()) and data:
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)
