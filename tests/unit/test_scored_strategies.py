"""Sample-then-score strategies (best-of-n, weighted-best-of-n, weighted-majority) and the judges."""

from __future__ import annotations

import math

import pytest

import ponder
from ponder.core.errors import InvalidInputError
from ponder.core.result import Candidate
from ponder.core.usage import Usage
from ponder.engines import Completion, FakeEngine, GenerationRequest, Message, Scripted, TokenLogprob
from ponder.scorers import RestartJudge, SelfEvalJudge, SequenceProbability, make_scorer, verdict_probability

QUESTION = "What is 2 + 2?"
JUDGE_MARK = "Is the proposed solution's final answer correct?"  # the fresh prompt's question
FOLLOW_UP = "Is the final answer of the solution above correct? Reply with Yes or No."  # after the sample's chat
RESTART_MARK = "Would you do better if you started over?"


def yes(p: float) -> Scripted:
    """A one-token verdict with P(yes) = p and P(no) = 1 - p among the top alternatives."""
    return Scripted("Yes" if p >= 0.5 else "No", top=(("Yes", math.log(p)), ("No", math.log(1 - p))))


def judged_text(request: GenerationRequest) -> str | None:
    """The solution a self-eval judge request asks about (in either layout), else ``None``."""
    assert request.messages is not None
    last = request.messages[-1].content
    if last == FOLLOW_UP:  # the next turn of the sample's chat: the sample is the assistant's turn
        return request.messages[-2].content
    return last if JUDGE_MARK in last else None  # a fresh prompt quoting the solution


def scripted(samples: list[str], judge: dict[str, float]):  # type: ignore[no-untyped-def]
    """Sample identity i says ``samples[i]``; a judge asked about a text containing key k says P(yes)=judge[k]."""

    def script(request: GenerationRequest, index: int) -> Scripted | str:
        proposed = judged_text(request)
        if proposed is not None:
            return yes(next(p for key, p in judge.items() if key in proposed))
        return samples[request.first_index + index]

    return script


# Majority says 4; the judge prefers 5.
SAMPLES = ["The answer is 4.", "I get 4, so the answer is 4.", "The answer is 5."]


# -- best-of-n -------------------------------------------------------------------------------


async def test_best_of_n_picks_the_highest_p_yes() -> None:
    engine = FakeEngine(scripted(SAMPLES, {"answer is 4": 0.3, "answer is 5": 0.9}))
    result = await ponder.asolve(QUESTION, engine=engine, strategy="best-of-n", budget=3)
    assert result.answer == "5"
    assert result.stop_reason == "done"
    assert [c.score for c in result.candidates] == pytest.approx([0.3, 0.3, 0.9])
    assert result.votes == pytest.approx({"4": 0.3, "5": 0.9})
    assert [entry["action"] for entry in result.trace] == ["sample", "score"]
    assert result.trace[1]["scorer"] == "self-eval"
    assert result.trace[1]["scores"] == pytest.approx([0.3, 0.3, 0.9])


async def test_best_of_n_judge_requests() -> None:
    engine = FakeEngine(scripted(SAMPLES, {"answer is 4": 0.3, "answer is 5": 0.9}))
    await ponder.asolve(QUESTION, engine=engine, strategy="best-of-n", budget=3)
    sample_request, *judges = engine.requests
    assert sample_request.n == 3 and not sample_request.wants_logprobs
    assert len(judges) == 3
    for judge, text in zip(judges, SAMPLES, strict=True):
        assert judge.max_tokens == 1
        assert judge.top_logprobs > 0
        assert judge.temperature == 0.0
        assert judge.n == 1
        # the next turn of the sample's own chat: its prompt, its text untouched, then the question
        assert judge.messages == sample_request.messages + (Message("assistant", text), Message("user", FOLLOW_UP))
        assert not judge.assistant_prefix
    assert engine.calls == 2  # the judges are one batch


async def test_best_of_n_fresh_judge_quotes_question_and_solution() -> None:
    engine = FakeEngine(scripted(SAMPLES, {"answer is 4": 0.3, "answer is 5": 0.9}))
    result = await ponder.asolve(
        QUESTION, engine=engine, strategy="best-of-n", budget=3, options={"scorer": "self-eval:fresh"}
    )
    assert result.answer == "5"
    _, *judges = engine.requests
    for judge, text in zip(judges, SAMPLES, strict=True):
        [message] = judge.messages  # type: ignore[misc]
        assert message.role == "user"
        assert QUESTION in message.content and text in message.content and JUDGE_MARK in message.content


