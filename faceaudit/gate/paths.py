"""Paths that point at values inside ``audit.json``.

A policy check names what it judges with a small path language, so that one check
covers "every group's accuracy" or "every disparity of kind difference":

    evaluation.tasks.*.groups.*.accuracy         ``*`` = every key of a mapping / item of a list
    evaluation.disparities[kind=difference]      ``[field=value]`` = the items whose field equals value
    evaluation.disparities.*[kind=error_ratio].estimate  (same as above, written out)

A hand-rolled grammar rather than JSONPath: the gate needs a readable label for
every match (``tasks=race, groups=Black``) to pair candidate and baseline values and
to write plain-language reasons, and the policy loader checks every path against
the pydantic schema so that a misspelt field is an error, not a silently missing value.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Union

from pydantic import BaseModel

from faceaudit.errors import InputError

_SEGMENT = re.compile(r"^(?P<name>[^.\[\]]*)(?P<filters>(\[[^\[\]=]+=[^\[\]]*\])*)$")
_FILTER = re.compile(r"\[([^\[\]=]+)=([^\[\]]*)\]")
# Fields that name a list item better than its position does. "id"/"name" alone identify an
# item; otherwise the descriptive fields are joined (a disparity: "accuracy:race:difference").
_NAME_FIELDS = ("id", "name")
_LABEL_FIELDS = ("task", "metric", "attributes", "kind", "group", "key", "label")


class PathError(InputError):
    """A path that cannot be parsed or does not fit the audit.json schema."""


@dataclass(frozen=True)
class Segment:
    name: str  # a key, or "*"
    filters: tuple[tuple[str, str], ...] = ()

    @property
    def expands(self) -> bool:
        return self.name == "*" or bool(self.filters)


@dataclass
class Match:
    """One value a path reached, with where it lives."""

    value: Any
    path: str
    labels: dict[str, str] = field(default_factory=dict)


def parse_path(text: str) -> list[Segment]:
    if not isinstance(text, str) or not text.strip():
        raise PathError("a path must be a non-empty string such as 'evaluation.tasks.*.accuracy'")
    segments: list[Segment] = []
    for raw in text.strip().split("."):
        found = _SEGMENT.match(raw)
        if found is None or (not found.group("name") and not found.group("filters")):
            raise PathError(
                f"path {text!r}: cannot read segment {raw!r} (expected a key, '*', "
                "or key[field=value])"
            )
        filters = tuple((k.strip(), v.strip()) for k, v in _FILTER.findall(found.group("filters")))
        segments.append(Segment(found.group("name") or "*", filters))
    return segments


def _item_label(item: Any, index: int) -> str:
    if isinstance(item, dict):
        for key in _NAME_FIELDS:
            if isinstance(item.get(key), str):
                return item[key]
        parts = []
        for key in _LABEL_FIELDS:
            value = item.get(key)
            if isinstance(value, str):
                parts.append(value)
            elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                parts.append(" x ".join(value))
        if parts:
            return ":".join(parts)
    return str(index)


def _children(node: Any) -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        return [(str(k), v) for k, v in node.items()]
    if isinstance(node, list):
        return [(_item_label(item, i), item) for i, item in enumerate(node)]
    return []


def _matches_filters(node: Any, filters: tuple[tuple[str, str], ...]) -> bool:
    if not filters:
        return True
    if not isinstance(node, dict):
        return False
    for key, wanted in filters:
        actual = node.get(key)
        if isinstance(actual, bool):
            actual = "true" if actual else "false"
        if actual is None or str(actual) != wanted:
            return False
    return True


def resolve(data: Any, pattern: str | list[Segment]) -> list[Match]:
    """Every value ``pattern`` reaches in ``data`` (plain dicts/lists, e.g. ``model_dump()``).

    A key that is absent or ``None`` yields no match: the caller decides whether that
    means "stage not run" or "nothing to check".
    """
    segments = parse_path(pattern) if isinstance(pattern, str) else pattern
    current = [Match(data, "")]
    for segment in segments:
        following: list[Match] = []
        for match in current:
            node = match.value
            parent_label = segment.name
            if segment.name != "*":
                if not isinstance(node, dict) or node.get(segment.name) is None:
                    continue
                node = node[segment.name]
                base = f"{match.path}.{segment.name}" if match.path else segment.name
                if not segment.filters:
                    following.append(Match(node, base, dict(match.labels)))
                    continue
            else:
                base = match.path
                parent_label = match.path.rsplit(".", 1)[-1].split("[", 1)[0] or "*"
            for label, child in _children(node):
                if child is None or not _matches_filters(child, segment.filters):
                    continue
                labels = dict(match.labels)
                key = parent_label
                while key in labels:  # the same name twice in one path: keep both
                    key += "'"
                labels[key] = label
                following.append(Match(child, f"{base}[{label}]", labels))
        current = following
    # Two list items can carry the same label; the path must still be unique.
    seen: dict[str, int] = {}
    for match in current:
        count = seen.get(match.path, 0)
        seen[match.path] = count + 1
        if count:
            match.path = f"{match.path}#{count}"
    return current


# --------------------------------------------------------------------------- static check


def _unwrap_optional(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _unwrap_optional(members[0])
        return Any  # a real union: the schema cannot tell which; check at run time
    if origin is typing.Annotated:
        return _unwrap_optional(typing.get_args(annotation)[0])
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _element_type(annotation: Any, where: str, text: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (list, tuple, set, frozenset):
        return _unwrap_optional(args[0]) if args else Any
    if origin is dict:
        return _unwrap_optional(args[1]) if len(args) == 2 else Any
    if _is_model(annotation):
        raise PathError(
            f"path {text!r}: {where} is a {annotation.__name__} (fixed fields: "
            f"{', '.join(annotation.model_fields)}); name one instead of '*' or a filter"
        )
    if annotation is Any:
        return Any
    raise PathError(f"path {text!r}: {where} is a {annotation!r}, not a list or mapping")


def terminal_type(text: str, root: type[BaseModel]) -> Any:
    """Walk ``text`` through the pydantic schema; return the annotation it ends on.

    Raises :class:`PathError` naming the first segment that does not exist, so a
    policy with ``evalution.tasks`` is rejected when loaded, not silently skipped.
    """
    current: Any = root
    walked = ""
    for segment in parse_path(text):
        where = walked or "the top level"
        if current is Any:
            return Any
        if segment.name != "*":
            if _is_model(current):
                fields = current.model_fields
                if segment.name not in fields:
                    raise PathError(
                        f"path {text!r}: {where} has no field {segment.name!r} (fields: "
                        f"{', '.join(fields)})"
                    )
                current = _unwrap_optional(fields[segment.name].annotation)
            elif typing.get_origin(current) is dict:
                current = _element_type(current, where, text)
            elif typing.get_origin(current) in (list, tuple):
                raise PathError(
                    f"path {text!r}: {where} is a list; use '*' or [field=value], "
                    f"not {segment.name!r}"
                )
            else:
                raise PathError(f"path {text!r}: {where} is a {current!r}; it has no {segment.name!r}")
            walked = f"{walked}.{segment.name}" if walked else segment.name
            where = walked
        if segment.expands:
            current = _element_type(current, where, text)
            for key, _ in segment.filters:
                if _is_model(current) and key not in current.model_fields:
                    raise PathError(
                        f"path {text!r}: cannot filter {where} on {key!r}: its items have the "
                        f"fields {', '.join(current.model_fields)}"
                    )
            walked = f"{walked}[*]"
    return current
