"""The ledger: the one thing that spends generations, hands out sample identities and records usage."""

from __future__ import annotations

import pytest

import ponder
from ponder.core.budget import Budget
from ponder.core.errors import InvalidInputError
from ponder.core.ledger import Ledger
from ponder.core.usage import Usage
from ponder.engines import FakeEngine

QUESTION = "Tom has 3 boxes with 4 apples each. How many apples?"


def test_spend_charges_the_budget_and_hands_out_consecutive_identities() -> None:
    ledger = Ledger(Budget(5))
    assert list(ledger.spend(2)) == [0, 1] and list(ledger.spend(3)) == [2, 3, 4]
    assert ledger.spent == 5 and ledger.remaining() == 0
    with pytest.raises(InvalidInputError, match="asked for 1 generations with 0 left"):
        ledger.spend(1)
    with pytest.raises(InvalidInputError):
        Ledger(Budget(2)).spend(0)


def test_continuations_take_fresh_identities_without_charging() -> None:
    ledger = Ledger(Budget(2))
    assert list(ledger.spend(2, identities=1)) == [0]  # e.g. A*'s root: the budget is paid once
    assert list(ledger.identities(3)) == [1, 2, 3] and ledger.spent == 2


def test_a_child_charges_its_parent_as_it_spends_and_owns_an_identity_range() -> None:
    parent = Ledger(Budget(10, tokens=100))
    parent.spend(1)
    first, second = parent.child(4), parent.child(3)  # two concurrent parts of one layer
    assert parent.next_identity == 8  # 1 spent + 4 + 3 reserved
    assert list(second.spend(2)) == [5, 6] and list(first.spend(1)) == [1]
    assert parent.spent == 4 and parent.remaining() == 6
    with pytest.raises(InvalidInputError):
        second.spend(2)  # its own allowance is 3
    nested = first.child(2, own_identities=True)  # a strategy run under a derived seed: numbered from 0
    assert list(nested.spend(2)) == [0, 1] and first.spent == 3 and parent.spent == 6


def test_usage_recorded_in_a_child_adds_up_in_every_ledger_above() -> None:
    parent = Ledger(Budget(4, tokens=10))
    child = parent.child(2)
    child.record(Usage(completion_tokens=7, engine_calls=1))
    parent.record(Usage(completion_tokens=3, engine_calls=1))
    assert child.recorded().completion_tokens == 7
    assert parent.recorded() == Usage(completion_tokens=10, engine_calls=2)
    assert parent.limit_reached() == "tokens" and child.limit_reached() is None
    assert parent.child(1).budget.tokens == 1  # what is left of the token budget, at least 1


@pytest.mark.parametrize(
    "strategy, options",
    [
        ("self-consistency", {"batch": 3}),
        ("adaptive-self-consistency", {}),
        ("revise", {}),
        ("best-of-n", {"scorer": "restart"}),
        ("routed", {"trajectory": "plan+cot+verify"}),
    ],
)
async def test_a_run_never_spends_more_generations_than_its_budget(strategy: str, options: dict[str, object]) -> None:
    engine = FakeEngine(["Think. The answer is 12.", "Hmm. The answer is 11."])
    judge = FakeEngine(["Yes"])
    run = ponder.start(
        QUESTION, engine, scorer_engine=judge, strategy=strategy, options=options, budget=7, seed=1, max_tokens=32
    )
    result = await run.run()
    drawn = sum(r.n for r in engine.requests)
    assert 0 < run.ctx.ledger.spent == drawn <= 7  # every sample drawn was charged, once
    identities = [r.first_index + i for r in engine.requests for i in range(r.n)]
    assert sorted(identities) == list(range(drawn))  # handed out in order, none twice
    assert result.usage.engine_calls == engine.calls and result.usage.scorer_calls == judge.calls
    assert sum(entry["usage"]["engine_calls"] for entry in result.trace) == engine.calls


async def test_a_pipeline_with_a_nested_strategy_counts_every_generation_once() -> None:
    engine = FakeEngine(["The answer is 12."])
    pipeline = {
        "layers": [
            [{"type": "generator", "samples": 2}, {"type": "strategy", "name": "self-consistency", "budget": 3}],
            {"type": "fuser"},
        ]
    }
    run = ponder.start(QUESTION, engine, pipeline=pipeline, budget=6)
    result = await run.run()
    drawn = sum(r.n for r in engine.requests)
    assert run.ctx.ledger.spent == drawn == 6  # 2 + 3 + 1, each charged once, as it was drawn
    components = result.trace[0]["components"]
    assert [c["generations"] for c in components] == [2, 3]
    seeds = {(r.seed, r.first_index + i) for r in engine.requests for i in range(r.n)}
    assert len(seeds) == drawn  # no two samples share an identity under one seed
