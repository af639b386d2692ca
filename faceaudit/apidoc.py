"""Render the public API's docstrings into one Markdown page.

    python -m faceaudit.apidoc                    # print it
    python -m faceaudit.apidoc --write docs/api.md

Every name in ``faceaudit.__all__``: its signature and docstring; for a pydantic model, its
fields with their types and descriptions (one level: nested sections name their own class).
"""

from __future__ import annotations

import argparse
import inspect
import re
from typing import Any

from pydantic import BaseModel

import faceaudit


def _signature(obj: Any) -> str:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return ""


def _fields(model: type[BaseModel]) -> list[str]:
    lines = ["", "| field | type | description |", "|---|---|---|"]
    for name, info in model.model_fields.items():
        kind = getattr(info.annotation, "__name__", None) or str(info.annotation).replace("typing.", "")
        kind = re.sub(r"\b(?:[a-z_]+\.)+([A-Z]\w*)", r"\1", kind)  # faceaudit.schema.x.Section -> Section
        kind = kind.replace("|", "\\|")  # a bar inside a table cell ends the cell, even in code
        description = (info.description or "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{name}` | `{kind}` | {description} |")
    return lines


def render_api_markdown() -> str:
    out = [
        "# faceaudit Python API",
        "",
        "Generated from the docstrings by `python -m faceaudit.apidoc --write docs/api.md`; "
        "every name is importable from the top level (`from faceaudit import run_audit`).",
    ]
    for name in faceaudit.__all__:
        if name == "__version__":
            continue
        obj = getattr(faceaudit, name)
        module = getattr(obj, "__module__", "")
        is_model = inspect.isclass(obj) and issubclass(obj, BaseModel)
        heading = f"class {name}" if inspect.isclass(obj) else f"{name}{_signature(obj)}"
        out += ["", f"## `{heading}`", "", f"*{module}*", "", inspect.getdoc(obj) or "(no docstring)"]
        if is_model:
            out += _fields(obj)
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m faceaudit.apidoc", description=__doc__.splitlines()[0])
    parser.add_argument("--write", metavar="FILE", help="write the page to FILE instead of printing it")
    args = parser.parse_args(argv)
    text = render_api_markdown()
    if args.write:
        from faceaudit.store import atomic_write_text

        atomic_write_text(args.write, text)
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
