"""Reading a pipeline config (YAML or JSON, a file or a dict) with the line of every key and item.

:func:`read_config` returns the plain data and a :class:`Where`, which turns a path into the
data (``("layers", 1, "samples")``) into a location for error messages:
``pipe.yaml:7: layers[1].samples``. Lines come from PyYAML's node marks (``yaml.compose``), so
JSON files get them too (JSON is parsed by :mod:`json` first, for its exact syntax errors).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ponder.core.errors import InvalidInputError

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Where:
    """The source of a config and the line of each path in it (none for a dict)."""

    source: str
    lines: Mapping[Path_, int] = field(default_factory=dict)

    def at(self, path: Path_) -> str:
        """``source:line: dotted.path`` (the nearest enclosing line when the path has none)."""
        line = next((self.lines[path[:i]] for i in range(len(path), -1, -1) if path[:i] in self.lines), None)
        prefix = f"{self.source}:{line}" if line is not None else self.source
        return f"{prefix}: {dotted(path)}" if path else prefix

    def error(self, path: Path_, problem: str) -> InvalidInputError:
        """An error naming the place and the problem."""
        return InvalidInputError(f"{self.at(path)}: {problem}")


def dotted(path: Path_) -> str:
    """``("layers", 1, "samples")`` as ``layers[1].samples``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def read_config(config: str | Path | Mapping[str, Any]) -> tuple[Any, Where]:
    """The data of a config file (``.json``: JSON, else YAML) or of a dict, and its :class:`Where`."""
    if isinstance(config, Mapping):
        return dict(config), Where("pipeline")
    path = Path(config)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"cannot read pipeline config {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"cannot read pipeline config {str(path)!r}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    return parse_text(text, str(path), as_json=path.suffix.lower() == ".json")


def parse_text(text: str, source: str, *, as_json: bool = False) -> tuple[Any, Where]:
    """Parse config text; syntax errors name ``source:line``."""
    if as_json:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{source}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.MarkedYAMLError as exc:
            line = exc.problem_mark.line + 1 if exc.problem_mark is not None else "?"
            raise InvalidInputError(f"{source}:{line}: invalid YAML: {exc.problem or exc.context}") from None
        except yaml.YAMLError as exc:
            raise InvalidInputError(f"{source}: invalid YAML: {exc}") from None
    lines: dict[Path_, int] = {}
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:  # valid JSON that YAML 1.1 reads differently: errors without lines
        node = None
    if node is not None:
        _mark(node, data, (), lines, source)
    return data, Where(source, lines)


def _mark(node: yaml.Node, data: Any, path: Path_, lines: dict[Path_, int], source: str) -> None:
    """Record the line of ``path`` and, walking node and data together, of everything below it."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode) and isinstance(data, dict):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key in seen:
                raise InvalidInputError(
                    f"{source}:{key_node.start_mark.line + 1}: {dotted(path + (key,))}: duplicate key"
                )
            if key is None or key not in data:
                continue
            seen.add(key)
            lines[path + (key,)] = key_node.start_mark.line + 1
            _mark(value_node, data[key], path + (key,), lines, source)
    elif isinstance(node, yaml.SequenceNode) and isinstance(data, list):
        for index, (item_node, item) in enumerate(zip(node.value, data, strict=True)):
            _mark(item_node, item, path + (index,), lines, source)