async def test_a_program_of_thought_sample_is_judged_in_its_own_chat() -> None:
    engine = FakeEngine(scripted(["print(2 + 2)"] * 2, {"print": 0.8}))
    result = await ponder.asolve(QUESTION, engine=engine, strategy="best-of-n", budget=2, options={"program": True})
    sample, *judges = engine.requests
    assert [c.answer for c in result.candidates] == ["4", "4"]
    assert all(j.messages[:-2] == sample.messages for j in judges)  # the program-writing chat, not the question's
    assert all(j.messages[-2] == Message("assistant", "print(2 + 2)") for j in judges)


async def test_best_of_n_ties_go_to_the_first_sample() -> None:
    engine = FakeEngine(
        scripted(["The answer is 7.", "The answer is 3.", "The answer is 3."], {"answer is 7": 0.6, "answer is 3": 0.6})
    )
    result = await ponder.asolve(QUESTION, engine=engine, strategy="best-of-n", budget=3)
    assert result.answer == "7"


async def test_best_of_n_ignores_unanswered_samples() -> None:
    engine = FakeEngine(scripted(["I am not sure.", "The answer is 4."], {"not sure": 0.99, "answer is 4": 0.2}))
    result = await ponder.asolve(QUESTION, engine=engine, strategy="best-of-n", budget=2)
    assert result.answer == "4"
    assert result.votes == pytest.approx({"4": 0.2})


async def test_interrupted_best_of_n_falls_back_to_majority() -> None:
    engine = FakeEngine(scripted(SAMPLES, {"answer is 4": 0.3, "answer is 5": 0.9}))
    run = ponder.start(QUESTION, engine, strategy="best-of-n", budget=3)
    assert await run.step()  # the samples only
    run.interrupt()
    assert not await run.step()
    result = run.result()
    assert result.stop_reason == "interrupted"
    assert result.answer == "4"
    assert result.votes == {"4": 2.0, "5": 1.0}
    assert all(c.score is None for c in result.candidates)
    assert result.usage.scorer_calls == 0
    assert all(judged_text(r) is None for r in engine.requests)


# -- weighted-best-of-n ----------------------------------------------------------------------


async def test_weighted_best_of_n_overturns_the_majority() -> None:
    engine = FakeEngine(scripted(SAMPLES, {"answer is 4": 0.2, "answer is 5": 0.9}))
    result = await ponder.asolve(QUESTION, engine=engine, strategy="weighted-best-of-n", budget=3)
    assert result.answer == "5"
    assert result.votes == pytest.approx({"4": 0.4, "5": 0.9})


async def test_weighted_best_of_n_sums_scores_per_answer() -> None:
    # best-of-n would pick 5 (0.9 > 0.6), but 4 has 0.6 + 0.6 in total.
    script = scripted(SAMPLES, {"answer is 4": 0.6, "answer is 5": 0.9})
    weighted = await ponder.asolve(QUESTION, engine=FakeEngine(script), strategy="weighted-best-of-n", budget=3)
    best = await ponder.asolve(QUESTION, engine=FakeEngine(script), strategy="best-of-n", budget=3)
    assert weighted.answer == "4"
    assert weighted.votes == pytest.approx({"4": 1.2, "5": 0.9})
    assert best.answer == "5"


async def test_weighted_best_of_n_groups_equivalent_answers() -> None:
    samples = ["The answer is 1/2.", "The answer is 0.5.", "The answer is 3."]
    engine = FakeEngine(scripted(samples, {"1/2": 0.5, "0.5": 0.5, "answer is 3": 0.8}))
    result = await ponder.asolve("Half of one?", engine=engine, strategy="weighted-best-of-n", budget=3)
    assert result.answer == "1/2"
    assert result.votes == pytest.approx({"1/2": 1.0, "3": 0.8})


async def test_interrupted_weighted_best_of_n_falls_back_to_majority() -> None:
    engine = FakeEngine(scripted(SAMPLES, {"answer is 4": 0.2, "answer is 5": 0.9}))
    run = ponder.start(QUESTION, engine, strategy="weighted-best-of-n", budget=3)
    await run.step()
    run.interrupt()
    result = await run.run()
    assert result.stop_reason == "interrupted"
    assert (result.answer, result.votes) == ("4", {"4": 2.0, "5": 1.0})


