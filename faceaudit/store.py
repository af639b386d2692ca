"""Run directories, content hashes, atomic writes and resumable JSONL.

Everything a run writes goes through here so that a crash never leaves a
half-written artefact behind: whole files are written to a temporary file in
the same directory and renamed over the target (atomic on POSIX), and long
stages append one JSON object per line and skip what is already there when
they are restarted.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from faceaudit.errors import InputError, StageError

_CHUNK = 1 << 20
# "No space left on device" and "disk quota exceeded": the same remedy for the user.
_log = logging.getLogger("faceaudit.store")
_DISK_FULL = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open_regular(path) as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_json(value: Any) -> str:
    """Hash of a JSON-serialisable value, independent of key order and whitespace."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return sha256_bytes(canonical.encode("utf-8"))


def sha256_tree(root: str | os.PathLike[str], pattern: str = "**/*") -> str:
    """Hash of every file under ``root``: relative path and bytes, in sorted order."""
    root = Path(root)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.glob(pattern) if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0")
        digest.update(sha256_file(path).encode("ascii"))
    return digest.hexdigest()


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Force a directory's entries (a rename into it, a new file) to disk.

    ``os.replace`` is atomic but lives in the directory's metadata: after a power loss
    without this, the old name (or nothing) may be what the disk holds. A no-op where
    directories cannot be opened (Windows).
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on a directory; nothing more can be done
        pass
    finally:
        os.close(fd)


def _special_kind(mode: int) -> str:
    return (
        "a directory" if stat.S_ISDIR(mode)
        else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
        else "a socket" if stat.S_ISSOCK(mode)
        else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "not a regular file"
    )


def open_regular(
    path: str | os.PathLike[str], mode: str = "rb", *, encoding: str | None = None, newline: str | None = None
) -> IO[Any]:
    """``open(path, mode)`` for reading a file a user named; ``InputError`` for a FIFO, socket,
    device or directory.

    Every user-supplied input file (label CSVs, manifests, configs, policies, sign-off and card
    YAML, FaceXBench JSON, corpora, predictions, images) is opened through here. The file is
    opened non-blocking and checked with ``fstat`` on the open descriptor, so a FIFO neither
    hangs the reader (a blocking open waits for a writer forever) nor is swapped in between
    the check and the read, and ``/dev/zero`` is never read until memory runs out.
    """
    if set(mode) - set("rbt"):
        raise ValueError(f"open_regular reads only; mode {mode!r} writes")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        file_mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(file_mode):
            raise InputError(
                f"{path} is {_special_kind(file_mode)}, not a regular file; faceaudit reads only regular files"
            )
        os.set_blocking(fd, True)
        return os.fdopen(fd, mode, encoding=encoding, newline=newline)
    except BaseException:
        os.close(fd)
        raise


