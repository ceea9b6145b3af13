"""The memory store: one SQLite file of concepts, shared safely by concurrent runs.

Schema (version 2, in the ``ponder_memory`` table: ``kind`` names the file as a concept memory,
``schema`` is its version; :data:`MIGRATIONS` upgrades older files, :data:`BACKFILLS` fills what
a migration cannot compute in SQL):

- ``concepts``: one row per concept (situation, suggestion, source, created as unix time, uses,
  successes); version 2 added ``tokens`` (the estimated length of its rendered line) and ``key``
  (its normalised text, for exact deduplication).
- ``additions`` (version 2): every time a concept was offered to the store, in order (``seq``):
  which concept it became or matched, its source, and whether it was new. Results of a run that
  updates its memory as it goes depend on that order, so it is kept. Concepts stored under
  version 1 get one addition each, in id order, by the migration.

Deduplication: a concept whose normalised text equals a stored one's, or whose word set has a
Jaccard similarity of at least ``threshold`` (0.8 by default) with a stored one's, is not stored
again; the most similar stored concept's id is returned, marked as matched.

Concurrency: the file is in WAL mode with a busy timeout, so several threads (one store object,
or one each) and several processes may add concepts at once; each :meth:`MemoryStore.add` runs
in one ``BEGIN IMMEDIATE`` transaction and deduplicates against everything committed before it,
so no concept is lost and none is stored twice by two writers; an add that fails is rolled back
whole, and the object's deduplication caches forget it too. The same holds for opening: the
first writer to open a new file creates the schema, later ones see it.

A file that cannot be used (a folder, an unreadable or read-only file, something that is not an
SQLite database, an SQLite database that is not a concept memory, one written by a newer ponder)
raises :class:`MemoryStoreError` naming the file and the reason, never a bare SQLite error.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from ponder.core.errors import InvalidInputError
from ponder.core.text import check_text
from ponder.memory.concepts import (
    Concept,
    NewConcept,
    estimate_tokens,
    jaccard,
    normalise,
    render_line,
    token_set,
)

SCHEMA_VERSION = 2
KIND = "ponder concept memory"
DEFAULT_THRESHOLD = 0.8
BUSY_SECONDS = 30.0

MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "CREATE TABLE ponder_memory (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE concepts (id INTEGER PRIMARY KEY, situation TEXT NOT NULL, suggestion TEXT NOT NULL,"
        " source TEXT NOT NULL, created REAL NOT NULL, uses INTEGER NOT NULL DEFAULT 0,"
        " successes INTEGER NOT NULL DEFAULT 0)",
    ),
    2: (
        "ALTER TABLE concepts ADD COLUMN tokens INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE concepts ADD COLUMN key TEXT NOT NULL DEFAULT ''",
        "CREATE INDEX concepts_key ON concepts (key)",
        "CREATE TABLE additions (seq INTEGER PRIMARY KEY AUTOINCREMENT, concept_id INTEGER NOT NULL"
        " REFERENCES concepts(id), source TEXT NOT NULL, added INTEGER NOT NULL, created REAL NOT NULL)",
        "INSERT INTO additions (concept_id, source, added, created) SELECT id, source, 1, created FROM concepts"
        " ORDER BY id",
    ),
}


def _backfill_v2(db: sqlite3.Connection) -> None:
    """Fill ``tokens`` and ``key`` of the concepts stored under version 1."""
    rows = db.execute("SELECT id, situation, suggestion FROM concepts WHERE key = ''").fetchall()
    for concept_id, situation, suggestion in rows:
        db.execute(
            "UPDATE concepts SET tokens = ?, key = ? WHERE id = ?",
            (estimate_tokens(render_line(situation, suggestion)), normalise(situation, suggestion), concept_id),
        )


BACKFILLS: dict[int, Callable[[sqlite3.Connection], None]] = {2: _backfill_v2}


class MemoryStoreError(InvalidInputError):
    """The memory file cannot be opened, read or written (the message says which file and why)."""


@dataclass(frozen=True)
class AddOutcome:
    """What became of one concept offered to :meth:`MemoryStore.add`: stored as ``id``
    (``added``), or matched the stored concept ``id`` (not ``added``; ``similarity`` says how
    alike they are, 1.0 for the same normalised text)."""

    id: int
    added: bool
    similarity: float = 1.0


@dataclass(frozen=True)
class Addition:
    """One row of the additions log: the ``seq``-th concept offered to the store."""

    seq: int
    concept_id: int
    source: str
    added: bool
    created: float


def _reason(path: Path, exc: sqlite3.Error) -> str:
    """A user's explanation of why SQLite could not use ``path``."""
    text = str(exc)
    if "readonly" in text.replace("-", "").replace(" ", "") or "read-only" in text:
        return "it is read-only (a read-only file, folder or mount)"
    if "unable to open" in text:
        if path.exists() and not os.access(path, os.R_OK):
            return "it is not readable"
        if not os.access(path.parent, os.W_OK):
            return f"the folder {path.parent} is not writable"
    if "not a database" in text or "malformed" in text:
        return "it is not an SQLite database (nor a ponder memory file)"
    return text


