"""The benchmark store: one SQLite file holding runs, configurations and per-problem results.

Schema (version 4, kept in ``PRAGMA user_version``; :data:`MIGRATIONS` upgrades older files):

- ``runs``: one row per ``ponder bench`` invocation: ponder version, data set, engine, model, the
  model file's SHA-256 (when it is a local file), settings (JSON: limit, max tokens, options,
  engine details, workers), and whether it ran ``deterministic`` (version 2; runs stored before
  it read as not deterministic, which they were not); read back with :meth:`BenchStore.runs`.
- ``configs``: one row per configuration (data set, strategy, options, budget, seed, temperature,
  max tokens, engine, model), identified by ``key``, its canonical JSON; ``label`` names it in
  reports (``self-consistency@8 T=0.8 seed=0``). Version 4 added ``interrupt``, the configuration's
  interrupt spec (``hard@0.3``; ``""`` for none, as in every older row: :mod:`ponder.bench.interrupts`).
- ``results``: one row per problem per configuration (primary key ``(config_id, problem_id)``):
  the answer and whether it is correct, every candidate (text, answer, correct, score, tokens,
  finish reason, evidence) as JSON, votes and trace as JSON, usage and seconds: a
  :class:`~ponder.bench.types.BenchRow` (:meth:`~ponder.bench.types.BenchRow.to_columns` is the
  row's shape), read back with :meth:`BenchStore.results`. Version 3 added
  ``scorer_prompt_tokens_computed`` (the judges' prompt tokens actually computed; 0 in older rows).

Each result is committed as soon as it exists (by the one writer, the run's event loop), so a
killed run loses at most the problems in flight, and a rerun skips every (configuration,
problem) pair already stored. A configuration's results all come from runs of one mode
(:meth:`BenchStore.config_mode` says which, so that a resume can refuse to mix them).

A store that cannot be opened or written (a missing folder, a read-only file or folder, a full
disk) raises :class:`BenchStoreError` naming the file and the reason, never a bare SQLite error.
Reports open the file read-only (``writable=False``), so they work on read-only copies.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ponder.bench.types import ROW_FIELDS, BenchRow, Config, StoredConfig
from ponder.core.errors import InvalidInputError

SCHEMA_VERSION = 4
MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY, created TEXT NOT NULL, ponder_version TEXT NOT NULL, dataset TEXT NOT NULL,
        engine TEXT NOT NULL, model TEXT NOT NULL, model_sha256 TEXT, settings TEXT NOT NULL
    );
    CREATE TABLE configs (
        id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id), key TEXT NOT NULL UNIQUE,
        label TEXT NOT NULL, dataset TEXT NOT NULL, strategy TEXT NOT NULL, options TEXT NOT NULL,
        budget INTEGER NOT NULL, seed INTEGER NOT NULL, temperature REAL, max_tokens INTEGER NOT NULL,
        engine TEXT NOT NULL, model TEXT NOT NULL
    );
    CREATE TABLE results (
        config_id INTEGER NOT NULL REFERENCES configs(id), problem_id TEXT NOT NULL, question TEXT NOT NULL,
        gold TEXT NOT NULL, answer TEXT, correct INTEGER NOT NULL, candidates TEXT NOT NULL, votes TEXT NOT NULL,
        trace TEXT NOT NULL, stop_reason TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,
        prompt_tokens_computed INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, scorer_tokens INTEGER NOT NULL,
        engine_calls INTEGER NOT NULL, scorer_calls INTEGER NOT NULL, seconds REAL NOT NULL, created TEXT NOT NULL,
        PRIMARY KEY (config_id, problem_id)
    );
    """,
    2: """
    ALTER TABLE runs ADD COLUMN deterministic INTEGER NOT NULL DEFAULT 0;
    """,
    3: """
    ALTER TABLE results ADD COLUMN scorer_prompt_tokens_computed INTEGER NOT NULL DEFAULT 0;
    """,
    4: """
    ALTER TABLE configs ADD COLUMN interrupt TEXT NOT NULL DEFAULT '';
    """,
}


