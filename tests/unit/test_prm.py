"""Process reward models without a network: aggregation, steps, the self-evaluation and scripted
PRMs, and building PRMs from specs."""

from __future__ import annotations

import math

import pytest

from ponder.core.errors import InvalidInputError
from ponder.core.result import Candidate
from ponder.engines import FakeEngine, GenerationRequest, Message, Scripted
from ponder.engines.fake import prompt_text
from ponder.scorers import SCORERS, make_scorer
from ponder.scorers.prm import (
    NEUTRAL_SCORE,
    GenericHttpPRM,
    ProcessRewardModel,
    ScriptedPRM,
    SelfEvalPRM,
    VllmPRM,
    aggregate,
    make_prm,
    reply_prefixes,
    split_raw_steps,
    split_steps,
)
from ponder.scorers.prm.self_eval import STEP_FOLLOW_UP, WHOLE_FOLLOW_UP

QUESTION = "What is 2 + 3 * 4?"
GOOD = ["3 * 4 = 12.", "2 + 12 = 14.", "The answer is 14."]
BAD = ["2 + 3 = 5.", "5 * 4 = 20.", "The answer is 20."]


def verdict(p: float) -> Scripted:
    """A one-token verdict with P(yes) = p and P(no) = 1 - p among the top alternatives."""
    return Scripted("Yes" if p >= 0.5 else "No", top=(("Yes", math.log(p)), ("No", math.log(1 - p))))


def judge_by_content(table: dict[str, float]):  # type: ignore[no-untyped-def]
    """A fake judge: P(yes) from the first table key found in the part of the prompt being judged."""

    def script(request: GenerationRequest, index: int) -> Scripted:
        prompt = prompt_text(request)
        judged = prompt.split("Newest step:")[-1] if "Newest step:" in prompt else prompt.split("Steps so far:")[-1]
        return verdict(next((p for key, p in table.items() if key in judged), 0.5))

    return script


def candidate(text: str, finish: str = "stop", prompt: tuple[Message, ...] | None = None) -> Candidate:
    return Candidate(
        text=text,
        answer=None,
        finish_reason=finish,  # type: ignore[arg-type]
        completion_tokens=len(text.split()),
        prompt=prompt,
    )


CHAT = (Message("system", "Think step by step."), Message("user", QUESTION))


def judge_turns(table: dict[str, float]):  # type: ignore[no-untyped-def]
    """A fake judge of questions asked after the sample's chat: P(yes) from the first table key found in
    the judged reply's last step (per-step questions) or in the whole reply."""

    def script(request: GenerationRequest, index: int) -> Scripted:
        assert request.messages is not None
        reply, question = request.messages[-2].content, request.messages[-1].content
        judged = split_steps(reply)[-1] if question == STEP_FOLLOW_UP else reply
        return verdict(next((p for key, p in table.items() if key in judged), 0.5))

    return script


# -- aggregation and steps ---------------------------------------------------------------------


def test_aggregate_math() -> None:
    scores = [0.9, 0.5, 0.8]
    assert aggregate(scores, "last") == 0.8
    assert aggregate(scores, "min") == 0.5
    assert aggregate(scores, "product") == pytest.approx(0.36)
    assert aggregate([0.7], "whole") == 0.7
    for how in ("last", "min", "product", "whole"):
        assert aggregate([], how) == NEUTRAL_SCORE == 0.5  # type: ignore[arg-type]


def test_aggregate_rejects_unknown() -> None:
    with pytest.raises(InvalidInputError, match="unknown PRM aggregation 'mean'"):
        aggregate([0.5], "mean")  # type: ignore[arg-type]


def test_split_steps() -> None:
    assert split_steps("a\n\n  b  \n\n\n\nc\n") == ["a", "b", "c"]
    assert split_steps("") == []
    assert split_steps("  \n\n ") == []
    assert split_steps("one line\nsecond line") == ["one line\nsecond line"]
    assert split_steps("x; y;z", delimiter=";") == ["x", "y", "z"]
    with pytest.raises(InvalidInputError, match="delimiter"):
        split_steps("x", delimiter="")


# -- scripted PRM ------------------------------------------------------------------------------


