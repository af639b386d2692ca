"""FaceXBench benchmark files (docs/reference.md §4) read into multiple-choice items.

The repository as cloned (``Kartik-3004/facexbench``) holds ``benchmark/<stem>.json``
and the images beside them in ``benchmark/images/<stem>/question_N[_k].png``; the
``image_paths`` of a question are relative to ``benchmark/``. :func:`load_facexbench`
takes the clone's root, its ``benchmark/`` folder or one JSON file.

A benchmark file has top-level ``category``, ``sub-category``, ``dataset``,
``question_type`` (``MCQ``), ``num_images`` (``single``, ``multiple`` or ``zero``),
``prepend_text``, ``postpend_text``, for tools questions a ``context`` (the API
documentation the questions are about) and ``questions``: an object keyed ``"1"``,
``"2"`` ... whose values hold ``image_paths``, ``question_text``, ``options`` (strings,
or numbers as in the crowd-counting files), ``correct_answer_option`` (a letter) and
``answer`` (that option's text or number).

A question that does not hold together (the letter names an option whose text
is not ``answer``, options missing, an image path leaving the benchmark folder)
is skipped and reported on :attr:`McqItemList.issues`; we never guess which of
two disagreeing fields is right. Every question read, loaded or skipped, is listed
in :attr:`McqItemList.questions`: FaceXBench's own scoring divides by all of them.

``groups``: in a single-image ``bias_fairness`` question the answer *is* the
image's demographic label (the race question's answer is the person's race), so
the item's ``groups`` holds ``{"<dataset>_<sub-category>": answer}``, e.g.
``{"fairface_race": "White"}``: FairFace and UTKFace label age and race with
different vocabularies, so their groups are never pooled. Other questions carry
no group labels.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from faceaudit.data.dataset import DataIssue, DatasetError, resolve_in_root, summarize_issues
from faceaudit.data.records import OPTION_LETTERS, McqItem
from faceaudit.schema.run import DataIssueSummary, DatasetSection
from faceaudit.store import read_regular_bytes, read_regular_text, sha256_file


@dataclasses.dataclass(frozen=True)
class BenchmarkQuestion:
    """One question of a benchmark file as FaceXBench's scoring counts it, loaded or not.

    ``category``, ``sub_category`` and ``num_images`` are the file's values as written
    (``unknown`` where the file has none), the keys of FaceXBench's breakdowns.
    """

    item_id: str
    category: str
    sub_category: str
    num_images: str
    loaded: bool


class McqItemList(list[McqItem]):
    """The items read, what was skipped and why (``issues``), and where they came from.

    ``root`` is the folder the items' ``image_paths`` are relative to (the folder of the
    benchmark JSON files). ``questions`` lists every question of the files read,
    including the skipped ones.
    """

    def __init__(
        self,
        items: Iterable[McqItem] = (),
        *,
        root: Path,
        issues: list[DataIssue] | None = None,
        files: list[str] | None = None,
        questions: list[BenchmarkQuestion] | None = None,
    ) -> None:
        super().__init__(items)
        self.root = root
        self.issues: list[DataIssue] = list(issues or [])
        self.files: list[str] = list(files or [])
        self.questions: list[BenchmarkQuestion] = list(questions or [])

    def head(self, n: int) -> McqItemList:
        """The first ``n`` questions (loaded or not, in file order) and the items among them."""
        if n < 1:
            raise DatasetError(f"limit must be at least 1, got {n}")
        questions = self.questions[:n]
        kept = {q.item_id for q in questions}
        return McqItemList(
            (item for item in self if item.item_id in kept),
            root=self.root,
            issues=self.issues,
            files=self.files,
            questions=questions,
        )


def benchmark_files(path: Path) -> list[Path]:
    """The benchmark JSON files at ``path``: a file, a folder of them, or a clone's root."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DatasetError(f"FaceXBench path {path} does not exist")
    for folder in (path, path / "benchmark"):
        files = sorted(folder.glob("*.json"))
        if files:
            return files
    raise DatasetError(
        f"{path}: no FaceXBench benchmark JSON files (*.json) in it or in {path / 'benchmark'}"
    )


