"""The concept memory store: schema and migrations, refusals, deduplication, concurrent writers."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ponder.core.errors import InvalidInputError
from ponder.memory import MemoryStore, MemoryStoreError, NewConcept
from ponder.memory.concepts import estimate_tokens, render_line
from ponder.memory.store import KIND, SCHEMA_VERSION

SHARED = 10  # concepts every concurrent writer offers
OWN = 40  # concepts only one writer offers


def writer_concepts(writer: int) -> list[NewConcept]:
    """50 concepts: ``OWN`` of this writer's (no word in common with any other concept) and the
    ``SHARED`` ones every writer offers."""
    own = [
        NewConcept(
            f"alpha{writer}x{i} beta{writer}x{i} gamma{writer}x{i}", f"delta{writer}x{i} eps{writer}x{i}", f"w{writer}"
        )
        for i in range(OWN)
    ]
    shared = [
        NewConcept(f"shared{j}a shared{j}b shared{j}c", f"shared{j}d shared{j}e", f"w{writer}") for j in range(SHARED)
    ]
    return own[: OWN // 2] + shared + own[OWN // 2 :]


def wait_for_all(folder: Path, writer: int, writers: int) -> None:
    """A barrier across processes: mark this writer ready, then wait for all (at most 60 s)."""
    (folder / f"ready{writer}").touch()
    deadline = time.monotonic() + 60
    while sum((folder / f"ready{w}").exists() for w in range(writers)) < writers:
        assert time.monotonic() < deadline, "the other writers never started"
        time.sleep(0.005)


def write_all(path: Path, writer: int, barrier: tuple[Path, int] | None = None) -> None:
    """Open the store (after the barrier, so that the file may be created by any writer) and add
    this writer's concepts, one transaction each."""
    if barrier is not None:
        wait_for_all(barrier[0], writer, barrier[1])
    with MemoryStore(path) as store:
        for concept in writer_concepts(writer):
            store.add([concept])
            time.sleep(0.002)  # a writer does other work between additions, so the writers interleave


def schema_of(path: Path) -> dict[str, str]:
    db = sqlite3.connect(path)
    try:
        return dict(db.execute("SELECT key, value FROM ponder_memory").fetchall())
    finally:
        db.close()


def test_a_new_file_has_the_current_schema_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    with MemoryStore(path) as store:
        assert store.count() == 0
        assert store.concepts() == []
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert schema_of(path) == {"kind": KIND, "schema": str(SCHEMA_VERSION)}
    with MemoryStore(path) as store:  # reopening changes nothing
        assert store.count() == 0


def test_add_stores_concepts_with_their_record(tmp_path: Path) -> None:
    with MemoryStore(tmp_path / "m.db") as store:
        before = time.time()
        [outcome] = store.add([NewConcept(" a total is shared equally ", "divide the total by the count", "mawps#1")])
        assert outcome.added and outcome.id == 1
        [concept] = store.concepts()
        assert (concept.situation, concept.suggestion, concept.source) == (
            "a total is shared equally",
            "divide the total by the count",
            "mawps#1",
        )
        assert (concept.uses, concept.successes) == (0, 0)
        assert concept.created >= before
        assert concept.tokens == estimate_tokens(render_line(concept.situation, concept.suggestion)) > 0


def test_exact_and_near_duplicates_are_matched_not_stored(tmp_path: Path) -> None:
    with MemoryStore(tmp_path / "m.db") as store:
        base = NewConcept("a total is shared equally among several people", "divide the total by the number of people")
        [first] = store.add([base])
        # the same words, other case and punctuation: the same normalised text
        same = NewConcept(
            "A total is shared, equally, among several people.", "Divide the total by the number of people!"
        )
        # one word more of 13: Jaccard 12/13 >= 0.8
        near = NewConcept(
            "a total is shared equally among several people", "divide the whole total by the number of people"
        )
        other = NewConcept("the speed and the time of a trip are given", "multiply the speed by the time")
        outcomes = store.add([same, near, other])
        assert [(o.id, o.added) for o in outcomes] == [(first.id, False), (first.id, False), (2, True)]
        assert outcomes[0].similarity == 1.0
        assert 0.8 <= outcomes[1].similarity < 1.0
        assert store.count() == 2
        # a stricter threshold stores the near one
        [strict] = store.add([near], threshold=0.95)
        assert strict.added and store.count() == 3