async def test_scripted_prm_callable_and_table() -> None:
    prm = ScriptedPRM(lambda q, steps: [0.9 if "12" in s else 0.1 for s in steps], aggregation="min")
    assert isinstance(prm, ProcessRewardModel)
    assert await prm.score_steps(QUESTION, [GOOD[:2], BAD[:2], []]) == [[0.9, 0.9], [0.1, 0.1], []]
    assert prm.calls == [(QUESTION, [GOOD[:2], BAD[:2], []])]
    table = ScriptedPRM({"= 14": 0.95, "= 20": 0.05}, default=0.6)
    assert await table.score_steps(QUESTION, [GOOD[:2], BAD[:2]]) == [[0.6, 0.95], [0.6, 0.05]]
    whole = ScriptedPRM({"= 14": 0.95}, aggregation="whole", default=0.2)
    assert await whole.score_steps(QUESTION, [GOOD, BAD]) == [[0.95], [0.2]]


async def test_scripted_prm_checks_its_script() -> None:
    with pytest.raises(InvalidInputError, match="returned 1 score"):
        await ScriptedPRM(lambda q, steps: [0.5]).score_steps(QUESTION, [GOOD])
    with pytest.raises(InvalidInputError, match=r"in \[0, 1\]"):
        await ScriptedPRM(lambda q, steps: 1.5).score_steps(QUESTION, [GOOD])


async def test_prm_scores_candidates_as_a_scorer() -> None:
    prm = ScriptedPRM({"= 14": 0.9, "= 20": 0.2, "answer": 0.7}, aggregation="min")
    texts = ["\n\n".join(GOOD), "\n\n".join(BAD), ""]
    scores = await prm.score(QUESTION, [candidate(t) for t in texts] + [candidate("", "error")])
    # GOOD: "3 * 4 = 12." matches no key (default 0.5), then 0.9 and 0.7: min 0.5. BAD: min 0.2.
    assert scores == pytest.approx([0.5, 0.2, NEUTRAL_SCORE, 0.0])
    assert prm.calls[-1][1] == [GOOD, BAD, []]  # the failed sample was not sent


# -- self-evaluation PRM -----------------------------------------------------------------------


async def test_self_eval_whole_one_call_for_all_partials() -> None:
    engine = FakeEngine(judge_by_content({"= 20": 0.2, "= 14": 0.9, "= 12": 0.7}))
    prm = SelfEvalPRM(engine)
    assert prm.aggregation == "whole" and prm.info.kind == "prm"
    scores = await prm.score_steps(QUESTION, [GOOD[:1], GOOD[:2], BAD[:2], []])
    assert scores == [[pytest.approx(0.7)], [pytest.approx(0.9)], [pytest.approx(0.2)], []]
    assert engine.calls == 1 and len(engine.requests) == 3
    request = engine.requests[1]
    assert (request.max_tokens, request.temperature, request.top_logprobs) == (1, 0.0, 10)
    prompt = prompt_text(request)
    assert QUESTION in prompt and "Step 1: 3 * 4 = 12." in prompt and "Step 2: 2 + 12 = 14." in prompt
    assert "likely to lead to the correct final answer" in prompt


async def test_self_eval_normalises_yes_over_yes_and_no() -> None:
    # P(yes)=0.3 and P(no)=0.1 among the alternatives (other tokens hold the rest): 0.3 / 0.4.
    top = (("Yes", math.log(0.3)), ("No", math.log(0.1)), ("Maybe", math.log(0.6)))
    prm = SelfEvalPRM(FakeEngine([Scripted("Maybe", top=top)]))
    assert await prm.score_steps(QUESTION, [GOOD]) == [[pytest.approx(0.75)]]
    # Neither yes nor no among the alternatives: neutral.
    prm = SelfEvalPRM(FakeEngine([Scripted("Hmm", top=(("Hmm", -0.1),))]))
    assert await prm.score_steps(QUESTION, [GOOD]) == [[0.5]]


async def test_self_eval_per_step_mode_shows_earlier_steps_and_memoises() -> None:
    engine = FakeEngine(judge_by_content({"= 20": 0.1, "= 5": 0.6, "= 14": 0.9, "= 12": 0.8, "answer": 0.7}))
    prm = SelfEvalPRM(engine, aggregation="min")
    scores = await prm.score_steps(QUESTION, [GOOD[:2], BAD[:2]])
    assert scores == [[pytest.approx(0.8), pytest.approx(0.9)], [pytest.approx(0.6), pytest.approx(0.1)]]
    assert engine.calls == 1 and len(engine.requests) == 4
    second = prompt_text(engine.requests[1])
    assert "Earlier steps:\n\nStep 1: 3 * 4 = 12." in second and "Newest step: 2 + 12 = 14." in second
    assert "Earlier steps:\n\n(none)" in prompt_text(engine.requests[0])
    # Extending both partials by one step, plus a resampled copy, asks only about the new steps.
    extended = [GOOD, BAD, GOOD]
    scores = await prm.score_steps(QUESTION, extended)
    assert engine.calls == 2 and len(engine.requests) == 6
    assert [len(row) for row in scores] == [3, 3, 3] and scores[0] == scores[2]
    assert await prm.score(QUESTION, [candidate("\n\n".join(GOOD))]) == [pytest.approx(0.7)]  # min of 0.8, 0.9, 0.7
    assert engine.calls == 2  # all cached


