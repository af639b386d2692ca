"""YAML a user hands us, read safely and strictly: no Python objects, no duplicate keys.

``yaml.safe_load`` keeps the *last* of two equal keys without a word, so a policy with a
check's ``severity`` written twice silently takes the second. Every user-facing YAML file
(config, policy, recipe, prompt set, sign-off, model card) goes through :func:`load_yaml`,
which refuses that with the file, line and key.
"""

from __future__ import annotations

from typing import Any

import yaml

from faceaudit.errors import InputError


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping holding the same key twice."""


class _StrictStringLoader(yaml.BaseLoader):
    """BaseLoader (every scalar stays a string: `yes`, `1` and `2024-06-01` are labels, not
    a boolean, a number and a date) that refuses a mapping holding the same key twice."""


def _mapping(loader: Any, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # '<<': merged keys may be overridden
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: let SafeLoader report it
            continue
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice in one mapping (first on line {first})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line + 1
    if isinstance(loader, yaml.SafeLoader):  # BaseLoader knows no merge keys
        loader.flatten_mapping(node)
    return type(loader).__mro__[1].construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_StrictStringLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(text: str, source: str, error_type: type[InputError] = InputError, *, strings: bool = False) -> Any:
    """Parse ``text`` (from ``source``, named in errors) as strict, safe YAML; a problem raises
    ``error_type`` (an :class:`InputError`, so the CLI exits 3 with the message). With
    ``strings`` every scalar stays the string it was written as."""
    loader = _StrictStringLoader if strings else _StrictLoader
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - Safe/BaseLoader subclasses
    except (yaml.YAMLError, ValueError) as error:  # ValueError: a date such as 2026-13-01
        raise error_type(f"{source}: not valid YAML: {error}") from None
