"""Writing concept memory: parsing the model's abstraction, when a run may write, and a concept
learned on one problem reaching the prompt of the next."""

from __future__ import annotations

from pathlib import Path

import pytest

import ponder
from ponder.context.metered import MeteredEngine
from ponder.core.budget import Budget
from ponder.core.errors import InvalidInputError
from ponder.core.ledger import Ledger
from ponder.core.result import Candidate, SolveResult
from ponder.core.settings import DEFAULT_SYSTEM_PROMPT
from ponder.core.usage import Usage
from ponder.engines import FakeEngine, GenerationRequest, Message
from ponder.engines.base import Completion
from ponder.memory import Memory, MemoryStore, NewConcept, question_source
from ponder.memory.prompts import EXAMPLE_SITUATION, EXAMPLE_SUGGESTION
from ponder.memory.write import abstract, parse_concepts

QUESTION = "Tom has 12 apples and shares them equally among 4 friends. How many apples does each friend get?"
SOLUTION = "Each friend gets 12 / 4 = 3 apples. The answer is 3."
GOOD = (
    "situation: a total is shared equally among several people\n"
    "suggestion: divide the total by the number of people\n"
    "\n"
    "situation: the size of one share is asked\n"
    "suggestion: check that the shares multiplied by the people give back the total\n"
)


def pairs(concepts: list[NewConcept]) -> list[tuple[str, str]]:
    return [(c.situation, c.suggestion) for c in concepts]


# -- parsing ---------------------------------------------------------------------------


def test_a_well_formed_reply_gives_its_concepts() -> None:
    concepts, notes = parse_concepts(GOOD, question=QUESTION, source="mawps#1")
    assert pairs(concepts) == [
        ("a total is shared equally among several people", "divide the total by the number of people"),
        ("the size of one share is asked", "check that the shares multiplied by the people give back the total"),
    ]
    assert {c.source for c in concepts} == {"mawps#1"} and notes == []


def test_markup_numbering_continuations_and_thinking_are_read() -> None:
    reply = (
        "<think>situation: ignore me\nsuggestion: ignored</think>\n"
        "Here are the concepts:\n"
        "1. **Situation:** When a total is shared equally\n"
        "   among several people.\n"
        "   **Suggestion:** divide the total\n"
        "   by the number of people.\n"
        "```yaml\n"
        '- situation: "if two amounts are combined,"\n'
        "  suggestion: 'add the two amounts'\n"
        "```\n"
    )
    concepts, _ = parse_concepts(reply)
    assert pairs(concepts) == [
        ("a total is shared equally among several people", "divide the total by the number of people."),
        ("two amounts are combined", "add the two amounts"),
    ]


@pytest.mark.parametrize(
    ("reply", "note"),
    [
        ("situation: a total is shared equally\n\nsituation: another one\nsuggestion: do it", "without a suggestion"),
        ("suggestion: divide the total\nsituation: x\nsuggestion: y", "suggestion without a situation"),
        ("situation: ***\nsuggestion: divide", "empty field"),
        ("situation: shares \udcff\nsuggestion: divide", "not valid UTF-8"),
        (f"situation: {EXAMPLE_SITUATION}\nsuggestion: {EXAMPLE_SUGGESTION}", "prompt's example"),
        ("situation: 12 apples are shared among friends\nsuggestion: divide by 4", "numbers (12)"),
    ],
)
def test_malformed_entries_are_skipped_with_a_note(reply: str, note: str) -> None:
    concepts, notes = parse_concepts(reply, question=QUESTION)
    assert any(note in n for n in notes), notes
    assert all("\udcff" not in c.situation for c in concepts)
    assert all(c.situation != EXAMPLE_SITUATION for c in concepts)


def test_general_numbers_are_kept_and_problem_numbers_can_be() -> None:
    concepts, _ = parse_concepts("situation: a half is asked\nsuggestion: divide by 2", question=QUESTION)
    assert len(concepts) == 1  # 2 is not one of the problem's numbers, and 0-10 are general anyway
    reply = "situation: 12 items are shared\nsuggestion: divide 12 by the count"
    assert parse_concepts(reply, question=QUESTION)[0] == []
    assert len(parse_concepts(reply, question=QUESTION, keep_problem_numbers=True)[0]) == 1


