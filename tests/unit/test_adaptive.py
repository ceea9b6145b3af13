"""Adaptive self-consistency: batches, stopping rules, min_samples, pruning, determinism."""

from __future__ import annotations

import math

import pytest

import ponder
from ponder.core.errors import InvalidInputError
from ponder.core.seeding import derive_seed
from ponder.engines import FakeEngine, GenerationRequest, Scripted
from ponder.engines.fake import prompt_text

QUESTION = "What is 2 + 2?"
ADAPTIVE = "adaptive-self-consistency"
RESTART_MARK = "Would you do better if you started over?"


def restart_verdict(p_no: float) -> Scripted:
    return Scripted("No" if p_no >= 0.5 else "Yes", top=(("No", math.log(p_no)), ("Yes", math.log(1 - p_no))))


def is_judge(request: GenerationRequest) -> bool:
    return RESTART_MARK in prompt_text(request)


def agreeing(request: GenerationRequest, index: int) -> str:
    return "The answer is 4."


def alternating(request: GenerationRequest, index: int) -> str:
    return f"The answer is {4 + (request.first_index + index) % 2}."


def samples_of(engine: FakeEngine) -> list[GenerationRequest]:
    return [r for r in engine.requests if not is_judge(r)]


# -- stopping --------------------------------------------------------------------------------


async def test_agreeing_samples_stop_after_the_first_batch() -> None:
    engine = FakeEngine(agreeing)
    result = await ponder.asolve(QUESTION, engine=engine, strategy=ADAPTIVE, budget=16)
    assert result.stop_reason == "done"
    assert result.answer == "4"
    assert len(result.candidates) == 4
    assert len(result.trace) == 1
    last = result.trace[-1]
    assert last["stop"] is True
    assert last["n"] == 4 and last["kept"] == 4 and last["pruned"] == 0
    assert last["leader_probability"] == pytest.approx(31 / 32, abs=1e-4)
    assert last["votes"] == {"4": 4.0}
    assert engine.calls == 1
    assert result.usage.scorer_calls == 0


async def test_disagreeing_samples_use_the_whole_budget() -> None:
    engine = FakeEngine(alternating)
    result = await ponder.asolve(QUESTION, engine=engine, strategy=ADAPTIVE, budget=10)
    assert result.stop_reason == "done"
    assert len(result.candidates) == 10
    assert [entry["n"] for entry in result.trace] == [4, 4, 2]  # never past the budget
    assert all(entry["stop"] is False for entry in result.trace)
    assert result.votes == {"4": 5.0, "5": 5.0}
    assert result.answer == "4"


async def test_batches_continue_the_sample_identities() -> None:
    engine = FakeEngine(alternating)
    result = await ponder.asolve(QUESTION, engine=engine, strategy=ADAPTIVE, budget=12, seed=3)
    assert [r.first_index for r in engine.requests] == [0, 4, 8]
    assert [r.n for r in engine.requests] == [4, 4, 4]
    assert {r.seed for r in engine.requests} == {3}
    assert [c.index for c in result.candidates] == list(range(12))
    # The same samples as self-consistency draws with the same seed.
    sc = await ponder.asolve(QUESTION, engine=FakeEngine(alternating), budget=12, seed=3)
    assert [c.text for c in sc.candidates] == [c.text for c in result.candidates]


async def test_min_samples_is_respected() -> None:
    engine = FakeEngine(agreeing)
    result = await ponder.asolve(QUESTION, engine=engine, strategy=ADAPTIVE, budget=16, options={"min_samples": 8})
    assert len(result.candidates) == 8
    assert [entry["stop"] for entry in result.trace] == [False, True]
    assert result.stop_reason == "done"


async def test_min_samples_with_small_batches() -> None:
    engine = FakeEngine(agreeing)
    result = await ponder.asolve(
        QUESTION, engine=engine, strategy=ADAPTIVE, budget=16, options={"batch": 1, "min_samples": 3, "threshold": 0.7}
    )
    # beta(1, 0) = 0.75 already passes 0.7, but three samples come first.
    assert len(result.candidates) == 3
    assert [entry["stop"] for entry in result.trace] == [False, False, True]


async def test_threshold_controls_the_stop() -> None:
    # beta(5, 0) = 0.984 < 0.99 <= beta(6, 0) = 0.992: the rule is met at the 6th sample, mid-batch.
    engine = FakeEngine(agreeing)
    result = await ponder.asolve(QUESTION, engine=engine, strategy=ADAPTIVE, budget=16, options={"threshold": 0.99})
    assert len(result.candidates) == 6
    assert [(e["kept"], e["stopped"]) for e in result.trace] == [(4, 0), (2, 2)]


# -- the rule is checked after every sample, batches or not ----------------------------------


