"""The strategy base as a plug-in author meets it: the README's example runs as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import ponder
from ponder.engines import FakeEngine
from ponder.strategies import Strategy, StrategyRun

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_strategy() -> type[Strategy[Any, Any]]:
    section = README.read_text(encoding="utf-8").split("### Writing a strategy", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), "README.md", "exec"), namespace)
    return namespace["Twice"]  # type: ignore[no-any-return]


async def test_the_readme_strategy_spends_its_budget_through_the_ledger() -> None:
    twice = readme_strategy()
    engine = FakeEngine(["The answer is 12.", "The answer is 12.", "The answer is 7."])
    plan = ponder.plan("How many?", budget=5, seed=2)
    ctx = plan.start(engine).ctx
    result = await StrategyRun(twice(), ctx).run()
    assert [entry["n"] for entry in result.trace] == [2, 3] and ctx.ledger.spent == 5
    assert [c.index for c in result.candidates] == [0, 1, 2, 3, 4] and result.answer == "12"
    assert all(r.temperature == 0.8 for r in engine.requests)  # several samples: the strategy's default
    assert twice.from_options({"first": "1"}).params.first == 1  # options from text, checked by type