@pytest.mark.parametrize("reply", ["", "The answer is 3.", "I cannot help with that.", "situation:\nsuggestion:"])
def test_a_reply_with_no_valid_concept_gives_none(reply: str) -> None:
    assert parse_concepts(reply, question=QUESTION)[0] == []


def test_repeats_the_concept_limit_and_field_caps() -> None:
    entry = "situation: a total is shared equally\nsuggestion: divide the total by the count\n"
    concepts, notes = parse_concepts(entry + entry.upper(), question=QUESTION)
    assert len(concepts) == 1 and any("repeated" in n for n in notes)
    many = "".join(f"situation: kind {w} of problem\nsuggestion: method {w}\n" for w in "abcde")
    concepts, notes = parse_concepts(many, max_concepts=3)
    assert [c.situation for c in concepts] == ["kind a of problem", "kind b of problem", "kind c of problem"]
    assert any("beyond the first 3" in n for n in notes)
    long = "situation: " + "word " * 200 + "\nsuggestion: " + "x" * 500
    [concept], _ = parse_concepts(long, field_chars=50)
    assert len(concept.situation) <= 50 and concept.situation.endswith("...")
    assert len(concept.suggestion) <= 50


# -- abstract --------------------------------------------------------------------------


def meter(script: list[str], *, generations: int = 1) -> tuple[FakeEngine, MeteredEngine, Ledger]:
    engine = FakeEngine(script)
    ledger = Ledger(Budget(generations=generations))
    return engine, MeteredEngine(engine, ledger), ledger


async def test_abstract_asks_once_seeded_at_temperature_zero_and_counts_the_call() -> None:
    engine, metered, ledger = meter([GOOD])
    trace: dict[str, object] = {}
    concepts = await abstract(
        metered, question=QUESTION, solution=SOLUTION, answer="3", source="p1", seed=11, max_concepts=2, trace=trace
    )
    assert len(concepts) == 2
    [request] = engine.requests
    assert (request.temperature, request.seed, request.first_index, request.n) == (0.0, 11, 0, 1)
    assert request.messages is not None
    user = request.messages[-1].content
    assert QUESTION in user and SOLUTION in user and "Final answer: 3" in user and "1 to 2 reusable concepts" in user
    assert ledger.spent == 1
    assert ledger.recorded().completion_tokens == len(GOOD.split()) and ledger.recorded().engine_calls == 1
    assert trace["reply"] == GOOD and trace["finish_reason"] == "stop" and trace["notes"] == []


async def test_a_primed_reply_continues_situation_and_is_parsed_with_it() -> None:
    engine, metered, _ = meter([GOOD.removeprefix("situation:")])  # the model writes only the continuation
    trace: dict[str, object] = {}
    concepts = await abstract(metered, question=QUESTION, solution=SOLUTION, answer="3", prime=True, trace=trace)
    [request] = engine.requests
    assert request.assistant_prefix == "situation:"
    assert len(concepts) == 2 and concepts[0].situation == "a total is shared equally among several people"
    assert trace["reply"] == GOOD
    unprimed, _, _ = meter([GOOD])
    await abstract(MeteredEngine(unprimed, Ledger(Budget(1))), question=QUESTION, solution=SOLUTION, answer="3")
    assert unprimed.requests[0].assistant_prefix == ""  # the paper's default: no priming


@pytest.mark.parametrize("max_tokens", [25, 30])  # cut in the second situation, in the second suggestion
async def test_abstract_drops_a_concept_cut_by_max_tokens(max_tokens: int) -> None:
    _, metered, _ = meter([GOOD])
    trace: dict[str, object] = {}
    concepts = await abstract(
        metered, question=QUESTION, solution=SOLUTION, answer="3", max_tokens=max_tokens, trace=trace
    )
    assert trace["finish_reason"] == "length"
    assert pairs(concepts) == [
        ("a total is shared equally among several people", "divide the total by the number of people")
    ]