async def test_self_eval_last_mode_scores_only_the_last_step_of_candidates() -> None:
    engine = FakeEngine(judge_by_content({"answer is 14": 0.9, "answer is 20": 0.3}))
    prm = SelfEvalPRM(engine, aggregation="last")
    texts = ["\n\n".join(GOOD), "\n\n".join(BAD)]
    scores = await prm.score(QUESTION, [candidate(t) for t in texts] + [candidate("x", "error"), candidate("")])
    assert scores == pytest.approx([0.9, 0.3, 0.0, 0.5])
    assert engine.calls == 1 and len(engine.requests) == 2
    assert "Step 2: 2 + 12 = 14." in prompt_text(engine.requests[0])  # context
    assert "Newest step: The answer is 14." in prompt_text(engine.requests[0])


async def test_self_eval_nothing_to_ask_makes_no_call() -> None:
    engine = FakeEngine(["Yes"])
    assert await SelfEvalPRM(engine).score_steps(QUESTION, [[], []]) == [[], []]
    assert await SelfEvalPRM(engine).score(QUESTION, []) == []
    assert engine.calls == 0


# -- specs and the registry --------------------------------------------------------------------


def test_raw_steps_join_back_to_the_text() -> None:
    text = "a\n\n  b  \n\n\n\nc\n"
    assert split_raw_steps(text) == ["a\n\n", "  b  \n\n", "\n\n", "c\n"]
    assert "".join(split_raw_steps(text)) == text and split_raw_steps("") == [""]
    assert reply_prefixes(split_raw_steps(text)) == ["a\n\n", "a\n\n  b  \n\n", text]
    assert len(reply_prefixes(split_raw_steps(text))) == len(split_steps(text))
    assert reply_prefixes(["", "  "]) == []


async def test_self_eval_asks_as_the_next_turn_of_the_candidates_chat() -> None:
    engine = FakeEngine(judge_turns({"= 14": 0.9, "= 20": 0.2}))
    prm = SelfEvalPRM(engine)
    texts = ["\n\n".join(GOOD) + "\n", "\n\n".join(BAD)]
    scores = await prm.score(QUESTION, [candidate(t, prompt=CHAT) for t in texts] + [candidate("", prompt=CHAT)])
    assert scores == pytest.approx([0.9, 0.2, NEUTRAL_SCORE])
    assert engine.calls == 1 and len(engine.requests) == 2  # the empty answer is not asked about
    first = engine.requests[0]
    # the sample's own chat, its text exactly as generated, then the question: a prefix-cache hit
    assert first.messages == CHAT + (Message("assistant", texts[0]), Message("user", WHOLE_FOLLOW_UP))
    assert (first.max_tokens, first.temperature, first.top_logprobs) == (1, 0.0, 10)


async def test_self_eval_per_step_turns_end_at_each_step_and_are_memoised() -> None:
    engine = FakeEngine(judge_turns({"= 12": 0.8, "= 14": 0.9, "answer": 0.7}))
    prm = SelfEvalPRM(engine, aggregation="min")
    text = "\n\n".join(GOOD)
    assert await prm.score(QUESTION, [candidate(text, prompt=CHAT)]) == [pytest.approx(0.7)]
    replies = [r.messages[-2].content for r in engine.requests]  # type: ignore[index]
    assert replies == [GOOD[0] + "\n\n", GOOD[0] + "\n\n" + GOOD[1] + "\n\n", text]
    assert all(r.messages[-1] == Message("user", STEP_FOLLOW_UP) for r in engine.requests)  # type: ignore[index]
    # step search: the same chat, steps as generated (delimiters kept); known steps are not asked again
    steps = [GOOD[0] + "\n\n", GOOD[1] + "\n\n", GOOD[2]]
    assert await prm.score_steps_in_chat(QUESTION, CHAT, [steps[:2], steps, []]) == [
        [pytest.approx(0.8), pytest.approx(0.9)],
        [pytest.approx(0.8), pytest.approx(0.9), pytest.approx(0.7)],
        [],
    ]
    assert engine.calls == 1


