"""A router: the trajectory to use per question type, with the dev-set evidence behind each choice.

Saved as JSON::

    {"format": "ponder-router/1", "types": "heuristic",
     "routes": {"word-simple": "cot", "word-multistep": "plan+pot"}, "fallback": "cot",
     "evidence": {"word-simple": {"cot": {"n": 3, "correct": 2, "accuracy": 0.667,
                                          "completion_tokens": 41.0, ...}, ...}, ...},
     "overall": {"cot": {...}, ...}, "search": {"dataset": "mawps-singleop", "limit": 20, ...}}

``routes`` and ``fallback`` decide; ``evidence`` (per type), ``overall`` (pooled) and ``search``
(how it was made) are the record. :func:`load_router` refuses a file that cannot be applied,
naming what is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ponder.core.errors import InvalidInputError, PonderError
from ponder.routing.question_types import HEURISTIC, check_scheme, classify
from ponder.routing.trajectory import Trajectory, parse_trajectory

FORMAT = "ponder-router/1"


@dataclass(frozen=True)
class Router:
    """Per question type the trajectory to run; ``fallback`` for a type the dev set did not have."""

    routes: Mapping[str, str]
    fallback: str
    types: str = HEURISTIC
    evidence: Mapping[str, Any] = field(default_factory=dict)
    overall: Mapping[str, Any] = field(default_factory=dict)
    search: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_scheme(self.types)
        parse_trajectory(self.fallback)
        for kind, name in self.routes.items():
            try:
                parse_trajectory(name)
            except PonderError as exc:
                raise InvalidInputError(f"route for type {kind!r}: {exc}") from None

    def question_type(self, question: str, given: str = "") -> str | None:
        """The type to route on: ``given`` when set, else the heuristic type (heuristic routers
        only), else None (the fallback applies)."""
        if given:
            return given
        return classify(question) if self.types == HEURISTIC else None

    def choose(self, question: str, given: str = "") -> tuple[Trajectory, str | None, str]:
        """``(trajectory, question type, why)`` for a question; ``why`` is ``route`` or ``fallback``."""
        kind = self.question_type(question, given)
        if kind is not None and kind in self.routes:
            return parse_trajectory(self.routes[kind]), kind, "route"
        return parse_trajectory(self.fallback), kind, "fallback"

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "types": self.types,
            "routes": dict(self.routes),
            "fallback": self.fallback,
            "evidence": dict(self.evidence),
            "overall": dict(self.overall),
            "search": dict(self.search),
        }

    def save(self, path: str | Path) -> Path:
        """Write the router as JSON (folders created); returns the path."""
        target = Path(path).expanduser()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        except OSError as exc:
            raise InvalidInputError(f"cannot write the router to {target}: {exc}") from exc
        return target


def router_from_dict(data: Any, where: str = "router") -> Router:
    """A router from its JSON form, checked; errors start with ``where``."""
    if not isinstance(data, dict):
        raise InvalidInputError(f"{where}: expected a JSON object")
    if data.get("format") != FORMAT:
        raise InvalidInputError(f"{where}: not a ponder router (format {data.get('format')!r}, expected {FORMAT!r})")
    routes, fallback = data.get("routes"), data.get("fallback")
    if not isinstance(routes, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in routes.items()):
        raise InvalidInputError(f"{where}: 'routes' must map question types to trajectory names")
    if not isinstance(fallback, str):
        raise InvalidInputError(f"{where}: 'fallback' must be a trajectory name")
    types = data.get("types", HEURISTIC)
    if not isinstance(types, str):
        raise InvalidInputError(f"{where}: 'types' must be heuristic, dataset or field:NAME")
    extra = {key: data.get(key) or {} for key in ("evidence", "overall", "search")}
    if not all(isinstance(value, dict) for value in extra.values()):
        raise InvalidInputError(f"{where}: 'evidence', 'overall' and 'search' must be JSON objects")
    try:
        return Router(routes=routes, fallback=fallback, types=types, **extra)
    except PonderError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None


def load_router(path: str | Path) -> Router:
    """The router saved at ``path``; a missing, unreadable or malformed file is a clear error."""
    source = Path(path).expanduser()
    if not source.is_file():
        raise InvalidInputError(f"no router file at {path} (make one with `ponder route DATASET --out FILE`)")
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{source}: line {exc.lineno}: not JSON ({exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read {source}: {exc}") from None
    return router_from_dict(data, str(source))
