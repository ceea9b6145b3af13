"""Best-of-n with the unit-test verifier on a HumanEval problem (scripted candidates)."""

from __future__ import annotations

import gzip
import json

import ponder
from ponder.bench.catalog import builtin_file
from ponder.engines import FakeEngine
from ponder.verifiers import UnitTestVerifier


def first_problem() -> dict[str, str]:
    with gzip.open(builtin_file("humaneval"), "rt") as handle:
        return json.loads(handle.readline())


async def test_best_of_n_picks_the_candidate_that_passes_its_tests() -> None:
    problem = first_problem()
    good = f"```python\n{problem['prompt']}{problem['canonical_solution']}```"
    bad = f"```python\n{problem['prompt']}    return False\n```"
    engine = FakeEngine([bad, good, bad])
    result = await ponder.asolve(
        problem["prompt"],
        engine=engine,
        strategy="best-of-n",
        budget=3,
        task="code",
        options={"scorer": "unit-tests"},
        scorers={"unit-tests": UnitTestVerifier.from_problem(problem)},
    )
    assert [c.score for c in result.candidates] == [0.0, 1.0, 0.0]
    assert result.answer == f"{problem['prompt']}{problem['canonical_solution']}".strip()
    assert result.usage.scorer_calls == 0  # an exact verifier spends no model tokens