async def test_self_eval_fresh_prompts_without_a_chat_or_when_asked() -> None:
    for prm, text in (
        (SelfEvalPRM(FakeEngine(["Yes"])), candidate("\n\n".join(GOOD))),
        (SelfEvalPRM(FakeEngine(["Yes"]), reuse_cache=False), candidate("\n\n".join(GOOD), prompt=CHAT)),
    ):
        await prm.score(QUESTION, [text])
        [request] = prm.engine.requests  # type: ignore[attr-defined]
        [message] = request.messages
        assert message.role == "user" and "Step 1: 3 * 4 = 12." in message.content and QUESTION in message.content
    fresh = SelfEvalPRM(FakeEngine(["Yes"]), reuse_cache=False)
    await fresh.score_steps_in_chat(QUESTION, CHAT, [[GOOD[0] + "\n\n", "  "]])
    [request] = fresh.engine.requests  # type: ignore[attr-defined]
    assert "Steps so far:\n\nStep 1: 3 * 4 = 12.\n\nAre" in prompt_text(request)


def test_make_prm_specs() -> None:
    engine = FakeEngine(["Yes"])
    default = make_prm("", engine)
    assert isinstance(default, SelfEvalPRM) and default.engine is engine and default.aggregation == "whole"
    assert make_prm("self-eval-prm:min", engine).aggregation == "min"
    assert make_prm("self-eval-prm", engine, aggregation="last").aggregation == "last"
    assert default.reuse_cache and not make_prm("self-eval-prm:fresh", engine).reuse_cache  # type: ignore[attr-defined]
    fresh_min = make_prm("self-eval-prm:min:fresh", engine)
    assert isinstance(fresh_min, SelfEvalPRM) and fresh_min.aggregation == "min" and not fresh_min.reuse_cache
    vllm = make_prm("vllm:http://127.0.0.1:8000", engine)
    assert isinstance(vllm, VllmPRM) and vllm.model == "Qwen/Qwen2.5-Math-PRM-7B" and vllm.aggregation == "last"
    assert vllm.endpoint == "/pooling"
    other = make_prm("vllm:http://127.0.0.1:8000/v1#Qwen/Qwen2.5-Math-PRM-72B", engine, aggregation="min")
    assert isinstance(other, VllmPRM) and other.model == "Qwen/Qwen2.5-Math-PRM-72B"
    assert other.endpoint == "/pooling" and other.aggregation == "min"
    generic = make_prm("http:http://127.0.0.1:9000/score", engine)
    assert isinstance(generic, GenericHttpPRM) and generic.path == "/score"
    assert isinstance(make_prm("https://prm.example.org/v1/prm", engine), GenericHttpPRM)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("bogus", "unknown PRM spec 'bogus'"),
        ("tcp:host", "unknown PRM spec"),
        ("vllm:", "names no URL"),
        ("vllm:localhost:8000", "must start with http"),
        ("http:ftp://x", "must start with http"),
        ("self-eval-prm:mean", "unknown PRM aggregation 'mean'"),
        ("self-eval-prm:min:last", "more than one aggregation"),
    ],
)
def test_make_prm_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        make_prm(spec, FakeEngine(["Yes"]))


def test_make_prm_conflicting_aggregation() -> None:
    with pytest.raises(InvalidInputError, match="says aggregation 'min'"):
        make_prm("self-eval-prm:min", FakeEngine(["Yes"]), aggregation="last")
    with pytest.raises(InvalidInputError, match="unknown PRM aggregation"):
        make_prm("self-eval-prm", FakeEngine(["Yes"]), aggregation="avg")  # type: ignore[arg-type]


def test_registered_as_a_scorer() -> None:
    assert "self-eval-prm" in SCORERS
    scorer = make_scorer("self-eval-prm", FakeEngine(["Yes"]))
    assert isinstance(scorer, SelfEvalPRM) and scorer.info.kind == "prm"


def test_prm_input_forms() -> None:
    from ponder.scorers.prm import PRM_INPUTS, check_prm_input

    assert PRM_INPUTS == ("joined", "steps") and check_prm_input("joined") == "joined"
    with pytest.raises(InvalidInputError, match="unknown PRM input form 'split'; choose one of joined, steps"):
        check_prm_input("split")