@dataclass(frozen=True)
class StoredRun:
    """One ``ponder bench`` invocation as the store holds it (a ``runs`` row)."""

    id: int
    created: str
    ponder_version: str
    dataset: str
    engine: str
    model: str
    model_sha256: str | None
    settings: dict[str, Any]
    deterministic: bool  # False for runs stored before the store recorded it (schema 1)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> StoredRun:
        """From a ``runs`` row (``settings`` as its JSON text)."""
        return cls(
            id=int(row["id"]),
            created=str(row["created"]),
            ponder_version=str(row["ponder_version"]),
            dataset=str(row["dataset"]),
            engine=str(row["engine"]),
            model=str(row["model"]),
            model_sha256=row["model_sha256"],
            settings=json.loads(row["settings"]),
            deterministic=bool(row.get("deterministic") or 0),
        )

    @property
    def workers(self) -> int:
        """How many problems the run solved at once (1 for runs stored before it was recorded)."""
        return int(self.settings.get("workers") or 1)

    @property
    def mode(self) -> str:
        """``deterministic`` or ``default``, as reports show it."""
        return "deterministic" if self.deterministic else "default"


class BenchStoreError(InvalidInputError):
    """The benchmark database cannot be opened, read or written (the message says which file and why)."""


def _reason(path: Path, exc: sqlite3.Error) -> str:
    """A user's explanation of why SQLite could not use ``path``."""
    text = str(exc)
    folder = path.parent
    if not folder.is_dir():
        return f"the folder {folder} does not exist"
    if "readonly" in text.replace("-", "").replace(" ", "") or "read-only" in text:
        return "it is read-only (a read-only file, folder or mount)"
    if "unable to open" in text and not os.access(folder, os.W_OK) and not path.exists():
        return f"the folder {folder} is not writable"
    return text


