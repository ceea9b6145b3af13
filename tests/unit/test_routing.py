"""Action routing with scripted engines: trajectories, question types, routers, the search and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import ponder
from ponder.answers.program import PROGRAM_SYSTEM_PROMPT
from ponder.bench.route_search import search_router
from ponder.bench.types import Problem
from ponder.cli.main import cli
from ponder.core.errors import InvalidInputError
from ponder.engines import FakeEngine, GenerationRequest
from ponder.engines import registry as engines
from ponder.engines.plugin import plugin_from_factory
from ponder.routing import Router, all_trajectories, classify, load_router, parse_trajectory
from ponder.routing.actions import COT_SUFFIX, PLAN_PROMPT, REWRITE_PROMPT, VERIFY_PROMPT
from ponder.routing.trajectory import parse_trajectories

SIMPLE = "Ann has 2 apples and gets 2 more. How many apples?"  # word-simple
MULTI = "Bo has 3 boxes of 3 pens and 0 loose pens. How many pens?"  # word-multistep


def kind(request: GenerationRequest) -> str:
    """Which action a request is, by its system prompt."""
    assert request.messages is not None
    system = request.messages[0].content
    for name, prompt in (
        ("rewrite", REWRITE_PROMPT),
        ("plan", PLAN_PROMPT),
        ("verify", VERIFY_PROMPT),
        ("pot", PROGRAM_SYSTEM_PROMPT),
    ):
        if system == prompt:
            return name
    assert system.endswith(COT_SUFFIX)
    return "cot"


def script(request: GenerationRequest, index: int) -> str:
    """rewrite/plan give notes; cot answers 4 (the multistep gold 9 once it has a plan); pot prints 9;
    verify says 4."""
    user = request.messages[-1].content  # type: ignore[index]
    return {
        "rewrite": "Restated: how many apples in all?",
        "plan": "1. multiply 2. add",
        "cot": "With the plan the answer is 9." if "Plan:" in user and "boxes" in user else "So the answer is 4.",
        "pot": "```python\nprint(9)\n```",
        "verify": "Checked. The answer is 4.",
    }[kind(request)]


async def test_a_trajectory_runs_its_layers_in_order_with_their_prompts() -> None:
    engine = FakeEngine(script)
    result = await ponder.asolve(
        SIMPLE, engine=engine, strategy="routed", budget=3, options={"trajectory": "rewrite+cot+verify"}
    )
    assert [kind(r) for r in engine.requests] == ["rewrite", "cot", "verify"]
    rewrite, cot, verify = engine.requests
    assert rewrite.messages[-1].content == SIMPLE
    assert cot.messages[-1].content == f"{SIMPLE}\n\nRewritten question:\nRestated: how many apples in all?"
    assert "Proposed solution:\nSo the answer is 4." in verify.messages[-1].content
    assert [s["action"] for s in result.trace] == ["rewrite", "cot", "verify"]
    assert [s["layer"] for s in result.trace] == ["analysis", "solution", "verification"]
    assert result.trace[0]["route"] == {"by": "option", "trajectory": "rewrite+cot+verify"}
    assert all(s["usage"]["engine_calls"] == 1 and s["usage"]["completion_tokens"] > 0 for s in result.trace)
    assert result.usage.engine_calls == 3
    assert result.usage.completion_tokens == sum(s["usage"]["completion_tokens"] for s in result.trace)
    assert result.answer == "4" and result.trace[2]["verdict"] == "4"
    assert result.stop_reason == "done"


async def test_the_verifier_answer_decides() -> None:
    engine = FakeEngine(lambda request, index: "The answer is 7." if kind(request) == "verify" else "The answer is 3.")
    result = await ponder.asolve(
        SIMPLE, engine=engine, strategy="routed", budget=4, options={"trajectory": "cot+verify", "samples": 3}
    )
    assert result.answer == "7" and result.votes == {"3": 3.0, "7": 4.0}
    assert result.trace[0]["n"] == 3 and result.trace[0]["temperature"] == 0.8


async def test_a_program_solution_runs_in_the_sandbox_after_a_plan() -> None:
    engine = FakeEngine(script)
    result = await ponder.asolve(MULTI, engine=engine, strategy="routed", budget=2, options={"trajectory": "plan+pot"})
    assert [kind(r) for r in engine.requests] == ["plan", "pot"]
    assert "Plan:\n1. multiply 2. add" in engine.requests[1].messages[-1].content
    assert result.answer == "9" and result.candidates[0].evidence.startswith("ok")


async def test_a_small_budget_drops_verification_then_analysis() -> None:
    engine = FakeEngine(script)
    result = await ponder.asolve(
        SIMPLE, engine=engine, strategy="routed", budget=1, options={"trajectory": "plan+cot+verify"}
    )
    assert [kind(r) for r in engine.requests] == ["cot"]
    assert result.trace[0]["route"]["dropped"] == ["verify", "plan"]
    assert result.trace[0]["route"]["trajectory"] == "cot"


async def test_without_router_or_trajectory_routed_is_chain_of_thought() -> None:
    result = await ponder.asolve(SIMPLE, engine=FakeEngine(script), strategy="routed", budget=8)
    assert result.trace[0]["route"] == {"by": "default", "trajectory": "cot"} and len(result.trace) == 1


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("cot+pot", "two solution actions"),
        ("plan", "no solution action"),
        ("plan+dance", "unknown action 'dance'"),
        ("", "bad trajectory"),
        ("cot++verify", "bad trajectory"),
        ("rewrite+plan+cot", "two analysis actions"),
    ],
)
def test_bad_trajectories_are_named(text: str, needle: str) -> None:
    with pytest.raises(InvalidInputError, match=needle):
        parse_trajectory(text)
    if not text:
        return  # an empty option means "not given"
    with pytest.raises(InvalidInputError, match=needle):
        ponder.plan("q", strategy="routed", options={"trajectory": text})


def test_the_trajectory_space() -> None:
    names = [t.name for t in all_trajectories()]
    assert len(names) == len(set(names)) == 12
    assert names[:2] == ["cot", "pot"] and names[-1] == "plan+pot+verify"
    assert parse_trajectory("verify+cot+plan").name == "plan+cot+verify"  # written in any order
    assert parse_trajectory("plan+cot+verify").calls(3) == 5
    assert [t.name for t in parse_trajectories("cot, plan+pot")] == ["cot", "plan+pot"]
    with pytest.raises(InvalidInputError, match="listed twice"):
        parse_trajectories("cot,cot")


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Premises:\nAll cats purr.\nConclusion: Tom purrs.", "logic"),
        ('def add(a, b):\n    """Return a + b."""', "code"),
        ("Which is largest?\n(A) 1\n(B) 2\n(C) 3", "choice"),
        ("Find $x$ if $x^2 = 4$.", "symbolic"),
        (MULTI, "word-multistep"),
        (SIMPLE, "word-simple"),
        ("Why is the sky blue?", "text"),
    ],
)
def test_the_heuristic_question_types(question: str, expected: str) -> None:
    assert classify(question) == expected


def test_a_router_round_trips_and_routes(tmp_path: Path) -> None:
    router = Router(
        routes={"word-simple": "cot", "word-multistep": "plan+pot"},
        fallback="rewrite+cot",
        evidence={"word-simple": {"cot": {"n": 1}}},
        search={"seed": 0},
    )
    path = router.save(tmp_path / "sub" / "router.json")
    assert load_router(path) == router
    assert router.choose(SIMPLE)[1:] == ("word-simple", "route") and router.choose(SIMPLE)[0].name == "cot"
    assert router.choose(MULTI)[0].name == "plan+pot"
    assert router.choose("Why is the sky blue?")[0].name == "rewrite+cot"  # an unseen type
    assert router.choose("Why?", "word-multistep")[0].name == "plan+pot"  # a type given


def test_a_dataset_typed_router_needs_the_type_given() -> None:
    router = Router(routes={"mawps": "pot"}, fallback="cot", types="dataset")
    assert router.choose(SIMPLE)[0].name == "cot" and router.choose(SIMPLE)[2] == "fallback"
    assert router.choose(SIMPLE, "mawps")[0].name == "pot"


def write(path: Path, data: object) -> str:
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


GOOD = {"format": "ponder-router/1", "types": "heuristic", "routes": {"word-simple": "cot"}, "fallback": "cot"}


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ('{\n"format": oops}', "line 2: not JSON"),
        ([1, 2], "expected a JSON object"),
        ({**GOOD, "format": "other"}, "not a ponder router"),
        ({**GOOD, "routes": ["cot"]}, "'routes' must map"),
        ({**GOOD, "routes": {"word-simple": "cot+pot"}}, "route for type 'word-simple': trajectory 'cot+pot' has two"),
        ({**GOOD, "fallback": "dance"}, "unknown action 'dance'"),
        ({**GOOD, "fallback": None}, "'fallback' must be"),
        ({**GOOD, "types": "colour"}, "choose heuristic, dataset or field:NAME"),
        ({**GOOD, "evidence": [1]}, "must be JSON objects"),
    ],
)
def test_bad_router_files_are_named(tmp_path: Path, data: object, needle: str) -> None:
    path = write(tmp_path / "router.json", data)
    with pytest.raises(InvalidInputError, match=r"router\.json") as caught:
        load_router(path)
    assert needle in str(caught.value)
    with pytest.raises(InvalidInputError) as planned:  # refused before any model is loaded
        ponder.plan("q", strategy="routed", options={"router": path})
    assert needle in str(planned.value)


def test_a_missing_router_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="ponder route"):
        ponder.plan("q", strategy="routed", options={"router": str(tmp_path / "absent.json")})


async def test_routed_applies_a_router_file(tmp_path: Path) -> None:
    path = Router(routes={"word-multistep": "plan+pot"}, fallback="cot").save(tmp_path / "router.json")
    engine = FakeEngine(script)
    multi = await ponder.asolve(MULTI, engine=engine, strategy="routed", budget=4, options={"router": str(path)})
    assert multi.trace[0]["route"] == {"by": "route", "type": "word-multistep", "trajectory": "plan+pot"}
    simple = await ponder.asolve(SIMPLE, engine=engine, strategy="routed", budget=4, options={"router": str(path)})
    assert simple.trace[0]["route"] == {"by": "fallback", "type": "word-simple", "trajectory": "cot"}


async def test_the_search_picks_the_best_trajectory_per_type() -> None:
    dev = [
        Problem("s1", SIMPLE, "4", "math", {}),
        Problem("m1", MULTI, "9", "math", {}),
        Problem("s2", "Cy has 1 cat and 3 more. How many cats?", "4", "math", {}),
        Problem("m2", "Di has 3 boxes of 3 buns and 0 more. How many buns?", "9", "math", {}),
    ]
    seen: list[tuple[str, str]] = []
    chosen = parse_trajectories("cot,pot,plan+cot,cot+verify")
    router = await search_router(
        dev,
        FakeEngine(script),
        trajectories=chosen,
        dataset="dev",
        on_outcome=lambda p, t, o: seen.append((p.id, t.name)),
    )
    assert len(seen) == 16
    simple, multi = router.evidence["word-simple"], router.evidence["word-multistep"]
    assert simple["cot"]["correct"] == simple["plan+cot"]["correct"] == simple["cot+verify"]["correct"] == 2
    assert simple["pot"]["correct"] == 0 and multi["cot"]["correct"] == 0
    assert multi["pot"]["correct"] == multi["plan+cot"]["correct"] == 2
    assert router.routes == {"word-multistep": "pot", "word-simple": "cot"}  # accuracy ties go to fewer tokens
    assert multi["pot"]["completion_tokens"] < multi["plan+cot"]["completion_tokens"]
    assert router.fallback == "plan+cot" and router.overall["plan+cot"]["accuracy"] == 1.0
    assert multi["plan+cot"]["engine_calls"] == 2.0 and multi["cot"]["engine_calls"] == 1.0
    assert router.search["trajectories"] == ["cot", "pot", "plan+cot", "cot+verify"]
    assert router.search["dataset"] == "dev" and router.search["problems"] == 4


async def test_the_search_can_type_by_dataset_or_field() -> None:
    dev = [Problem("a", SIMPLE, "4", "math", {"topic": "apples"}), Problem("b", MULTI, "9", "math", {"topic": "pens"})]
    by_field = await search_router(
        dev, FakeEngine(script), trajectories=parse_trajectories("cot,pot"), types="field:topic"
    )
    assert by_field.routes == {"apples": "cot", "pens": "pot"} and by_field.types == "field:topic"
    by_set = await search_router(
        dev, FakeEngine(script), trajectories=parse_trajectories("cot,pot"), types="dataset", dataset="mine"
    )
    assert by_set.routes == {"mine": "pot"}  # 1 of 2 each: the program's 3 tokens beat the prose's 5
    with pytest.raises(InvalidInputError, match=r"problem a: .*no 'level' field"):
        await search_router(dev, FakeEngine(script), types="field:level")


# -- the CLI --------------------------------------------------------------------------------------


@pytest.fixture
def fake_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--engine fake`` builds a scripted engine."""
    monkeypatch.setitem(engines.BUILTIN, "fake", plugin_from_factory("fake", lambda **options: FakeEngine(script)))


