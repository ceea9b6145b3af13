"""KV-cache slot bookkeeping and wave planning (pure Python, no llama.cpp work)."""

from __future__ import annotations

import pytest

from ponder.engines.llama.slots import SlotTable, common_prefix


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([], [], 0),
        ([1, 2, 3], [], 0),
        ([1, 2, 3], [1, 2, 4], 2),
        ([1, 2], [1, 2, 3], 2),
        ([5], [6], 0),
        ([1, 2], [1, 2], 2),
    ],
)
def test_common_prefix(a: list[int], b: list[int], expected: int) -> None:
    assert common_prefix(a, b) == expected


def make_table() -> SlotTable:
    table = SlotTable(4)
    table.touch(table.slots[0], [1, 2, 9])
    table.touch(table.slots[1], [1, 2, 3, 4])
    table.touch(table.slots[2], [7, 7])
    return table  # slot 3 stays empty


def test_best_prefix_picks_longest_shared_prefix() -> None:
    table = make_table()
    slot, shared = table.best_prefix([1, 2, 3, 5], taken=set())
    assert (slot.seq, shared) == (1, 3)


def test_best_prefix_skips_taken_slots() -> None:
    table = make_table()
    slot, shared = table.best_prefix([1, 2, 3, 5], taken={1})
    assert (slot.seq, shared) == (0, 2)


def test_best_prefix_ties_go_to_least_recently_used() -> None:
    table = make_table()
    slot, shared = table.best_prefix([8], taken=set())  # no slot shares anything
    assert shared == 0
    assert slot.seq == 3  # never used (last_used 0)


def test_best_prefix_without_free_slot_raises() -> None:
    with pytest.raises(RuntimeError):
        make_table().best_prefix([1], taken={0, 1, 2, 3})


def test_least_useful_prefers_empty_slots() -> None:
    assert make_table().least_useful(taken=set()).seq == 3


def test_least_useful_then_least_recently_used() -> None:
    table = make_table()
    assert table.least_useful(taken={3}).seq == 0
    table.touch(table.slots[0], [1])
    assert table.least_useful(taken={3}).seq == 1


def test_evictable_is_lru_order_of_free_nonempty_slots() -> None:
    table = make_table()
    table.touch(table.slots[0], [1, 2])  # now most recent
    assert [s.seq for s in table.evictable(taken=set())] == [1, 2, 0]
    assert [s.seq for s in table.evictable(taken={2})] == [1, 0]