def growing(request: GenerationRequest, index: int) -> str:
    """Sample i of a batch is 2i words longer than sample 0 (so it finishes later)."""
    return "Step " * (2 * index) + "The answer is 4."


async def test_the_rule_is_checked_after_each_sample_and_the_rest_of_the_batch_is_stopped() -> None:
    """Regression: with batch=4 the rule used to be checked once per batch, so a batch whose third
    sample settles the vote still voted all four."""
    engine = FakeEngine(growing)
    result = await ponder.asolve(QUESTION, engine=engine, strategy=ADAPTIVE, budget=8, options={"threshold": 0.9})
    # beta(2, 0) = 0.875 < 0.9 <= beta(3, 0) = 0.9375: settled after the third sample.
    assert [c.index for c in result.candidates] == [0, 1, 2]
    assert result.votes == {"4": 3.0}
    [entry] = result.trace
    assert (entry["n"], entry["kept"], entry["stopped"], entry["discarded"]) == (4, 3, 1, 0)
    assert entry["stop"] is True and entry["leader_probability"] == pytest.approx(15 / 16, abs=1e-4)
    [request] = engine.requests
    assert request.n == 4  # one engine call for the batch
    # The stopped sample counts what it generated: 8 words when the third sample ended (4 + 6 + 8 + 8).
    assert result.usage.completion_tokens == 26
    assert result.usage.engine_calls == 1


def mixed(request: GenerationRequest, index: int) -> str:
    """Answers 4, 5, 4, 4, 6, 4, ... with later samples of a batch finishing first."""
    identity = request.first_index + index
    answer = {1: 5, 4: 6}.get(identity, 4)
    return "Step " * (2 * (request.n - index)) + f"The answer is {answer}."


@pytest.mark.parametrize("stop_rule", ["beta", "dirichlet"])
async def test_batches_change_the_cost_not_the_samples_that_vote(stop_rule: str) -> None:
    """Samples are checked in order, whatever order they finish in: every batch size votes the
    samples that drawing one at a time votes."""
    results = {}
    for batch in (1, 3, 4, 12):
        results[batch] = await ponder.asolve(
            QUESTION,
            engine=FakeEngine(mixed),
            strategy=ADAPTIVE,
            budget=12,
            options={"batch": batch, "threshold": 0.9, "stop_rule": stop_rule},
        )
    one = results[1]
    assert one.stop_reason == "done" and len(one.candidates) < 12
    for batch, result in results.items():
        assert [c.index for c in result.candidates] == [c.index for c in one.candidates], batch
        assert (result.answer, result.votes) == (one.answer, one.votes)
        last = result.trace[-1]
        assert last["stop"] is True
        wasted = sum(e["stopped"] + e["discarded"] for e in result.trace)
        assert sum(e["n"] for e in result.trace) == len(result.candidates) + wasted
    # One batch of 12: the later samples finish first, so those past the stopping point are discarded.
    assert results[12].trace[0]["discarded"] > 0


async def test_a_batch_from_an_engine_that_cannot_stop_one_sample_is_discarded_and_counted() -> None:
    class NoStreams(FakeEngine):
        stream = None  # type: ignore[assignment]  # not a streaming engine: samples arrive whole

    engine = NoStreams(growing)
    result = await ponder.asolve(QUESTION, engine=engine, strategy=ADAPTIVE, budget=8, options={"threshold": 0.9})
    assert [c.index for c in result.candidates] == [0, 1, 2]
    [entry] = result.trace
    assert (entry["kept"], entry["stopped"], entry["discarded"]) == (3, 0, 1)
    assert result.usage.completion_tokens == 4 + 6 + 8 + 10  # the whole batch, the discarded sample included


async def test_no_answers_never_stop_early() -> None:
    engine = FakeEngine(["I do not know."])
    result = await ponder.asolve(QUESTION, engine=engine, strategy=ADAPTIVE, budget=8)
    assert len(result.candidates) == 8
    assert result.answer is None
    assert all(entry["leader_probability"] == 0.0 for entry in result.trace)


async def test_dirichlet_rule_stops_on_agreement() -> None:
    engine = FakeEngine(agreeing)
    result = await ponder.asolve(
        QUESTION, engine=engine, strategy=ADAPTIVE, budget=16, options={"stop_rule": "dirichlet", "threshold": 0.9}
    )
    assert len(result.candidates) == 3  # P = 0.93 after three agreeing votes
    assert result.trace[-1]["stop"] is True


SELF_EVAL_SAMPLES = {0: ("4", 0.3), 1: ("5", 0.6), 2: ("4", 0.2), 3: ("6", 0.97), 4: ("4", 0.1), 5: ("4", 0.1)}


