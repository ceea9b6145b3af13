"""Reading JSON Lines files (plain or gzipped) with errors that name the file and line."""

from __future__ import annotations

import gzip
import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

from ponder.core.errors import InvalidInputError

Row = dict[str, Any]


def read_jsonl(path: Path) -> Generator[tuple[int, Row], None, None]:
    """(0-based line index, row) for every non-blank line of a .jsonl or .jsonl.gz file."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as lines:
            for index, line in enumerate(lines):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InvalidInputError(f"{path}: line {index + 1}: not JSON ({exc.msg})") from exc
                if not isinstance(row, dict):
                    raise InvalidInputError(f"{path}: line {index + 1}: expected a JSON object")
                yield index, row
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read {path}: {exc}") from exc