# -- weighted-majority -----------------------------------------------------------------------


def by_probability(request: GenerationRequest, index: int) -> Scripted:
    identity = request.first_index + index
    return [
        Scripted("The answer is 4.", logprob=-2.0),
        Scripted("The answer is 4.", logprob=-1.5),
        Scripted("The answer is 5.", logprob=-0.1),
    ][identity]


async def test_weighted_majority_weights_by_sequence_probability() -> None:
    engine = FakeEngine(by_probability)
    result = await ponder.asolve(QUESTION, engine=engine, strategy="weighted-majority", budget=3)
    [request] = engine.requests  # the probability scorer needs no engine call
    assert request.logprobs and request.n == 3
    assert [c.mean_logprob for c in result.candidates] == pytest.approx([-2.0, -1.5, -0.1])
    assert [c.score for c in result.candidates] == pytest.approx([math.exp(-2.0), math.exp(-1.5), math.exp(-0.1)])
    assert result.votes == pytest.approx({"4": math.exp(-2.0) + math.exp(-1.5), "5": math.exp(-0.1)})
    assert result.answer == "5"
    assert result.usage.scorer_calls == 0
    assert result.trace[1]["scorer"] == "probability"


async def test_weighted_majority_keeps_the_majority_when_probable() -> None:
    def script(request: GenerationRequest, index: int) -> Scripted:
        identity = request.first_index + index
        return Scripted("The answer is 5." if identity == 2 else "The answer is 4.", logprob=-0.7)

    result = await ponder.asolve(QUESTION, engine=FakeEngine(script), strategy="weighted-majority", budget=3)
    assert result.answer == "4"
    assert result.votes == pytest.approx({"4": 2 * math.exp(-0.7), "5": math.exp(-0.7)})


async def test_weighted_majority_with_a_judge() -> None:
    engine = FakeEngine(scripted(SAMPLES, {"answer is 4": 0.2, "answer is 5": 0.9}))
    result = await ponder.asolve(
        QUESTION, engine=engine, strategy="weighted-majority", budget=3, options={"scorer": "self-eval"}
    )
    assert not engine.requests[0].logprobs
    assert result.answer == "5"
    assert result.usage.scorer_calls == 1


async def test_best_of_n_with_probability_scorer_samples_with_logprobs() -> None:
    engine = FakeEngine(by_probability)
    result = await ponder.asolve(
        QUESTION, engine=engine, strategy="best-of-n", budget=3, options={"scorer": "probability"}
    )
    assert engine.requests[0].logprobs
    assert result.answer == "5"


# -- the scorers -----------------------------------------------------------------------------


def verdict(token: str, logprob: float, top: tuple[tuple[str, float], ...] = ()) -> Completion:
    return Completion(
        text=token,
        completion_tokens=1,
        finish_reason="length",
        usage=Usage(),
        logprobs=(TokenLogprob(token, logprob, top),),
    )


def test_verdict_probability_normalises_over_yes_and_no() -> None:
    completion = verdict(
        "Yes", math.log(0.6), (("Yes", math.log(0.6)), ("No", math.log(0.2)), ("Maybe", math.log(0.2)))
    )
    assert verdict_probability(completion, "yes") == pytest.approx(0.75)
    assert verdict_probability(completion, "no") == pytest.approx(0.25)


def test_verdict_probability_merges_spellings() -> None:
    completion = verdict(
        " yes", math.log(0.3), ((" yes", math.log(0.3)), ("Yes.", math.log(0.3)), ("NO", math.log(0.2)))
    )
    assert verdict_probability(completion, "yes") == pytest.approx(0.75)


def test_verdict_probability_without_top_uses_the_token() -> None:
    assert verdict_probability(verdict("No", -0.2), "no") == pytest.approx(1.0)
    assert verdict_probability(verdict("No", -0.2), "yes") == pytest.approx(0.0)


def test_verdict_probability_is_one_half_when_neither_appears() -> None:
    assert verdict_probability(verdict("Maybe", -0.1, (("Maybe", -0.1), ("Perhaps", -3.0))), "yes") == 0.5
    assert verdict_probability(verdict("Hmm", -0.1), "no") == 0.5
    no_logprobs = Completion(text="Yes", completion_tokens=1, finish_reason="length", usage=Usage())
    assert verdict_probability(no_logprobs, "yes") == 0.5
    empty = Completion(text="", completion_tokens=0, finish_reason="stop", usage=Usage(), logprobs=())
    assert verdict_probability(empty, "yes") == 0.5