def test_duplicates_within_one_batch_are_stored_once(tmp_path: Path) -> None:
    with MemoryStore(tmp_path / "m.db") as store:
        concept = NewConcept("two amounts are combined", "add the two amounts")
        outcomes = store.add([concept, concept])
        assert [o.added for o in outcomes] == [True, False]
        assert outcomes[0].id == outcomes[1].id
        assert store.count() == 1


def test_a_rolled_back_add_leaves_no_ghost_in_the_deduplication(tmp_path: Path) -> None:
    """An add that fails mid-way is rolled back whole; the store must not then treat the concept it
    had inserted as stored (matching it, under an id that does not exist) when it is offered again."""
    path = tmp_path / "m.db"
    concept = NewConcept("two amounts are combined", "add the two amounts", "p1")
    with MemoryStore(path) as store:
        other = sqlite3.connect(path)
        other.execute("ALTER TABLE additions RENAME TO hidden")  # the log insert after the concept's fails
        other.commit()
        with pytest.raises(MemoryStoreError, match="cannot write to the memory file"):
            store.add([concept])
        other.execute("ALTER TABLE hidden RENAME TO additions")
        other.commit()
        other.close()
        assert store.count() == 0 and store.additions() == []  # nothing of the failed add was kept
        [outcome] = store.add([concept])
        assert outcome.added and store.count() == 1
        assert [(a.concept_id, a.added) for a in store.additions()] == [(outcome.id, True)]
        [again] = store.add([NewConcept("two amounts are combined", "add the two amounts", "p2")])
        assert (again.id, again.added) == (outcome.id, False)


def test_additions_log_keeps_the_order_of_offers(tmp_path: Path) -> None:
    with MemoryStore(tmp_path / "m.db") as store:
        store.add([NewConcept("first situation here", "first suggestion here", "p1")])
        store.add([NewConcept("second kind of problem", "second method to apply", "p2")])
        store.add([NewConcept("first situation here", "first suggestion here", "p3")])
        log = store.additions()
        assert [(a.seq, a.concept_id, a.source, a.added) for a in log] == [
            (1, 1, "p1", True),
            (2, 2, "p2", True),
            (3, 1, "p3", False),
        ]


def test_get_keeps_the_order_asked_and_skips_unknown_ids(tmp_path: Path) -> None:
    with MemoryStore(tmp_path / "m.db") as store:
        store.add([NewConcept(f"situation number {w}", f"suggestion number {w}") for w in ("one", "two", "three")])
        assert [c.id for c in store.get([3, 99, 1])] == [3, 1]
        assert store.get([]) == []


def test_record_use_counts_uses_and_successes(tmp_path: Path) -> None:
    with MemoryStore(tmp_path / "m.db") as store:
        store.add([NewConcept(f"situation number {w}", f"suggestion number {w}") for w in ("one", "two")])
        store.record_use([1, 2], True)
        store.record_use([1], False)
        store.record_use([1, 1, 42], None)  # repeated and unknown ids: one use of 1, 42 ignored
        store.record_use([], True)
        assert [(c.uses, c.successes) for c in store.concepts()] == [(3, 1), (1, 1)]


def test_bad_concepts_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    with MemoryStore(tmp_path / "m.db") as store:
        good = NewConcept("two amounts are combined", "add the two amounts")
        with pytest.raises(InvalidInputError, match="situation is empty"):
            store.add([good, NewConcept("  ", "add")])
        with pytest.raises(InvalidInputError, match="not valid UTF-8"):
            store.add([good, NewConcept("bad \udcff text", "add")])
        with pytest.raises(InvalidInputError, match="threshold"):
            store.add([good], threshold=0)
        assert store.count() == 0


