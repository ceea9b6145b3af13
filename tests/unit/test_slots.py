"""KV-cache slot bookkeeping and wave planning (pure Python, no llama.cpp work)."""

from __future__ import annotations

import pytest

from ponder.engines.llama.slots import SlotTable, WaveItem, common_prefix, plan_waves


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [([], [], 0), ([1, 2, 3], [], 0), ([1, 2, 3], [1, 2, 4], 2), ([1, 2], [1, 2, 3], 2), ([5], [6], 0), ([1, 2], [1, 2], 2)],
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


def check_plan(
    waves: list[list[WaveItem]], sizes: list[tuple[int, int, int]], n_slots: int, n_cells: int
) -> None:
    """Every sample planned exactly once, in order, and every wave fits the context."""
    planned: dict[int, list[WaveItem]] = {}
    for wave in waves:
        assert wave, "empty wave"
        assert sum(item.count + 1 for item in wave) <= n_slots
        assert sum(sizes[i.request][0] + i.count * sizes[i.request][2] for i in wave) <= n_cells
        for item in wave:
            assert item.count >= 1
            planned.setdefault(item.request, []).append(item)
    for index, (_, n, _) in enumerate(sizes):
        items = planned.get(index, [])
        assert sum(i.count for i in items) == n
        assert [i.first for i in items] == [sum(j.count for j in items[:k]) for k in range(len(items))]


def test_one_request_fits_one_wave() -> None:
    waves = plan_waves([(100, 8, 50)], n_slots=16, n_cells=4096)
    assert waves == [[WaveItem(0, 0, 8)]]


def test_several_requests_share_a_wave() -> None:
    sizes = [(10, 2, 10), (10, 3, 10)]
    waves = plan_waves(sizes, n_slots=16, n_cells=4096)
    assert waves == [[WaveItem(0, 0, 2), WaveItem(1, 0, 3)]]


@pytest.mark.parametrize("n", [5, 8, 20])
def test_more_samples_than_slots_split_across_waves(n: int) -> None:
    sizes = [(10, n, 10)]
    waves = plan_waves(sizes, n_slots=4, n_cells=100_000)
    assert len(waves) > 1
    assert all(sum(i.count + 1 for i in wave) <= 4 for wave in waves)
    check_plan(waves, sizes, n_slots=4, n_cells=100_000)


def test_cell_limit_splits_waves() -> None:
    sizes = [(100, 4, 100)]
    # plenty of slots, but only prompt + 2 samples of 100 cells fit
    waves = plan_waves(sizes, n_slots=32, n_cells=300)
    assert [[(i.first, i.count) for i in wave] for wave in waves] == [[(0, 2)], [(2, 2)]]
    check_plan(waves, sizes, n_slots=32, n_cells=300)


def test_mixed_requests_respect_both_limits() -> None:
    sizes = [(50, 3, 40), (20, 6, 30), (80, 1, 100), (10, 4, 10)]
    waves = plan_waves(sizes, n_slots=5, n_cells=400)
    check_plan(waves, sizes, n_slots=5, n_cells=400)


@pytest.mark.parametrize(
    ("sizes", "n_slots", "n_cells"),
    [
        ([(100, 1, 100)], 4, 150),  # prompt + one sample exceed the cells
        ([(10, 1, 10)], 1, 1000),  # no room for a prompt slot plus a sample slot
    ],
)
def test_sample_that_cannot_fit_raises(sizes: list[tuple[int, int, int]], n_slots: int, n_cells: int) -> None:
    with pytest.raises(ValueError):
        plan_waves(sizes, n_slots=n_slots, n_cells=n_cells)