def test_a_truncated_reply_keeps_a_concept_that_ended_before_the_cut() -> None:
    reply = "situation: two amounts are combined\nsuggestion: add the two amounts\n\nsituation: a trip"
    assert len(parse_concepts(reply, truncated=True)[0]) == 1
    assert parse_concepts("situation: two amounts are combined\nsuggestion: add the", truncated=True)[0] == []


class FailingEngine(FakeEngine):
    async def generate(self, requests: object) -> list[list[Completion]]:
        return [[Completion("", 0, "error", Usage(), error="the server went away")]]


async def test_abstract_of_a_failed_sample_gives_nothing() -> None:
    trace: dict[str, object] = {}
    engine = MeteredEngine(FailingEngine(["x"]))
    assert await abstract(engine, question=QUESTION, solution=SOLUTION, answer="3", trace=trace) == []
    assert trace["notes"] == ["the model failed: the server went away"]


async def test_abstract_refuses_bad_input() -> None:
    _, metered, _ = meter([GOOD])
    with pytest.raises(InvalidInputError, match="the solution is not valid UTF-8"):
        await abstract(metered, question=QUESTION, solution="bad \udcff", answer="3")
    with pytest.raises(InvalidInputError, match="empty solution"):
        await abstract(metered, question=QUESTION, solution="  ", answer="3")


# -- Memory.write decisions ------------------------------------------------------------


def result(answers: list[str | None], *, texts: list[str] | None = None) -> SolveResult:
    texts = texts or [f"Working... The answer is {a}." for a in answers]
    candidates = [
        Candidate(t, a, "stop", len(t.split()), index=i) for i, (t, a) in enumerate(zip(texts, answers, strict=True))
    ]
    votes: dict[str, float] = {}
    for answer in answers:
        if answer is not None:
            votes[answer] = votes.get(answer, 0.0) + 1
    winner = max(votes, key=lambda a: votes[a]) if votes else None
    return SolveResult(QUESTION, winner, "self-consistency", candidates, votes, Usage())


@pytest.mark.parametrize(
    ("policy", "verified", "answers", "writes", "reason"),
    [
        ("verified", True, ["3"], True, "verified correct"),
        ("verified", None, ["3"] * 10, False, "nothing verified"),
        ("verified", False, ["3"], False, "checked and is wrong"),
        ("confident", None, ["3"] * 9 + ["4"], True, "vote share 0.90 >= 0.8"),
        ("confident", None, ["3"] * 7 + ["4"] * 3, False, "vote share 0.70 < 0.8"),
        ("confident", False, ["3"] * 10, False, "checked and is wrong"),
        ("never", True, ["3"], False, "write='never'"),
        ("verified", True, [None], False, "no answer"),
    ],
)
async def test_write_decisions(
    tmp_path: Path, policy: str, verified: bool | None, answers: list[str | None], writes: bool, reason: str
) -> None:
    engine = FakeEngine([GOOD])
    with Memory(tmp_path / "m.db", write=policy) as memory:  # type: ignore[arg-type]
        written = await memory.write(QUESTION, result(answers), engine, verified=verified, source="mawps#1")
        assert written.trace["event"] == "memory.write"
        assert written.trace["decision"] == ("write" if writes else "skip")
        assert reason in written.trace["reason"]
        assert len(engine.requests) == int(writes)
        assert memory.store.count() == (2 if writes else 0)
        assert len(written.added) == (2 if writes else 0) and written.matched == ()
        assert (written.usage.engine_calls == 1) is writes


async def test_write_learns_from_the_winning_candidates_text(tmp_path: Path) -> None:
    engine = FakeEngine([GOOD])
    texts = ["Wrong way: 12 + 4 = 16. The answer is 16.", "Right way: 12 / 4 = 3. The answer is 3.", "So 3."]
    with Memory(tmp_path / "m.db") as memory:
        await memory.write(QUESTION, result(["16", "3", "3"], texts=texts), engine, verified=True)
        prompt = engine.requests[0].messages[-1].content  # type: ignore[index]
        assert "Right way" in prompt and "Wrong way" not in prompt
        assert {c.source for c in memory.store.concepts()} == {question_source(QUESTION)}


