"""Reading concept memory: lexical relevance, the token cap and limit, selection by a scripted model."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ponder.context.metered import MeteredEngine
from ponder.core.budget import Budget
from ponder.core.errors import InvalidInputError
from ponder.core.ledger import Ledger
from ponder.engines import FakeEngine, GenerationRequest
from ponder.engines.fake import prompt_text
from ponder.memory import Concept, Memory, MemoryStore, NewConcept, render_concepts
from ponder.memory.concepts import HEADER, estimate_tokens
from ponder.memory.select import fit, parse_selection, select_by_model, select_lexical, token_counter

RAW = [
    ("a total is shared equally among several people", "divide the total by the number of people"),
    ("items are added to a collection that already has some", "add the new items to the starting count"),
    ("the speed and the travel time of a trip are given", "multiply the speed by the time to get the distance"),
    ("a price is reduced by a percentage", "multiply the price by one minus the percentage over one hundred"),
    ("the length and width of a rectangle are known", "multiply length by width to get its area"),
    (
        "some of a quantity is eaten or given away and the amount left is asked",
        "subtract what was eaten or given away from the starting amount",
    ),
]
CONCEPTS = [
    Concept(i + 1, s, g, f"p{i + 1}", 0.0, 0, 0, estimate_tokens(f"- When {s}: {g}")) for i, (s, g) in enumerate(RAW)
]


def chars(text: str) -> int:
    return len(text)


@pytest.mark.parametrize(
    ("question", "best"),
    [
        ("Tom shares 12 apples equally among 4 friends. How many apples does each friend get?", 1),
        ("Sara has 5 stickers and adds 7 more stickers to her collection. How many now?", 2),
        ("A car travels at a speed of 60 km per hour for 3 hours. How far does it go?", 3),
        ("A shirt costs 40 dollars and its price is reduced by 25 percent. What is the new price?", 4),
        ("A rectangle has length 8 and width 3. What is its area?", 5),
        ("Jim had 20 cookies and ate 6 of them. How many are left?", 6),
    ],
)
def test_lexical_selection_puts_the_relevant_concept_first(question: str, best: int) -> None:
    chosen = select_lexical(CONCEPTS, question, token_cap=1000, limit=3)
    assert chosen[0].id == best


def test_lexical_selection_never_picks_a_concept_without_a_shared_word() -> None:
    assert select_lexical(CONCEPTS, "Name a colour of the rainbow.", token_cap=1000, limit=5) == []
    assert select_lexical([], "Tom shares apples equally.", token_cap=1000, limit=5) == []


def test_limit_is_kept() -> None:
    question = "multiply the speed, the price, the length, the width and the total"
    assert len(select_lexical(CONCEPTS, question, token_cap=1000, limit=2)) == 2
    assert len(select_lexical(CONCEPTS, question, token_cap=1000, limit=10)) == 4


@pytest.mark.parametrize("count", [estimate_tokens, chars])
def test_token_cap_is_never_exceeded(count: object) -> None:
    question = "multiply divide add subtract the total speed price length width items eaten"
    assert callable(count)
    for cap in range(1, 400, 3):
        chosen = select_lexical(CONCEPTS, question, token_cap=cap, limit=6, count=count)
        assert count(render_concepts(chosen)) <= cap
        if chosen:
            assert render_concepts(chosen).startswith(HEADER)
    # a big enough cap takes every relevant concept
    assert len(select_lexical(CONCEPTS, question, token_cap=10_000, limit=6, count=count)) == 6


def test_a_concept_too_long_is_passed_over_for_a_shorter_one() -> None:
    long = Concept(1, "apples " + "very " * 80 + "many", "count the apples", "p", 0.0, 0, 0, 0)
    short = Concept(2, "apples are counted", "count them", "p", 0.0, 0, 0, 0)
    cap = estimate_tokens(render_concepts([short]))
    assert fit([long, short], token_cap=cap, limit=5) == [short]


class CountingEngine(FakeEngine):
    """A fake with a tokenizer of its own: one token per character."""

    def __init__(self) -> None:
        super().__init__(["unused"])
        self.counted: list[str] = []

    def count_tokens(self, request: GenerationRequest) -> int:
        assert request.text is not None
        self.counted.append(request.text)
        return len(request.text)


def test_the_engines_token_count_is_used_when_it_has_one() -> None:
    engine = CountingEngine()
    count = token_counter(MeteredEngine(engine))  # seen through the meter
    assert count("abc") == 3 and engine.counted == ["abc"]
    assert token_counter(FakeEngine(["x"])) is estimate_tokens
    question = "multiply divide add subtract the total speed price length width items eaten"
    chosen = select_lexical(CONCEPTS, question, token_cap=200, limit=6, count=count)
    assert 0 < len(render_concepts(chosen)) <= 200


def test_bad_caps_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="token cap"):
        select_lexical(CONCEPTS, "x", token_cap=0, limit=1)
    with pytest.raises(InvalidInputError, match="limit"):
        select_lexical(CONCEPTS, "x", token_cap=10, limit=0)


@pytest.mark.parametrize(
    ("reply", "picked"),
    [
        ("Relevant: 3, 1", [3, 1]),
        ("Relevant: none", []),
        ("relevant concepts: #2 and #5.", [2, 5]),
        ("<think>maybe 4? Relevant: 4</think>\nRelevant: 2", [2]),
        ("Lesson 1 looks close.\nRelevant: 1, 1, 9, 2", [1, 2]),
        ("2, 3", [2, 3]),
        ("Relevant: 9", None),  # out of range
        ("I think the answer is 12 apples.", None),
        ("", None),
        ("Relevant:", None),
    ],
)
def test_parse_selection(reply: str, picked: list[int] | None) -> None:
    assert parse_selection(reply, 6) == picked


def test_parse_selection_of_a_long_run_of_digits_is_quick() -> None:
    """A reply such as a question's long number echoed back: the bare-list pattern once tried every
    way to split a run of digits (2^n: tens of seconds at 28 digits, days at 45), blocking the event loop."""
    started = time.perf_counter()
    assert parse_selection("1" * 28 + " apples", 5) is None
    assert parse_selection("1" * 200 + "x", 5) is None
    assert parse_selection("1" * 60, 5) is None  # a bare "list" whose one number is out of range
    assert time.perf_counter() - started < 1.0


def metered(script: list[str]) -> tuple[FakeEngine, MeteredEngine, Ledger]:
    engine = FakeEngine(script)
    ledger = Ledger(Budget(generations=1, tokens=96))
    return engine, MeteredEngine(engine, ledger), ledger


async def test_model_selection_picks_what_the_model_names_in_its_order() -> None:
    engine, meter, ledger = metered(["The third and first lessons help.\nRelevant: 3, 1"])
    question = "Tom shares 12 apples equally among 4 friends. How many does each get?"
    trace: dict[str, object] = {}
    chosen = await select_by_model(meter, CONCEPTS, question, token_cap=1000, limit=5, shortlist=4, seed=7, trace=trace)
    [request] = engine.requests
    assert request.temperature == 0.0 and request.seed == 7 and request.first_index == 0
    assert request.messages is not None
    prompt = request.messages[-1].content
    assert question in prompt and "1. When a total is shared equally" in prompt and "5." not in prompt
    shortlist = trace["shortlist"]
    assert isinstance(shortlist, list) and len(shortlist) == 4 and shortlist[0] == 1
    assert [c.id for c in chosen] == [shortlist[2], shortlist[0]]
    assert trace["picked"] == [3, 1] and trace["fallback"] is None
    assert ledger.spent == 1
    reply = "The third and first lessons help.\nRelevant: 3, 1"
    assert ledger.recorded().completion_tokens == len(reply.split())
    assert ledger.recorded().engine_calls == 1


async def test_model_selection_keeps_the_token_cap() -> None:
    _, meter, _ = metered(["Relevant: 1, 2, 3, 4, 5, 6"])
    chosen = await select_by_model(meter, CONCEPTS, "anything", token_cap=200, limit=6, count=chars)
    assert 0 < len(render_concepts(chosen)) <= 200


async def test_model_selection_none_is_an_empty_choice() -> None:
    _, meter, _ = metered(["Relevant: none"])
    trace: dict[str, object] = {}
    assert (
        await select_by_model(meter, CONCEPTS, "Tom shares apples equally.", token_cap=500, limit=3, trace=trace) == []
    )
    assert trace["fallback"] is None


@pytest.mark.parametrize("reply", ["The answer is 3 apples.", "Relevant: 42", "bla bla"])
async def test_model_selection_falls_back_to_lexical_on_an_unusable_reply(reply: str) -> None:
    _, meter, _ = metered([reply])
    question = "Tom shares 12 apples equally among 4 friends. How many does each get?"
    trace: dict[str, object] = {}
    chosen = await select_by_model(meter, CONCEPTS, question, token_cap=500, limit=3, trace=trace)
    assert chosen == select_lexical(CONCEPTS, question, token_cap=500, limit=3)
    assert isinstance(trace["fallback"], str) and "lexical" in trace["fallback"]
    assert trace["reply"] == reply


async def test_model_selection_with_no_concepts_makes_no_call() -> None:
    engine, meter, _ = metered(["Relevant: 1"])
    assert await select_by_model(meter, [], "question", token_cap=100, limit=3) == []
    assert engine.requests == []


# -- Memory.read -----------------------------------------------------------------------


def stocked(path: Path) -> MemoryStore:
    store = MemoryStore(path)
    store.add([NewConcept(s, g, "seed") for s, g in RAW])
    return store


async def test_memory_read_lexical_names_the_concepts_in_the_trace(tmp_path: Path) -> None:
    with Memory(stocked(tmp_path / "m.db"), limit=2) as memory:
        engine = FakeEngine(["unused"])
        recall = await memory.read("Jim had 20 cookies and ate 6 of them. How many are left?", engine)
        assert engine.requests == []  # lexical selection calls no model
        assert recall.concepts[0].id == 6 and len(recall.concepts) <= 2
        assert recall.prompt == render_concepts(recall.concepts)
        assert recall.usage.total_tokens == 0 and recall.usage.engine_calls == 0
        trace = recall.trace
        assert trace["event"] == "memory.read" and trace["selection"] == "lexical"
        assert trace["ids"] == [c.id for c in recall.concepts] and trace["memory_size"] == 6
        assert trace["concepts"][0]["situation"] == RAW[5][0]
        assert 0 < trace["tokens"] <= trace["token_cap"] == 256
        memory.record_outcome(recall, True)
        assert [(c.uses, c.successes) for c in memory.store.get(list(recall.ids))] == [(1, 1)] * len(recall.ids)


async def test_memory_read_by_model_counts_its_call_and_reports_a_fallback(tmp_path: Path) -> None:
    with Memory(stocked(tmp_path / "m.db"), selection="model", limit=2) as memory:
        engine = FakeEngine(["no idea"])
        recall = await memory.read("Jim had 20 cookies and ate 6 of them. How many are left?", engine, seed=3)
        [request] = engine.requests
        assert request.seed == 3 and request.max_tokens == memory.read_max_tokens
        assert recall.usage.engine_calls == 1 and recall.usage.completion_tokens == 2
        assert recall.usage.prompt_tokens == len(prompt_text(request).split()) > 0
        assert recall.trace["usage"]["completion_tokens"] == 2
        assert "lexical" in recall.trace["fallback"] and recall.concepts[0].id == 6
        with pytest.raises(InvalidInputError, match="needs an engine"):
            await memory.read("Jim had 20 cookies.", None)


async def test_memory_read_of_an_empty_memory_is_empty(tmp_path: Path) -> None:
    with Memory(tmp_path / "m.db", selection="model") as memory:
        engine = FakeEngine(["Relevant: 1"])
        recall = await memory.read("Jim had 20 cookies.", engine)
        assert recall.concepts == () and recall.prompt == "" and engine.requests == []
        assert memory.system_prompt("Solve it.", recall) == "Solve it."
        assert memory.system_prompt(None, recall) is None


async def test_memory_read_refuses_invalid_text(tmp_path: Path) -> None:
    with Memory(tmp_path / "m.db") as memory, pytest.raises(InvalidInputError, match="the question is not valid UTF-8"):
        await memory.read("bad \udcff", None)