def self_evaluated(request: GenerationRequest, index: int) -> Scripted | str:
    """Answers 4, 5, 4, 6, ...; the judge's P(no) depends on the sample it is shown."""
    if is_judge(request):
        shown = request.messages[-2].content  # type: ignore[index]
        return restart_verdict(SELF_EVAL_SAMPLES[int(shown.split()[1].rstrip(":"))][1])
    identity = request.first_index + index
    return f"Sample {identity}: the answer is {SELF_EVAL_SAMPLES[identity][0]}."


async def test_self_eval_rule_judges_every_sample_and_picks_the_best_as_manvi_et_al() -> None:
    """Regression: the rule judged only the leading answer, and the answer was the vote."""
    engine = FakeEngine(self_evaluated)
    result = await ponder.asolve(
        QUESTION, engine=engine, strategy=ADAPTIVE, budget=6, options={"stop_rule": "self-eval", "threshold": 0.9}
    )
    assert result.stop_reason == "done"
    assert [c.index for c in result.candidates] == [0, 1, 2, 3]  # sample 3's P(no) = 0.97 >= 0.9 stops
    assert [c.score for c in result.candidates] == pytest.approx([0.3, 0.6, 0.2, 0.97])
    assert result.answer == "6"  # best-of-N by self-evaluation; the vote would say 4
    assert result.trace[-1]["leader_probability"] == pytest.approx(0.97)
    judges = [r for r in engine.requests if is_judge(r)]
    assert [r.messages[-2].content for r in judges] == [
        f"Sample {i}: the answer is {a}." for i, (a, _) in list(SELF_EVAL_SAMPLES.items())[:4]
    ]  # type: ignore[index]
    assert all(r.max_tokens == 1 and r.top_logprobs > 0 for r in judges)
    assert result.usage.scorer_calls == 4 and result.usage.engine_calls == 1  # stopped within the first batch


async def test_self_eval_rule_can_answer_by_vote() -> None:
    result = await ponder.asolve(
        QUESTION,
        engine=FakeEngine(self_evaluated),
        strategy=ADAPTIVE,
        budget=6,
        options={"stop_rule": "self-eval", "threshold": 0.9, "self_eval_select": "vote"},
    )
    assert len(result.candidates) == 4
    assert result.answer == "4" and result.votes == {"4": 2.0, "5": 1.0, "6": 1.0}


async def test_self_eval_rule_continues_when_the_model_would_restart() -> None:
    def script(request: GenerationRequest, index: int) -> Scripted | str:
        return restart_verdict(0.2) if is_judge(request) else agreeing(request, index)

    engine = FakeEngine(script)
    result = await ponder.asolve(
        QUESTION, engine=engine, strategy=ADAPTIVE, budget=12, options={"stop_rule": "self-eval"}
    )
    assert len(result.candidates) == 12  # unanimous, but the judge is not convinced
    assert result.usage.scorer_calls == 12  # one judgement per sample
    assert [entry["leader_probability"] for entry in result.trace] == pytest.approx([0.2, 0.2, 0.2])


def test_weighting_a_vote_that_self_eval_does_not_take_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="self_eval_select"):
        ponder.plan(QUESTION, strategy=ADAPTIVE, options={"stop_rule": "self-eval", "weight_by": "confidence"})
    ponder.plan(
        QUESTION,
        strategy=ADAPTIVE,
        options={"stop_rule": "self-eval", "weight_by": "confidence", "self_eval_select": "vote"},
    )


# -- pruning ---------------------------------------------------------------------------------

LONG = "Path {i} thinking hard. The answer is 4."  # 8 tokens
CONTINUATION = " hard. The answer is 4."  # after the 3-token partial "Path {i} thinking"
P_NO = {1: 0.2, 2: 0.9, 3: 0.6, 5: 0.7, 6: 0.1, 7: 0.3}


def pruning_script(request: GenerationRequest, index: int) -> Scripted | str:
    if is_judge(request):
        partial = request.messages[-2].content  # type: ignore[index]
        return restart_verdict(P_NO[int(partial.split()[1])])
    if request.assistant_prefix:
        return CONTINUATION
    identity = request.first_index + index
    if identity % 4 == 0:
        return "Answer: 4"  # finishes within the pruning length
    return LONG.format(i=identity)