def dev_file(tmp_path: Path) -> str:
    rows = [{"question": SIMPLE, "answer": "4"}, {"question": MULTI, "answer": 9}]
    return write(tmp_path / "dev.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")


def test_ponder_route_writes_a_router_that_solve_applies(tmp_path: Path, fake_engine: None) -> None:
    out = tmp_path / "router.json"
    result = CliRunner().invoke(
        cli,
        ["route", dev_file(tmp_path), "--out", str(out), "--engine", "fake", "--trajectories", "cot,pot", "--quiet"],
    )
    assert result.exit_code == 0, result.output
    assert "word-simple" in result.stdout and "-> cot" in result.stdout and f"wrote {out}" in result.stdout
    router = load_router(out)
    assert router.routes == {"word-multistep": "pot", "word-simple": "cot"}
    solved = CliRunner().invoke(
        cli, ["solve", MULTI, "-s", "routed", "-o", f"router={out}", "--engine", "fake", "--budget", "1", "--json"]
    )
    assert solved.exit_code == 0, solved.output
    answer = json.loads(solved.stdout)
    assert answer["answer"] == "9" and answer["trace"][0]["route"]["trajectory"] == "pot"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--trajectories", "cot+pot"], "two solution actions"),
        (["--types", "colour"], "choose heuristic, dataset or field:NAME"),
        (["--samples", "0"], "samples must be >= 1"),
        (["--limit", "0"], "limit must be >= 1"),
    ],
)
def test_ponder_route_argument_errors(tmp_path: Path, fake_engine: None, args: list[str], needle: str) -> None:
    result = CliRunner().invoke(
        cli, ["route", dev_file(tmp_path), "--out", str(tmp_path / "r.json"), "--engine", "fake", "--quiet", *args]
    )
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("error:") and needle in result.stderr and len(result.stderr.splitlines()) == 1


def test_ponder_route_refuses_a_folder_for_out_and_unknown_data(tmp_path: Path, fake_engine: None) -> None:
    result = CliRunner().invoke(cli, ["route", dev_file(tmp_path), "--out", str(tmp_path), "--engine", "fake"])
    assert result.exit_code == 1 and "is a folder" in result.stderr
    result = CliRunner().invoke(cli, ["route", "no-such-set", "--out", str(tmp_path / "r.json"), "--engine", "fake"])
    assert result.exit_code == 1 and "unknown data set" in result.stderr
    result = CliRunner().invoke(cli, ["route", dev_file(tmp_path), "--engine", "fake"])
    assert result.exit_code != 0 and "--out" in result.output