class MemoryStore:
    """Open (creating or upgrading) a concept memory file; see the module docstring.

    One object may be shared by threads (its calls take turns); :meth:`close` it when done, or
    use it as a context manager.
    """

    def __init__(self, path: str | Path, *, busy_seconds: float = BUSY_SECONDS) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_file():
            raise MemoryStoreError(f"the memory file {self.path} is not a file")
        if not self.path.parent.is_dir():
            raise MemoryStoreError(
                f"cannot open the memory file {self.path}: the folder {self.path.parent} does not exist"
            )
        self._lock = threading.RLock()
        self._keys: dict[str, int] = {}  # normalised text -> id, for what this object has read
        self._sets: list[tuple[int, frozenset[str]]] = []
        self._seen = 0  # the highest concept id read into the caches (concepts are never removed)
        with self._guard("open"):
            self.db = sqlite3.connect(self.path, timeout=busy_seconds, isolation_level=None, check_same_thread=False)
        try:
            self._open()
        except BaseException:
            self.db.close()
            raise

    # -- opening -------------------------------------------------------------------------

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Turn a SQLite failure while doing ``action`` into a :class:`MemoryStoreError`."""
        try:
            yield
        except sqlite3.Error as exc:
            raise MemoryStoreError(f"cannot {action} the memory file {self.path}: {_reason(self.path, exc)}") from None

    @contextmanager
    def _transaction(self, action: str) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction (it waits up to the busy timeout for other writers)."""
        with self._lock, self._guard(action):
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def _open(self) -> None:
        try:
            self.db.execute("PRAGMA journal_mode = WAL").fetchone()
        except sqlite3.Error as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise MemoryStoreError(f"cannot open the memory file {self.path}: {_reason(self.path, exc)}") from None
            # another process is switching a new file to WAL right now; it stays WAL for us
        with self._transaction("open"):
            self._migrate()
        with self._guard("read"):
            self.db.execute("PRAGMA foreign_keys = ON")

    def _migrate(self) -> None:
        """Bring the file to :data:`SCHEMA_VERSION` (inside the opening transaction)."""
        tables = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "ponder_memory" in tables:
            meta = dict(self.db.execute("SELECT key, value FROM ponder_memory").fetchall())
            if meta.get("kind") != KIND:
                raise MemoryStoreError(f"{self.path} is not a ponder memory file (its kind is {meta.get('kind')!r})")
            try:
                version = int(meta.get("schema", ""))
            except ValueError:
                raise MemoryStoreError(f"{self.path} has an unreadable schema version {meta.get('schema')!r}") from None
        elif tables - {"sqlite_sequence"}:
            names = ", ".join(sorted(tables))
            raise MemoryStoreError(f"{self.path} is an SQLite database but not a ponder memory file (tables: {names})")
        else:
            version = 0
        if version > SCHEMA_VERSION:
            raise MemoryStoreError(
                f"{self.path} was written by a newer ponder (memory schema {version}; this ponder reads up to "
                f"{SCHEMA_VERSION})"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[target]:
                self.db.execute(statement)
            if target in BACKFILLS:
                BACKFILLS[target](self.db)
        if version < SCHEMA_VERSION:
            self.db.executemany(
                "INSERT OR REPLACE INTO ponder_memory (key, value) VALUES (?, ?)",
                [("kind", KIND), ("schema", str(SCHEMA_VERSION))],
            )

    # -- writing -------------------------------------------------------------------------

    def add(self, new: Sequence[NewConcept], *, threshold: float = DEFAULT_THRESHOLD) -> list[AddOutcome]:
        """Store each concept of ``new`` unless it duplicates a stored one (see the module
        docstring); one outcome per concept, in order. Every offer is logged in the additions."""
        if not 0 < threshold <= 1:
            raise InvalidInputError(f"the deduplication threshold must be in (0, 1], got {threshold}")
        for concept in new:
            for text, what in ((concept.situation, "situation"), (concept.suggestion, "suggestion")):
                check_text(text, f"a concept's {what}")
                if not text.strip():
                    raise InvalidInputError(f"a concept's {what} is empty")
            check_text(concept.source, "a concept's source")
        try:
            return self._add(new, threshold)
        except BaseException:
            with self._lock:  # rolled back: forget what the caches took from it (they are read afresh)
                self._keys, self._sets, self._seen = {}, [], 0
            raise

    def _add(self, new: Sequence[NewConcept], threshold: float) -> list[AddOutcome]:
        """:meth:`add`'s one transaction (the caches take each concept it stores as it goes)."""
        outcomes: list[AddOutcome] = []
        with self._transaction("write to") as db:
            self._refresh()
            for concept in new:
                situation, suggestion = concept.situation.strip(), concept.suggestion.strip()
                now = time.time()
                match = self._match(situation, suggestion, threshold)
                if match is None:
                    cursor = db.execute(
                        "INSERT INTO concepts (situation, suggestion, source, created, tokens, key)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            situation,
                            suggestion,
                            concept.source,
                            now,
                            estimate_tokens(render_line(situation, suggestion)),
                            normalise(situation, suggestion),
                        ),
                    )
                    assert cursor.lastrowid is not None
                    outcome = AddOutcome(cursor.lastrowid, True)
                    self._remember(outcome.id, situation, suggestion)
                else:
                    outcome = AddOutcome(match[0], False, match[1])
                db.execute(
                    "INSERT INTO additions (concept_id, source, added, created) VALUES (?, ?, ?, ?)",
                    (outcome.id, concept.source, int(outcome.added), now),
                )
                outcomes.append(outcome)
        return outcomes

    def _remember(self, concept_id: int, situation: str, suggestion: str) -> None:
        self._keys.setdefault(normalise(situation, suggestion), concept_id)
        self._sets.append((concept_id, token_set(situation, suggestion)))
        self._seen = max(self._seen, concept_id)

    def _refresh(self) -> None:
        """Read the concepts other writers committed since this object last looked."""
        rows = self.db.execute(
            "SELECT id, situation, suggestion FROM concepts WHERE id > ? ORDER BY id", (self._seen,)
        ).fetchall()
        for concept_id, situation, suggestion in rows:
            self._remember(concept_id, situation, suggestion)

    def _match(self, situation: str, suggestion: str, threshold: float) -> tuple[int, float] | None:
        """The stored concept this one duplicates (its id and similarity), if any."""
        exact = self._keys.get(normalise(situation, suggestion))
        if exact is not None:
            return exact, 1.0
        words = token_set(situation, suggestion)
        best: tuple[int, float] | None = None
        for concept_id, other in self._sets:
            similarity = jaccard(words, other)
            if similarity >= threshold and (best is None or similarity > best[1]):
                best = (concept_id, similarity)
        return best

    def record_use(self, ids: Iterable[int], success: bool | None) -> None:
        """Count one use of each concept in ``ids`` (a run whose prompt held it), and one success
        when ``success`` is true (the run was verified correct); unknown ids are ignored."""
        unique = sorted(set(ids))
        if not unique:
            return
        with self._transaction("write to") as db:
            db.executemany(
                "UPDATE concepts SET uses = uses + 1, successes = successes + ? WHERE id = ?",
                [(int(success is True), concept_id) for concept_id in unique],
            )

    # -- reading -------------------------------------------------------------------------

    def _select(self, where: str = "", params: Sequence[object] = ()) -> list[Concept]:
        with self._lock, self._guard("read"):
            rows = self.db.execute(
                "SELECT id, situation, suggestion, source, created, uses, successes, tokens FROM concepts"
                f" {where} ORDER BY id",
                tuple(params),
            ).fetchall()
        return [Concept(*row) for row in rows]

    def concepts(self) -> list[Concept]:
        """Every stored concept, oldest first."""
        return self._select()

    def get(self, ids: Sequence[int]) -> list[Concept]:
        """The stored concepts with these ids, in the order of ``ids`` (unknown ids are left out)."""
        if not ids:
            return []
        found = {c.id: c for c in self._select(f"WHERE id IN ({', '.join('?' * len(ids))})", list(ids))}
        return [found[i] for i in ids if i in found]

    def count(self) -> int:
        """How many concepts are stored."""
        with self._lock, self._guard("read"):
            return int(self.db.execute("SELECT COUNT(*) FROM concepts").fetchone()[0])

    def additions(self) -> list[Addition]:
        """Every concept offered to the store, in the order offered."""
        with self._lock, self._guard("read"):
            rows = self.db.execute(
                "SELECT seq, concept_id, source, added, created FROM additions ORDER BY seq"
            ).fetchall()
        return [
            Addition(seq, concept_id, source, bool(added), created) for seq, concept_id, source, added, created in rows
        ]

    # -- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
