"""The records every stage passes around: a labelled face and a multiple-choice item."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

OPTION_LETTERS = ("A", "B", "C", "D")
DEFAULT_POSTPEND_TEXT = (
    "Please answer the question and provide only the correct option letter, e.g., A, B, C, D."
)


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

    FaceXBench items also carry their file's ``dataset`` (``fairface``, ``utkface`` ...),
    ``num_images`` (``single``, ``multiple``, ``zero``) and ``context`` (the API
    documentation tools questions depend on). ``prompt_style`` chooses the prompt layout:
    ``faceaudit`` (task description, question, options, instruction) or ``facexbench``,
    the layout of FaceXBench's own ``evaluate.py`` (see :meth:`prompt`).
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
    postpend_text: str = DEFAULT_POSTPEND_TEXT
    context: str = ""
    dataset: str | None = None
    num_images: str | None = None
    prompt_style: Literal["faceaudit", "facexbench"] = "faceaudit"

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
        """The text the model is asked, in the layout ``prompt_style`` names.

        ``faceaudit``: context, task description, question, lettered options, instruction.
        ``facexbench``: what FaceXBench's ``evaluate.py`` sends by default (zero-shot, no
        task description): context, question, instruction, then the lettered options, every
        line ending in a newline.
        """
        options = [f"({OPTION_LETTERS[i]}) {opt}" for i, opt in enumerate(self.options)]
        context = [self.context] if self.context else []
        if self.prompt_style == "facexbench":
            postpend = [self.postpend_text] if self.postpend_text else []
            return "".join(line + "\n" for line in [*context, self.question, *postpend, *options])
        lines = [*context, self.prepend_text] if self.prepend_text else context
        return "\n".join([*lines, self.question, *options, self.postpend_text])
