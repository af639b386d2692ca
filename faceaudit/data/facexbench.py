"""FaceXBench benchmark files (REFERENCE.md section 4) read into multiple-choice items.

A benchmark file has top-level ``category``, ``sub-category``, ``dataset``,
``question_type`` (``MCQ``), ``num_images``, ``prepend_text``, ``postpend_text``
and ``questions``: an object keyed ``"1"``, ``"2"`` ... whose values hold
``image_paths`` (relative to the FaceXBench root: the folder holding
``benchmark/`` and ``images/``), ``question_text``,
``options`` (four strings), ``correct_answer_option`` (a letter) and
``answer`` (that option's text).

A question that does not hold together (the letter names an option whose text
is not ``answer``, options missing, an image path leaving the benchmark folder)
is skipped and reported on :attr:`McqItemList.issues`; we never guess which of
two disagreeing fields is right.

``groups``: in a single-image ``bias_fairness`` question the answer *is* the
image's demographic label (the race question's answer is the person's race), so
the item's ``groups`` holds ``{sub-category: answer}``. Other questions carry no
group labels.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path, PurePosixPath

from faceaudit.data.dataset import DataIssue, DatasetError, resolve_in_root, summarize_issues
from faceaudit.data.records import OPTION_LETTERS, McqItem
from faceaudit.schema.run import DataIssueSummary, DatasetSection
from faceaudit.store import sha256_file


class McqItemList(list[McqItem]):
    """The items read, what was skipped and why (``issues``), and where they came from.

    ``root`` is the folder the items' ``image_paths`` are relative to.
    """

    def __init__(
        self,
        items=(),
        *,
        root: Path,
        issues: list[DataIssue] | None = None,
        files: list[str] | None = None,
    ) -> None:
        super().__init__(items)
        self.root = root
        self.issues: list[DataIssue] = list(issues or [])
        self.files: list[str] = list(files or [])


def benchmark_files(path: Path) -> list[Path]:
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
    """Read one benchmark JSON file or every one in a folder (or its ``benchmark/`` subfolder).

    ``check_images`` also requires every referenced image to exist (FaceXBench's
    images are downloaded separately from its JSON files).
    """
    path = Path(path)
    files = benchmark_files(path)
    # FaceXBench keeps its JSON files in benchmark/ and its images in images/ beside
    # that folder, with image_paths like "images/<file stem>/question_1.png"; so the
    # root is the folder the user named (or the JSON file's own folder).
    root = path if path.is_dir() else path.parent
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
        data = json.loads(file.read_text(encoding="utf-8"))
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
    header = {
        "category": category,
        "task": task,
        "prepend_text": str(data.get("prepend_text") or ""),
        "postpend_text": data.get("postpend_text"),
    }
    for key, question in questions.items():
        item = _item(file, str(key), question, header, out, root=root, check_images=check_images)
        if item is not None:
            out.append(item)


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
    options = question.get("options")
    if (
        not isinstance(options, list)
        or not 2 <= len(options) <= len(OPTION_LETTERS)
        or not all(isinstance(o, str) and o.strip() for o in options)
    ):
        skip(
            "bad_question",
            "options",
            f"options must be 2 to {len(OPTION_LETTERS)} non-empty strings",
        )
        return None
    if len({o.strip() for o in options}) != len(options):
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
    answer = question.get("answer")
    chosen = options[valid.index(letter)]
    if isinstance(answer, str) and answer.strip() != chosen.strip():
        matching = [valid[i] for i, o in enumerate(options) if o.strip() == answer.strip()]
        skip(
            "answer_mismatch",
            "correct_answer_option",
            f"correct_answer_option {letter} is {chosen!r} but answer is {answer!r}",
            suggestion=matching[0] if matching else None,
        )
        return None
    image_ids = [str(PurePosixPath(p).with_suffix("")) for p in relative_paths]
    groups = {}
    if header["category"] == "bias_fairness" and len(relative_paths) == 1:
        groups = {header["task"]: chosen.strip()}
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
        options=[o.strip() for o in options],
        answer=letter,
        groups=groups,
        prepend_text=header["prepend_text"],
        **extra,
    )


def facexbench_dataset_section(path: str | Path, items: McqItemList) -> DatasetSection:
    """The ``dataset`` section for a FaceXBench run: what was asked, of which groups.

    The fingerprint covers the benchmark JSON files and the bytes of every image
    the items reference that exists locally (FaceXBench's images are downloaded
    separately; a missing one is counted as an issue).
    """
    digest = hashlib.sha256()
    manifest = hashlib.sha256()
    for file in sorted(items.files):
        data = Path(file).read_bytes()
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