def load_facexbench(path: str | Path, *, check_images: bool = False) -> McqItemList:
    """Read one benchmark JSON file, a folder of them, or a FaceXBench clone's root.

    ``check_images`` also requires every referenced image to exist.
    """
    path = Path(path)
    files = benchmark_files(path)
    # The clone keeps benchmark/<stem>.json with its images in benchmark/images/<stem>/,
    # and image_paths ("images/<stem>/question_1.png") are relative to benchmark/: the
    # folder the JSON files are in, whichever folder the user named.
    root = files[0].parent
    result = McqItemList(root=root, files=[str(f) for f in files])
    for file in files:
        _read_file(file, result, root=root, check_images=check_images)
    if not result:
        shown = "; ".join(i.format() for i in result.issues[:5])
        raise DatasetError(
            f"{path}: no usable FaceXBench questions" + (f" ({shown})" if shown else "")
        )
    return result


def _read_file(file: Path, out: McqItemList, *, root: Path, check_images: bool) -> None:
    def skip_file(message: str) -> None:
        out.issues.append(
            DataIssue(kind="bad_file", file=str(file), message=message + "; the file was skipped")
        )

    try:
        data = json.loads(read_regular_text(file))
    except UnicodeDecodeError as exc:
        skip_file(f"not UTF-8 text ({exc.reason})")
        return
    except json.JSONDecodeError as exc:
        skip_file(f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})")
        return
    if not isinstance(data, dict):
        skip_file("expected a JSON object with 'category', 'sub-category' and 'questions'")
        return
    questions = data.get("questions")
    if not isinstance(questions, dict):
        found = type(questions).__name__ if questions is not None else "nothing"
        skip_file(f'\'questions\' must be an object keyed "1", "2", ... (found {found})')
        return
    question_type = data.get("question_type", "MCQ")
    if question_type != "MCQ":
        skip_file(f"question_type {question_type!r} is not 'MCQ'")
        return
    category = str(data.get("category") or "facexbench")
    task = str(data.get("sub-category") or data.get("sub_category") or category)
    dataset = data.get("dataset")
    num_images = data.get("num_images")
    header = {
        "category": category,
        "task": task,
        "dataset": str(dataset) if dataset else None,
        "num_images": str(num_images) if num_images else None,
        "context": str(data.get("context") or ""),
        "prepend_text": str(data.get("prepend_text") or ""),
        "postpend_text": data.get("postpend_text"),
    }
    for key, question in questions.items():
        item = _item(file, str(key), question, header, out, root=root, check_images=check_images)
        if item is not None:
            out.append(item)
        out.questions.append(
            BenchmarkQuestion(
                item_id=f"{file.stem}:{key}",
                category=str(data.get("category", "unknown")),
                sub_category=str(data.get("sub-category", "unknown")),
                num_images=str(data.get("num_images", "unknown")),
                loaded=item is not None,
            )
        )