def candidate(text: str, mean_logprob: float | None = None) -> Candidate:
    return Candidate(
        text=text, answer="4", finish_reason="stop", completion_tokens=len(text.split()), mean_logprob=mean_logprob
    )


async def test_restart_judge_scores_p_no_after_the_candidate() -> None:
    engine = FakeEngine([yes(0.1), Scripted("Maybe")])
    judge = RestartJudge(engine)
    scores = await judge.score(QUESTION, [candidate("  The answer is 4.  "), candidate("   ")])
    assert scores == pytest.approx([0.9, 0.5])
    first, second = engine.requests
    assert [m.role for m in first.messages] == ["user", "assistant", "user"]  # type: ignore[union-attr]
    assert first.messages[1].content == "The answer is 4."  # type: ignore[index]
    assert RESTART_MARK in first.messages[2].content  # type: ignore[index]
    assert second.messages[1].content == "..."  # type: ignore[index]
    assert first.max_tokens == 1 and first.top_logprobs > 0
    assert engine.calls == 1


async def test_judges_continue_the_candidates_chat_when_it_is_known() -> None:
    chat = (Message("system", "Be brief."), Message("user", QUESTION))
    known = Candidate(text="  The answer is 4.\n", answer="4", finish_reason="stop", completion_tokens=4, prompt=chat)
    for judge, question in ((SelfEvalJudge, FOLLOW_UP), (RestartJudge, RESTART_MARK)):
        engine = FakeEngine([yes(0.7)])
        await judge(engine).score(QUESTION, [known, candidate("The answer is 4.")])
        turn, fresh = engine.requests
        assert turn.messages[:2] == chat and turn.messages[2] == Message("assistant", "  The answer is 4.\n")
        assert turn.messages[3].role == "user" and question in turn.messages[3].content  # type: ignore[index]
        assert fresh.messages[0].content != "Be brief."  # type: ignore[index]  # no chat known: a fresh prompt
        assert (turn.max_tokens, turn.temperature, turn.top_logprobs) == (1, 0.0, 10)
        engine = FakeEngine([yes(0.7)])
        await judge(engine, reuse_cache=False).score(QUESTION, [known])
        [request] = engine.requests
        assert Message("system", "Be brief.") not in request.messages  # type: ignore[operator]


async def test_self_eval_judge_of_nothing_calls_no_engine() -> None:
    engine = FakeEngine(["Yes"])
    assert await SelfEvalJudge(engine).score(QUESTION, []) == []
    assert engine.calls == 0


async def test_sequence_probability_needs_logprobs() -> None:
    scorer = SequenceProbability()
    assert await scorer.score(QUESTION, [candidate("a", -1.0)]) == pytest.approx([math.exp(-1.0)])
    with pytest.raises(InvalidInputError, match="logprobs"):
        await scorer.score(QUESTION, [candidate("a", None)])


def test_make_scorer() -> None:
    engine = FakeEngine(["Yes"])
    assert isinstance(make_scorer("self-eval", engine), SelfEvalJudge)
    assert isinstance(make_scorer("restart", engine), RestartJudge)
    assert isinstance(make_scorer("probability", engine), SequenceProbability)
    fresh = make_scorer("self-eval:fresh", engine)
    assert isinstance(fresh, SelfEvalJudge) and not fresh.reuse_cache
    assert isinstance(make_scorer("restart:fresh", engine), RestartJudge)
    assert make_scorer("self-eval", engine).reuse_cache  # type: ignore[attr-defined]
    with pytest.raises(InvalidInputError, match="nope"):
        make_scorer("nope", engine)


async def test_a_failed_sample_weighs_nothing_in_a_probability_vote() -> None:
    from ponder.core.result import Candidate
    from ponder.scorers import SequenceProbability

    live = Candidate(text="The answer is 4.", answer="4", finish_reason="stop", completion_tokens=5, mean_logprob=-0.1)
    failed = Candidate(text="", answer=None, finish_reason="error", completion_tokens=0, evidence="HTTP 500")
    scores = await SequenceProbability().score("q", [live, failed])
    assert scores[1] == 0.0 and 0.9 < scores[0] < 0.91