def make_v1(path: Path) -> None:
    """A memory file as schema 1 wrote it (no tokens, keys or additions log)."""
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE ponder_memory (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO ponder_memory VALUES ('kind', 'ponder concept memory'), ('schema', '1');
        CREATE TABLE concepts (id INTEGER PRIMARY KEY, situation TEXT NOT NULL, suggestion TEXT NOT NULL,
            source TEXT NOT NULL, created REAL NOT NULL, uses INTEGER NOT NULL DEFAULT 0,
            successes INTEGER NOT NULL DEFAULT 0);
        INSERT INTO concepts VALUES (1, 'a total is shared equally', 'divide the total by the count', 'old#1', 100.0,
            4, 3);
        INSERT INTO concepts VALUES (2, 'two amounts are combined', 'add the two amounts', 'old#2', 200.0, 1, 0);
        """
    )
    db.commit()
    db.close()


def test_a_v1_file_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    make_v1(path)
    with MemoryStore(path) as store:
        concepts = store.concepts()
        assert [(c.id, c.source, c.uses, c.successes, c.created) for c in concepts] == [
            (1, "old#1", 4, 3, 100.0),
            (2, "old#2", 1, 0, 200.0),
        ]
        assert all(c.tokens == estimate_tokens(render_line(c.situation, c.suggestion)) for c in concepts)
        assert [(a.concept_id, a.source, a.added) for a in store.additions()] == [
            (1, "old#1", True),
            (2, "old#2", True),
        ]
        # the backfilled keys deduplicate
        [outcome] = store.add([NewConcept("Two amounts are combined.", "Add the two amounts.")])
        assert (outcome.id, outcome.added) == (2, False)
    assert schema_of(path)["schema"] == str(SCHEMA_VERSION)


def test_a_newer_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    MemoryStore(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE ponder_memory SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION + 1),))
    db.commit()
    db.close()
    with pytest.raises(MemoryStoreError, match=f"newer ponder \\(memory schema {SCHEMA_VERSION + 1}"):
        MemoryStore(path)
    assert schema_of(path)["schema"] == str(SCHEMA_VERSION + 1)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"these are my notes, not a database\n" * 100)
    with pytest.raises(
        MemoryStoreError, match=r"cannot open the memory file .*notes.txt: it is not an SQLite database"
    ):
        MemoryStore(path)
    assert path.read_bytes().startswith(b"these are my notes")


def test_another_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bench.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY)")
    db.execute("PRAGMA user_version = 4")
    db.commit()
    db.close()
    with pytest.raises(MemoryStoreError, match=r"is an SQLite database but not a ponder memory file \(tables: runs\)"):
        MemoryStore(path)


def test_a_folder_or_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MemoryStoreError, match="is not a file"):
        MemoryStore(tmp_path)
    with pytest.raises(MemoryStoreError, match="does not exist"):
        MemoryStore(tmp_path / "missing" / "m.db")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads and writes any file")
def test_a_read_only_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    MemoryStore(path).close()
    path.chmod(0o444)
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(MemoryStoreError, match="cannot open the memory file"):
            MemoryStore(path)
    finally:
        tmp_path.chmod(0o755)


def check_concurrent_result(path: Path, writers: int) -> None:
    with MemoryStore(path) as store:
        concepts = store.concepts()
        texts = {(c.situation, c.suggestion) for c in concepts}
        assert len(concepts) == len(texts) == writers * OWN + SHARED  # none lost, shared ones once
        for writer in range(writers):
            assert {(c.situation, c.suggestion) for c in writer_concepts(writer)} <= texts
        log = store.additions()
        assert len(log) == writers * (OWN + SHARED)
        assert sum(a.added for a in log) == len(concepts)
        assert [a.seq for a in log] == list(range(1, len(log) + 1))


def test_concurrent_writers_in_threads_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    errors: list[BaseException] = []

    def run(writer: int) -> None:
        try:
            write_all(path, writer, (tmp_path, 2))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(writer,)) for writer in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    check_concurrent_result(path, 2)


def test_one_store_shared_by_threads_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with MemoryStore(path) as store:

        def run(writer: int) -> None:
            for concept in writer_concepts(writer):
                store.add([concept])

        threads = [threading.Thread(target=run, args=(writer,)) for writer in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    check_concurrent_result(path, 2)


def test_concurrent_writers_in_processes_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "m.db"  # created by whichever process opens it first
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import test_memory_store as t; from pathlib import Path; "
        "t.write_all(Path(sys.argv[2]), int(sys.argv[3]), (Path(sys.argv[4]), 2))"
    )
    here = str(Path(__file__).parent)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, here, str(path), str(writer), str(tmp_path)], stderr=subprocess.PIPE, text=True
        )
        for writer in range(2)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
    check_concurrent_result(path, 2)