async def test_write_deduplicates_against_the_memory(tmp_path: Path) -> None:
    engine = FakeEngine([GOOD, GOOD.replace("several people", "several people.")])
    with Memory(tmp_path / "m.db") as memory:
        first = await memory.write(QUESTION, result(["3"]), engine, verified=True, source="p1")
        second = await memory.write(QUESTION, result(["3"]), engine, verified=True, source="p2")
        assert len(first.added) == 2 and second.added == () and second.matched == first.added
        assert memory.store.count() == 2
        assert [(a.source, a.added) for a in memory.store.additions()] == [
            ("p1", True),
            ("p1", True),
            ("p2", False),
            ("p2", False),
        ]
        assert [c["added"] for c in second.trace["concepts"]] == [False, False]


async def test_a_reply_without_concepts_writes_nothing(tmp_path: Path) -> None:
    engine = FakeEngine(["Sorry, I do not know."])
    with Memory(tmp_path / "m.db") as memory:
        written = await memory.write(QUESTION, result(["3"]), engine, verified=True)
        assert written.added == written.matched == () and memory.store.count() == 0
        assert written.usage.engine_calls == 1  # the call was made and is counted


def test_bad_memory_settings_are_refused(tmp_path: Path) -> None:
    for options, match in [
        ({"selection": "vibes"}, "selection must be one of"),
        ({"write": "always"}, "writing must be one of"),
        ({"token_cap": 0}, "token_cap"),
        ({"confident_share": 1.5}, "confident_share"),
        ({"dedup_threshold": 0}, "dedup_threshold"),
    ]:
        with pytest.raises(InvalidInputError, match=match):
            Memory(tmp_path / "m.db", **options)  # type: ignore[arg-type]


# -- a concept learned on problem 1 reaches the prompt of problem 2 ----------------------

PROBLEM_1 = QUESTION
PROBLEM_2 = "Ann shares 20 stickers equally among 5 classmates. How many stickers does each classmate get?"


def script(request: GenerationRequest, index: int) -> str:
    """The model: it abstracts GOOD when asked for concepts, and solves anything else."""
    assert request.messages is not None
    if "reusable concepts" in request.messages[-1].content:
        return GOOD
    return "The answer is 3." if "Tom" in request.messages[-1].content else "The answer is 4."


async def test_a_concept_written_on_problem_1_changes_the_prompt_of_problem_2(tmp_path: Path) -> None:
    engine = FakeEngine(script)
    with Memory(MemoryStore(tmp_path / "m.db")) as memory:
        recall_1 = await memory.read(PROBLEM_1, engine)
        assert recall_1.concepts == ()
        solved_1 = await ponder.asolve(
            PROBLEM_1, engine=engine, budget=1, system_prompt=memory.system_prompt(DEFAULT_SYSTEM_PROMPT, recall_1)
        )
        assert engine.requests[0].messages == (Message("system", DEFAULT_SYSTEM_PROMPT), Message("user", PROBLEM_1))
        written = await memory.write(PROBLEM_1, solved_1, engine, verified=True, source="toy#1")
        assert len(written.added) == 2
        assert written.usage.engine_calls == 1 and written.usage.completion_tokens == len(GOOD.split())
        assert written.trace["usage"]["completion_tokens"] == len(GOOD.split())

        recall_2 = await memory.read(PROBLEM_2, engine)
        assert recall_2.concepts and recall_2.concepts[0].situation == "a total is shared equally among several people"
        assert recall_2.trace["ids"][0] == written.added[0]
        system = memory.system_prompt(DEFAULT_SYSTEM_PROMPT, recall_2)
        assert system is not None
        await ponder.asolve(PROBLEM_2, engine=engine, budget=1, system_prompt=system)
        messages = engine.requests[-1].messages
        assert messages is not None and messages[0].role == "system"
        assert messages[0].content.startswith(DEFAULT_SYSTEM_PROMPT + "\n\nConcepts from earlier problems")
        assert "- When a total is shared equally among several people: divide the total by the number of people" in (
            messages[0].content
        )
        memory.record_outcome(recall_2, True)
        [used] = memory.store.get([written.added[0]])
        assert (used.uses, used.successes) == (1, 1)
