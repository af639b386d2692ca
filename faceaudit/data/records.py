"""The records every stage passes around: a labelled face and a multiple-choice item."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

OPTION_LETTERS = ("A", "B", "C", "D")


class FaceRecord(BaseModel):
    """One labelled face image.

    ``image_path`` is relative to the dataset root (POSIX separators) so that a
    dataset moved to another machine keeps its records valid.
    ``attributes`` maps an attribute name (``race``, ``gender``, ``age``,
    ``skin_tone``, ``expression`` ...) to its label string.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    image_path: str = Field(min_length=1)
    attributes: dict[str, str] = Field(default_factory=dict)
    split: str | None = None


class McqItem(BaseModel):
    """A FaceXBench-style multiple-choice question about one or more face images.

    ``groups`` holds the sensitive attributes of the (first) image: the strata
    every result on this item is reported under. ``task`` names what is asked
    (``gender``, ``age``, ``race`` ...); ``category`` is FaceXBench's grouping
    (``bias_fairness`` for the demographic tasks).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    item_id: str = Field(min_length=1)
    image_ids: list[str] = Field(min_length=1)
    image_paths: list[str] = Field(min_length=1)
    task: str
    category: str = "bias_fairness"
    question: str
    options: list[str] = Field(min_length=2, max_length=len(OPTION_LETTERS))
    answer: str
    groups: dict[str, str] = Field(default_factory=dict)
    prepend_text: str = ""
    postpend_text: str = (
        "Please answer the question and provide only the correct option letter, e.g., A, B, C, D."
    )

    @field_validator("answer")
    @classmethod
    def _answer_is_a_letter(cls, value: str) -> str:
        if value not in OPTION_LETTERS:
            raise ValueError(f"answer must be one of {', '.join(OPTION_LETTERS)}, got {value!r}")
        return value

    @property
    def answer_index(self) -> int:
        return OPTION_LETTERS.index(self.answer)

    @property
    def answer_text(self) -> str:
        return self.options[self.answer_index]

    def prompt(self) -> str:
        """The benchmark-harness prompt: task text, question, lettered options, instruction."""
        lines = [self.prepend_text] if self.prepend_text else []
        lines.append(self.question)
        lines.extend(f"({OPTION_LETTERS[i]}) {opt}" for i, opt in enumerate(self.options))
        lines.append(self.postpend_text)
        return "\n".join(lines)
