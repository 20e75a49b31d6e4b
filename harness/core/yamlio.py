"""Reading YAML files as the harness's inputs: safe, strict about duplicate keys, one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.core.errors import UserInputError


class _DuplicateKey(yaml.MarkedYAMLError):
    pass


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping: YAML would silently keep the last, so a
    variant pasted twice with an edit, or two ``measurement:`` blocks, would change a benchmark unseen."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            # Only the keys written in this mapping: a key merged in from an anchor (<<: *x) may be
            # overridden on purpose.
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    raise _DuplicateKey(
                        None, None, "a mapping key must be a plain value", key_node.start_mark
                    ) from None
                if key in seen:
                    raise _DuplicateKey(
                        None,
                        None,
                        f"duplicate key '{key}' (first at line {seen[key] + 1}; YAML would keep only the last)",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def loads(text: str, *, source: str) -> Any:
    """Parse YAML text; bad YAML (and duplicate keys) is bad input naming the line."""
    try:
        return yaml.load(text, Loader=StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "yaml"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserInputError(f"invalid YAML: {problem}", source=source, field=where) from None
    except RecursionError:
        raise UserInputError("invalid YAML: nested too deeply", source=source) from None


def read_yaml(path: str | Path) -> Any:
    path = Path(path)
    if not path.exists():
        raise UserInputError("file not found", source=str(path))
    if path.is_dir():
        raise UserInputError("is a folder, expected a YAML file", source=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(f"cannot read ({exc.__class__.__name__}: {exc})", source=str(path)) from None
    return loads(text, source=str(path))