def _item(
    file: Path,
    key: str,
    question: object,
    header: dict,
    out: McqItemList,
    *,
    root: Path,
    check_images: bool,
) -> McqItem | None:
    def skip(kind: str, field: str | None, message: str, suggestion: str | None = None) -> None:
        out.issues.append(
            DataIssue(
                kind=kind,
                file=str(file),
                field=field,
                suggestion=suggestion,
                message=f"question {key!r}: {message}; skipped",
            )
        )

    if not isinstance(question, dict):
        skip("bad_question", None, "expected an object")
        return None
    paths = question.get("image_paths")
    if (
        not isinstance(paths, list)
        or not paths
        or not all(isinstance(p, str) and p.strip() for p in paths)
    ):
        skip(
            "bad_question", "image_paths", "image_paths must be a non-empty list of relative paths"
        )
        return None
    relative_paths = []
    for raw in paths:
        relative, problem = resolve_in_root(root, raw)
        if relative is None:
            skip("path_outside_root", "image_paths", f"image {raw!r} is {problem}")
            return None
        if check_images and not (root / relative).is_file():
            skip(
                "missing_file",
                "image_paths",
                f"image {relative!r} does not exist under {root}",
            )
            return None
        relative_paths.append(relative)
    text = question.get("question_text")
    if not isinstance(text, str) or not text.strip():
        skip("bad_question", "question_text", "question_text is missing or empty")
        return None
    raw_options = question.get("options")
    options = _option_texts(raw_options)
    if options is None or not 2 <= len(options) <= len(OPTION_LETTERS):
        skip(
            "bad_question",
            "options",
            f"options must be 2 to {len(OPTION_LETTERS)} non-empty strings or numbers, "
            f"got {raw_options!r}",
        )
        return None
    if len(set(options)) != len(options):
        skip(
            "bad_question",
            "options",
            f"options repeat a text ({options}), so the answer is ambiguous",
        )
        return None
    letter = str(question.get("correct_answer_option") or "").strip().upper()
    valid = OPTION_LETTERS[: len(options)]
    if letter not in valid:
        skip(
            "bad_answer",
            "correct_answer_option",
            f"correct_answer_option {question.get('correct_answer_option')!r} is not one of {', '.join(valid)}",
        )
        return None
    answer = _option_texts([question.get("answer")])
    chosen = options[valid.index(letter)]
    if answer is not None and answer[0] != chosen:
        matching = [valid[i] for i, o in enumerate(options) if o == answer[0]]
        skip(
            "answer_mismatch",
            "correct_answer_option",
            f"correct_answer_option {letter} is {chosen!r} but answer is {question.get('answer')!r}",
            suggestion=matching[0] if matching else None,
        )
        return None
    image_ids = [str(PurePosixPath(p).with_suffix("")) for p in relative_paths]
    groups = {}
    if header["category"] == "bias_fairness" and len(relative_paths) == 1:
        groups = {group_attribute(header["dataset"], header["task"]): chosen}
    extra = (
        {"postpend_text": header["postpend_text"]}
        if isinstance(header["postpend_text"], str)
        else {}
    )
    return McqItem(
        item_id=f"{file.stem}:{key}",
        image_ids=image_ids,
        image_paths=relative_paths,
        task=header["task"],
        category=header["category"],
        question=text.strip(),
        options=options,
        answer=letter,
        groups=groups,
        prepend_text=header["prepend_text"],
        context=header["context"],
        dataset=header["dataset"],
        num_images=header["num_images"],
        **extra,
    )


def group_attribute(dataset: str | None, task: str) -> str:
    """The group column a ``bias_fairness`` question's answer labels: ``fairface_race``."""
    return f"{dataset}_{task}" if dataset else task


def _option_texts(values: object) -> list[str] | None:
    """Options (or an answer) as the stripped text the model is shown; None if unusable.

    FaceXBench writes counting options as JSON numbers (``[8, 4, 6, 5]``); they are shown
    as Python prints them, as FaceXBench's ``evaluate.py`` does.
    """
    if not isinstance(values, list):
        return None
    texts = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            return None
        text = str(value).strip()
        if not text:
            return None
        texts.append(text)
    return texts


def facexbench_dataset_section(path: str | Path, items: McqItemList) -> DatasetSection:
    """The ``dataset`` section for a FaceXBench run: what was asked, of which groups.

    The fingerprint covers the benchmark JSON files and the bytes of every image
    the items reference that exists locally (a missing one is counted as an issue).
    """
    digest = hashlib.sha256()
    manifest = hashlib.sha256()
    for file in sorted(items.files):
        data = read_regular_bytes(file)
        manifest.update(Path(file).name.encode("utf-8") + b"\0" + data)
    digest.update(manifest.hexdigest().encode("ascii"))
    missing = 0
    for relative in sorted({p for item in items for p in item.image_paths}):
        image = items.root / relative
        if image.is_file():
            digest.update(relative.encode("utf-8") + b"\0" + sha256_file(image).encode("ascii"))
        else:
            missing += 1
    issues = summarize_issues(items.issues)
    if missing:
        issues.append(
            DataIssueSummary(
                kind="missing_file",
                count=missing,
                examples=[f"{missing} referenced image(s) are not under {items.root}"],
            )
        )
    counts: dict[str, dict[str, int]] = {
        "task": dict(Counter(item.task for item in items)),
        "category": dict(Counter(item.category for item in items)),
        "dataset": dict(Counter(item.dataset or "unknown" for item in items)),
        "num_images": dict(Counter(item.num_images or "unknown" for item in items)),
    }
    sensitive = sorted({attr for item in items for attr in item.groups})
    for attr in sensitive:
        counts[attr] = dict(Counter(item.groups[attr] for item in items if attr in item.groups))
    return DatasetSection(
        name=Path(path).name,
        kind="facexbench",
        root=str(items.root),
        fingerprint=digest.hexdigest(),
        manifest_sha256=manifest.hexdigest(),
        n_records=len(items),
        sensitive_attributes=sensitive,
        task_attributes=sorted(counts["task"]),
        counts=counts,
        issues=issues,
    )