async def test_pruning_continues_only_the_best_partials() -> None:
    engine = FakeEngine(pruning_script)
    result = await ponder.asolve(
        QUESTION, engine=engine, strategy=ADAPTIVE, budget=4, max_tokens=50, options={"prune_tokens": 3}
    )
    assert result.stop_reason == "done"
    [entry] = result.trace
    assert (entry["n"], entry["kept"], entry["pruned"]) == (4, 3, 1)

    sample, judges, continuations = engine.requests[0], engine.requests[1:4], engine.requests[4:]
    assert sample.n == 4 and sample.max_tokens == 3 and sample.first_index == 0
    # The three unfinished partials are judged (in one batch), the finished one is not.
    assert all(is_judge(r) for r in judges)
    assert [r.messages[-2].content for r in judges] == [f"Path {i} thinking" for i in (1, 2, 3)]  # type: ignore[index]
    # ceil(0.5 * 3) = 2 kept: P(no) 0.9 (sample 2) and 0.6 (sample 3); sample 1 (0.2) is dropped.
    assert [r.assistant_prefix for r in continuations] == ["Path 2 thinking", "Path 3 thinking"]
    assert all(r.max_tokens == 47 and r.n == 1 for r in continuations)
    assert [r.seed for r in continuations] == [derive_seed(0, 2, 1), derive_seed(0, 3, 1)]
    assert engine.calls == 3  # sample, judge, continue

    assert [c.index for c in result.candidates] == [0, 2, 3]
    first, second, third = result.candidates
    assert first.text == "Answer: 4" and first.completion_tokens == 2 and first.finish_reason == "stop"
    assert second.text == "Path 2 thinking hard. The answer is 4." and second.completion_tokens == 8
    assert third.finish_reason == "stop"
    assert result.answer == "4"
    assert result.votes == {"4": 3.0}
    # The dropped sample's tokens still count; judging is scorer usage.
    assert result.usage.completion_tokens == 2 + 3 * 3 + 2 * 5
    assert result.usage.engine_calls == 2
    assert result.usage.scorer_calls == 1


async def test_pruning_keeps_samples_that_finish_early_without_judging() -> None:
    engine = FakeEngine(lambda request, index: "Answer: 4")
    result = await ponder.asolve(
        QUESTION, engine=engine, strategy=ADAPTIVE, budget=4, max_tokens=50, options={"prune_tokens": 3}
    )
    assert engine.calls == 1
    assert len(result.candidates) == 4
    assert result.trace[0]["pruned"] == 0
    assert result.usage.scorer_calls == 0


async def test_pruning_keeps_at_least_one() -> None:
    engine = FakeEngine(pruning_script)
    result = await ponder.asolve(
        QUESTION,
        engine=engine,
        strategy=ADAPTIVE,
        budget=4,
        max_tokens=50,
        options={"prune_tokens": 3, "prune_keep": 0.01},
    )
    assert [c.index for c in result.candidates] == [0, 2]
    assert result.trace[0]["pruned"] == 2


async def test_pruning_off_when_prune_tokens_reach_max_tokens() -> None:
    engine = FakeEngine(pruning_script)
    result = await ponder.asolve(
        QUESTION, engine=engine, strategy=ADAPTIVE, budget=4, max_tokens=3, options={"prune_tokens": 3}
    )
    assert engine.calls == 1
    assert len(result.candidates) == 4


async def test_pruning_batches_have_distinct_sample_identities() -> None:
    """After a pruned batch the next batch draws new samples, not ones already drawn."""
    engine = FakeEngine(pruning_script)
    result = await ponder.asolve(
        QUESTION,
        engine=engine,
        strategy=ADAPTIVE,
        budget=8,
        max_tokens=50,
        options={"prune_tokens": 3, "threshold": 0.999},
    )
    sampling = [r for r in engine.requests if not is_judge(r) and not r.assistant_prefix]
    assert [(r.first_index, r.n) for r in sampling] == [(0, 4), (4, 4)]
    indices = [c.index for c in result.candidates]
    assert len(indices) == len(set(indices))
    assert indices == [0, 2, 3, 4, 5, 7]
    assert [entry["pruned"] for entry in result.trace] == [1, 1]


# -- determinism -----------------------------------------------------------------------------


def seeded(request: GenerationRequest, index: int) -> Scripted | str:
    if is_judge(request):
        return restart_verdict(0.5 + (request.seed % 7) / 20)
    return f"The answer is {(request.seed + request.first_index + index) % 3}."


@pytest.mark.parametrize("stop_rule", ["beta", "dirichlet", "self-eval"])
async def test_same_seed_same_result(stop_rule: str) -> None:
    def solve(seed: int):  # type: ignore[no-untyped-def]
        return ponder.asolve(
            QUESTION,
            engine=FakeEngine(seeded),
            strategy=ADAPTIVE,
            budget=12,
            seed=seed,
            options={"stop_rule": stop_rule, "batch": 3, "threshold": 0.8},
        )

    first, second = await solve(11), await solve(11)
    assert first.answer == second.answer
    assert first.candidates == second.candidates
    assert first.votes == second.votes
    assert first.trace == second.trace
    assert first.stop_reason == second.stop_reason