@contextmanager
def _guard(path: Path, action: str) -> Iterator[None]:
    """Turn a SQLite failure while doing ``action`` on ``path`` into a :class:`BenchStoreError`."""
    try:
        yield
    except sqlite3.Error as exc:
        raise BenchStoreError(f"cannot {action} the benchmark database {path}: {_reason(path, exc)}") from None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class BenchStore:
    """Open (creating or upgrading) a benchmark database. ``writable=False`` opens an existing
    one read-only (it must be at the current schema); ``None`` (reports) opens it for writing when
    the file allows, so that an older schema is upgraded, and read-only otherwise."""

    def __init__(self, path: str | Path, *, writable: bool | None = True) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_file():
            raise BenchStoreError(f"the benchmark database {self.path} is not a file")
        if writable is not True and not self.path.is_file():
            raise BenchStoreError(f"no benchmark database at {self.path}")
        if writable is None:
            writable = os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)
        with _guard(self.path, "open"):
            if writable:
                self.db = sqlite3.connect(self.path)
            else:
                self.db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        self.db.row_factory = sqlite3.Row
        try:
            self._migrate(writable)
            if writable:
                with _guard(self.path, "write"):  # fail now, not after the first problem was solved
                    self.db.execute("BEGIN IMMEDIATE")
                    self.db.rollback()
        except BaseException:
            self.db.close()
            raise

    def _migrate(self, writable: bool) -> None:
        try:
            self.db.execute("PRAGMA foreign_keys = ON")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise BenchStoreError(f"{self.path} is not a ponder benchmark database: {exc}") from None
        if version > SCHEMA_VERSION:
            raise BenchStoreError(f"{self.path} was written by a newer ponder (schema {version})")
        if not writable:
            if version < SCHEMA_VERSION:
                raise BenchStoreError(
                    f"{self.path} has schema {version}, older than this ponder's {SCHEMA_VERSION}, and is read-only "
                    "here: open a writable copy once to upgrade it"
                )
            return
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with _guard(self.path, "upgrade"), self.db:
                self.db.executescript(MIGRATIONS[target])
                self.db.execute(f"PRAGMA user_version = {target}")

    def start_run(
        self,
        *,
        ponder_version: str,
        dataset: str,
        engine: str,
        model: str,
        model_sha256: str | None,
        settings: dict[str, Any],
        deterministic: bool = False,
    ) -> int:
        """Store a new run's metadata; its id."""
        with _guard(self.path, "write"), self.db:
            cursor = self.db.execute(
                "INSERT INTO runs (created, ponder_version, dataset, engine, model, model_sha256, settings,"
                " deterministic) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    _now(),
                    ponder_version,
                    dataset,
                    engine,
                    model,
                    model_sha256,
                    json.dumps(settings, sort_keys=True),
                    int(deterministic),
                ),
            )
        return _row_id(cursor)

    def runs(self) -> list[StoredRun]:
        """Every stored run, oldest first."""
        return [StoredRun.from_row(dict(row)) for row in self.db.execute("SELECT * FROM runs ORDER BY id")]

    def config_mode(self, config: Config) -> bool | None:
        """Whether ``config`` is stored under a deterministic run (the run that stored it first;
        resumes keep to its mode); ``None`` when it is not stored yet."""
        row = self.db.execute(
            "SELECT runs.deterministic FROM configs JOIN runs ON runs.id = configs.run_id WHERE configs.key = ?",
            (config.key,),
        ).fetchone()
        return None if row is None else bool(row[0])

    def config_id(self, run_id: int, config: Config) -> int:
        """The id of ``config``, stored on first sight (a rerun finds the same id)."""
        row = self.db.execute("SELECT id FROM configs WHERE key = ?", (config.key,)).fetchone()
        if row:
            return int(row["id"])
        with _guard(self.path, "write"), self.db:
            cursor = self.db.execute(
                "INSERT INTO configs (run_id, key, label, dataset, strategy, options, budget, seed, temperature,"
                " max_tokens, engine, model, interrupt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    config.key,
                    config.label,
                    config.dataset,
                    config.strategy,
                    json.dumps(dict(config.options)),
                    config.budget,
                    config.seed,
                    config.temperature,
                    config.max_tokens,
                    config.engine,
                    config.model,
                    config.interrupt,
                ),
            )
        return _row_id(cursor)

    def stored_config_id(self, config: Config) -> int | None:
        """The id of ``config`` when it is stored (nothing is added)."""
        row = self.db.execute("SELECT id FROM configs WHERE key = ?", (config.key,)).fetchone()
        return None if row is None else int(row["id"])

    def done(self, config_id: int) -> set[str]:
        """Problem ids already stored for a configuration."""
        rows = self.db.execute("SELECT problem_id FROM results WHERE config_id = ?", (config_id,))
        return {r["problem_id"] for r in rows}

    def add_result(self, config_id: int, row: BenchRow) -> None:
        """Store one problem's outcome (a :class:`BenchRow`, see the module docstring) and commit."""
        columns = ["config_id", *ROW_FIELDS, "created"]
        values = {**row.to_columns(), "config_id": config_id, "created": _now()}
        with _guard(self.path, "write"), self.db:
            self.db.execute(
                f"INSERT INTO results ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                [values[c] for c in columns],
            )

    def configs(self) -> list[StoredConfig]:
        """Every stored configuration, in the order they were first stored."""
        return [StoredConfig.from_row(dict(row)) for row in self.db.execute("SELECT * FROM configs ORDER BY id")]

    def results(self, config_id: int) -> Iterator[BenchRow]:
        """The rows stored for a configuration, by problem id."""
        for row in self.db.execute("SELECT * FROM results WHERE config_id = ? ORDER BY problem_id", (config_id,)):
            yield BenchRow.from_columns(dict(row))

    def close(self) -> None:
        self.db.close()


def _row_id(cursor: sqlite3.Cursor) -> int:
    """The id SQLite gave the row an INSERT just added."""
    if cursor.lastrowid is None:
        raise RuntimeError("SQLite reported no id for an inserted row")
    return cursor.lastrowid