def read_regular_bytes(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a regular file (see :func:`open_regular`)."""
    with open_regular(path) as handle:
        return handle.read()


def read_regular_text(path: str | os.PathLike[str], encoding: str = "utf-8") -> str:
    """``Path.read_text`` of a regular file (universal newlines; see :func:`open_regular`)."""
    with open_regular(path, "r", encoding=encoding) as handle:
        return handle.read()


@contextmanager
def atomic_directory(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Build a directory in a staging folder and swap it in whole when the block succeeds.

    Readers see the old directory or the new one, never a half-written one: a crash while
    saving leaves the staging folder (``.NAME.partial``, removed by the next save), never a
    ``target`` missing a file. Every file is fsynced before the rename and the parent after.
    The staging name is fixed, not random, so that every process of a multi-GPU job saving
    collectively writes into the same folder.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.partial")
    retired = target.with_name(f".{target.name}.old")
    if retired.exists() and not target.exists():
        os.replace(retired, target)  # a crash fell between the two renames: the old one is whole
    for leftover in (staging, retired):
        if leftover.exists():
            shutil.rmtree(leftover)
    staging.mkdir()
    try:
        yield staging
        for path in sorted(staging.rglob("*"), reverse=True):
            if path.is_file() and not path.is_symlink():
                with open(path, "rb") as handle:
                    os.fsync(handle.fileno())
            elif path.is_dir():
                fsync_dir(path)
        fsync_dir(staging)
        if target.exists():
            os.replace(target, retired)
        os.replace(staging, target)
        fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if retired.exists() and not target.exists():
            os.replace(retired, target)  # the old directory comes back rather than none
        raise
    shutil.rmtree(retired, ignore_errors=True)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_TEMP_TAG}", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600 files; a report or audit.json must get the permissions any
        # other file the user creates would get (0666 minus the umask).
        os.fchmod(fd, 0o666 & ~_current_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(error, OSError) and error.errno in _DISK_FULL:
            raise StageError(
                f"{path}: the disk is full ({error.strerror}); nothing was written and the "
                f"previous {path.name}, if any, is unchanged. Free space and rerun"
            ) from error
        raise
    return path


#: The temporary file :func:`atomic_write_bytes` writes beside its target is
#: ``.<name>.faceaudit-<mkstemp's 8 characters>.tmp``: a name no user file is likely to have.
_TEMP_TAG = "faceaudit-"
_TEMP_NAME = re.compile(r"^\..+\.faceaudit-[a-z0-9_]{8}\.tmp$")
#: A temporary file younger than this may belong to a write in progress in another command
#: (one that writes into a run directory without its lock, e.g. ``gate --markdown``).
TEMP_MIN_AGE_S = 600.0


def sweep_temp_files(root: str | os.PathLike[str], *, min_age_s: float = TEMP_MIN_AGE_S) -> list[Path]:
    """Delete the temporary files of atomic writes that a killed process left in ``root`` and
    its stage folders (one level down), once they are ``min_age_s`` old.

    Only the names :func:`atomic_write_bytes` creates are touched, only regular files, never
    through a symbolic link; a file that cannot be deleted is left alone. Returns what was
    deleted.
    """
    import time

    root = Path(root)
    cutoff = time.time() - min_age_s
    removed = []
    for pattern in (".*.tmp", "*/.*.tmp"):
        for path in sorted(root.glob(pattern)):
            try:
                if not _TEMP_NAME.match(path.name) or path.parent.is_symlink():
                    continue
                info = path.lstat()
                if stat.S_ISREG(info.st_mode) and info.st_mtime < cutoff:
                    path.unlink()
                    removed.append(path)
            except OSError:
                continue
    return removed


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], value: Any, *, indent: int = 2) -> Path:
    # allow_nan keeps NaN as NaN (docs/design.md: "NaN stays NaN in JSON").
    text = json.dumps(value, indent=indent, ensure_ascii=False, allow_nan=True, sort_keys=False)
    return atomic_write_text(path, text + "\n")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class JsonlWriter:
    """Append-only JSONL file that resumes after a crash without loss or duplicates.

    Each record carries a unique key (``key_field``). On opening, complete lines
    already on disk are read back; a final line cut short by a crash (no
    newline, or not valid JSON) is truncated away, so the record it held is
    simply produced again. ``append`` ignores a record whose key is already
    present, which makes a rerun of the same work idempotent.

    Durability: each line is written with a single ``write`` call and flushed;
    ``fsync_every`` controls how often the file is forced to disk (1 = every
    record, the default; 0 = only on close).
    """

    def __init__(
        self, path: str | os.PathLike[str], key_field: str = "key", *, fsync_every: int = 1
    ) -> None:
        self.path = Path(path)
        self.key_field = key_field
        self.fsync_every = fsync_every
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._records: dict[str, dict[str, Any]] = {}
        self.recovered_bytes = self._recover()
        self._handle = open(self.path, "ab")  # noqa: SIM115 - closed in close()
        self._since_sync = 0

    def _recover(self) -> int:
        """Load complete records; truncate a torn tail. Returns the bytes dropped."""
        if not self.path.exists():
            return 0
        data = self.path.read_bytes()
        good_end = 0
        position = 0
        while position < len(data):
            newline = data.find(b"\n", position)
            if newline < 0:
                break
            line = data[position:newline]
            position = newline + 1
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    # Only the last line can be torn by a crash; anything else is
                    # corruption we must not paper over.
                    if position < len(data):
                        line_number = data[:position].count(b"\n")
                        raise ValueError(
                            f"{self.path}: line {line_number} is not valid JSON "
                            "and is not the last line; refusing to resume over a corrupted file"
                        ) from None
                    break
                key = self._key_of(record)
                self._records.setdefault(key, record)
            good_end = position
        dropped = len(data) - good_end
        if dropped:
            with open(self.path, "r+b") as handle:
                handle.truncate(good_end)
        return dropped

    def _key_of(self, record: dict[str, Any]) -> str:
        try:
            return str(record[self.key_field])
        except (KeyError, TypeError):
            raise ValueError(f"{self.path}: record without key field {self.key_field!r}") from None

    def __contains__(self, key: object) -> bool:
        return str(key) in self._records

    def __len__(self) -> int:
        return len(self._records)

    @property
    def keys(self) -> set[str]:
        return set(self._records)

    def records(self) -> list[dict[str, Any]]:
        return list(self._records.values())

    def get(self, key: str) -> dict[str, Any]:
        return self._records[str(key)]

    def append(self, record: dict[str, Any]) -> bool:
        """Write ``record`` unless its key is already present. Returns True if written."""
        key = self._key_of(record)
        if key in self._records:
            return False
        line = json.dumps(record, ensure_ascii=False, allow_nan=True, separators=(",", ":"))
        try:
            self._handle.write(line.encode("utf-8") + b"\n")
            self._handle.flush()
        except OSError as error:
            if error.errno in _DISK_FULL:
                raise StageError(
                    f"{self.path}: the disk is full ({error.strerror}) after {len(self._records)} "
                    "complete record(s); a cut last line is dropped when the run resumes. Free space "
                    "and rerun with the same --run-id"
                ) from error
            raise
        self._since_sync += 1
        if self.fsync_every and self._since_sync >= self.fsync_every:
            os.fsync(self._handle.fileno())
            self._since_sync = 0
        self._records[key] = record
        return True

    def extend(self, records: Iterable[dict[str, Any]]) -> int:
        return sum(self.append(record) for record in records)

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Read a JSONL file, naming the file and line of any invalid record."""
    with open_regular(path) as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise InputError(f"{path}: line {number}: not UTF-8 text ({error.reason})") from None
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as error:
                raise InputError(f"{path}: line {number}: invalid JSON ({error.msg})") from None


_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_run_id(run_id: str) -> str:
    """``run_id`` if it names one directory inside the output directory; else an InputError."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id) or run_id in {".", ".."}:
        raise InputError(
            f"run id {run_id!r} must be one directory name: letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no '/', no '..', not an absolute path)"
        )
    return run_id


class RunDirectoryBusy(InputError):
    """Another process is writing this run directory."""


class RunStore:
    """One run's directory: ``<root>/<run_id>/``, locked while in use, with contained paths.

    Every path a run writes is built by :meth:`path` or :meth:`stage_dir`, which refuse
    anything that would land outside the run directory (``..``, an absolute path, a
    symlink pointing out), so a config cannot make a run write or truncate other files.
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock_handle: Any = None

    @classmethod
    def create(cls, root: str | os.PathLike[str], run_id: str | None = None) -> RunStore:
        """The run directory ``root/run_id`` (created or resumed); a new unique one without ``run_id``.

        A new directory is claimed with an atomic ``mkdir``, so two runs started in the
        same second never share one.
        """
        root = Path(root)
        if run_id is not None:
            return cls(root / check_run_id(run_id))
        root.mkdir(parents=True, exist_ok=True)
        base = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        for suffix in range(1, 10_000):
            candidate = root / (base if suffix == 1 else f"{base}-{suffix}")
            try:
                candidate.mkdir()
            except FileExistsError:
                continue
            return cls(candidate)
        raise InputError(f"{root}: no free run directory name for {base}")

    @property
    def run_id(self) -> str:
        return self.dir.name

    @contextlib.contextmanager
    def lock(self, *, sweep: bool = True) -> Iterator[RunStore]:
        """Hold the run directory exclusively (an advisory ``flock`` on ``.lock``, freed by the OS
        if the process dies); a second run on the same directory is refused, not interleaved.

        With ``sweep``, the temporary files of atomic writes that a killed run left behind (ten
        minutes old or more) are deleted once the lock is held (:func:`sweep_temp_files`). A
        data-parallel launch passes False: its other processes write without the lock.
        """
        import fcntl

        handle = open(self.dir / ".lock", "a+")  # noqa: SIM115 - held for the with-block
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise RunDirectoryBusy(
                f"run directory {self.dir} is in use by {holder}; wait for it to finish or choose "
                "another --run-id"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        self._lock_handle = handle
        try:
            if sweep:
                for path in sweep_temp_files(self.dir):
                    _log.info("deleted %s, left by a run that was killed while writing", path.relative_to(self.dir))
            yield self
        finally:
            self._lock_handle = None
            handle.close()  # closing releases the lock

    def _inside(self, target: Path, given: str) -> Path:
        root = self.dir.resolve()
        resolved = target.resolve()
        if resolved != root and root not in resolved.parents:
            raise InputError(
                f"{given!r} would be written outside the run directory {self.dir}; output paths are "
                "relative to the run directory and may not leave it"
            )
        return target

    def path(self, *parts: str) -> Path:
        """``parts`` joined under the run directory (parent directories created); never outside it."""
        for part in parts:
            if Path(part).is_absolute():
                raise InputError(f"{part!r} must be relative to the run directory {self.dir}, not absolute")
        target = self._inside(self.dir.joinpath(*parts), "/".join(parts))
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def stage_dir(self, stage: str) -> Path:
        target = self._inside(self.dir / stage, stage)
        target.mkdir(parents=True, exist_ok=True)
        return target

    def stage_done(self, stage: str, key: str) -> bool:
        """True when ``stage`` finished before with the same input key (content hash)."""
        marker = self.dir / stage / ".done"
        return marker.exists() and marker.read_text(encoding="utf-8").strip() == key

    def mark_stage_done(self, stage: str, key: str) -> None:
        atomic_write_text(self.stage_dir(stage) / ".done", key + "\n")
