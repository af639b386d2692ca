"""The package's exception root and its one table of exit codes.

Every error faceaudit raises on purpose derives from :class:`FaceauditError`, so a caller
(the CLI, a notebook, a CI wrapper) can tell "faceaudit refused or failed, and says why"
from a bug. Two kinds matter for the exit status:

- :class:`InputError` — the user's input cannot be used (arguments, config, policy, a
  file that is missing or malformed): exit 3, one line, no traceback;
- everything else raised while a stage runs is a runtime error: exit 4, with the
  traceback under ``--verbose``.

A ``ValueError`` from inside a stage is a runtime error: it may be a bug as easily as a bad
row, and calling it a usage error hid the traceback that would tell which.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

# The one exit-code table (the CLI, the gate and ``python -m faceaudit.train`` use it).
EXIT_OK = 0  # success; for `gate` and `run`: the verdict is PASS
EXIT_FAIL = 1  # the verdict is FAIL, or `data validate` found problems
EXIT_INSUFFICIENT = 2  # INSUFFICIENT EVIDENCE, and insufficient evidence blocks
EXIT_USAGE = 3  # bad arguments, invalid config or policy, unreadable or malformed input
EXIT_RUNTIME = 4  # a stage failed while running (the message says which and why)
EXIT_INTERRUPTED = 130  # Ctrl-C; rerun with the same --run-id to resume

EXIT_CODES: Mapping[int, str] = {
    EXIT_OK: "pass / success",
    EXIT_FAIL: "fail (or `data validate` found problems)",
    EXIT_INSUFFICIENT: "insufficient evidence (when it blocks, the default)",
    EXIT_USAGE: "usage error: bad arguments, config, policy or input",
    EXIT_RUNTIME: "runtime error in a stage (--verbose shows the traceback)",
}


def exit_codes_help() -> str:
    return "exit codes:\n" + "\n".join(f"  {code}  {text}" for code, text in EXIT_CODES.items())


class FaceauditError(Exception):
    """Root of every error faceaudit raises on purpose."""

    exit_code = EXIT_RUNTIME


class InputError(FaceauditError, ValueError):
    """The user's input cannot be used; the message names what and what would be accepted.

    Also a ``ValueError`` so that library callers catching that keep working.
    """

    exit_code = EXIT_USAGE


class StageError(FaceauditError, RuntimeError):
    """A stage could not complete its work (an endpoint that kept failing, every request lost)."""

    exit_code = EXIT_RUNTIME


class StaleResultsError(InputError):
    """Results on disk were made from other inputs than this run's; reusing them would lie."""


def format_validation_errors(
    errors: Iterable[Mapping[str, Any]], source: str,
    locate: Callable[[tuple[Any, ...]], str] | None = None,
) -> str:
    """One message for a pydantic ``ValidationError.errors()`` list: field, problem, value given.

    The one formatter for configs, recipes, policies, prompt sets and data set sidecars, so
    every invalid file reads alike. ``locate`` turns an error's ``loc`` into words where a
    dotted path would not say enough (a policy names the check by its id).
    """
    lines = []
    for error in errors:
        loc = tuple(error["loc"])
        location = (locate(loc) if locate else ".".join(str(part) for part in loc)) or "(top level)"
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        ctx = error.get("ctx") or {}
        if "expected" in ctx and str(ctx["expected"]) not in message:
            message = f"{message} (accepted: {ctx['expected']})"
        given = error.get("input")
        if error["type"] == "secret_in_url":  # the value holds a secret: never echo it
            lines.append(f"{location}: {message}")
        elif error["type"] != "missing" and not isinstance(given, dict):
            lines.append(f"{location}: {message}; got {given!r}")
        else:
            lines.append(f"{location}: {message}")
    return f"invalid {source}:\n  " + "\n  ".join(lines)
