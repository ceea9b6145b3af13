"""The peer benchmark's wiring (benchmarks/peers) against a scripted server, without a model:
the counting proxy, the report, ponder's HTTP system, and its_hub / optillm where installed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.stub_server import Action, StubServer, completion_body

from ponder.bench.datasets import Problem
from ponder.engines.http.profiles import PROFILES

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from peers import report, run
from peers.itshub import ItsHubSystem
from peers.measure import run_config
from peers.optillm_system import OptillmSystem
from peers.proxy import Adjustments, CountingProxy, merge_responses, rewrite_body
from peers.servers import find_optillm
from peers.systems import BON, DEEPCONF, PF, SC, Setup, Unavailable, ponder_embedded, ponder_http

CHAT = {"model": "m", "messages": [{"role": "user", "content": "2 + 2?"}]}


def problems(count: int) -> list[Problem]:
    return [
        Problem(id=str(i), question=f"What is {i} + {4 - i}?", gold="4", grader="math", data={}) for i in range(count)
    ]


def setup_for(url: str, profile: str = "llama-cpp-python", **changes: Any) -> Setup:
    return Setup(
        url=url,
        model="stub-model",
        profile=PROFILES[profile],
        system_prompt="Answer.",
        temperature=0.8,
        max_tokens=32,
        seed=0,
        **changes,
    )


def test_rewrite_renames_max_completion_tokens() -> None:
    body = rewrite_body({**CHAT, "max_completion_tokens": 50}, Adjustments())
    assert body["max_tokens"] == 50 and "max_completion_tokens" not in body
    assert (
        rewrite_body({**CHAT, "max_completion_tokens": 50}, Adjustments(max_tokens_field=False))[
            "max_completion_tokens"
        ]
        == 50
    )


def test_merge_reindexes_choices_and_sums_usage() -> None:
    part = {
        "id": "x",
        "choices": [{"index": 0, "message": {"content": "a"}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
    }
    merged = merge_responses([part, part, part])
    assert [c["index"] for c in merged["choices"]] == [0, 1, 2]
    assert merged["usage"] == {"prompt_tokens": 30, "completion_tokens": 9, "total_tokens": 39}


def test_proxy_counts_usage_and_expands_n() -> None:
    with StubServer(owned_by="me") as stub, CountingProxy(stub.url) as proxy:
        assert httpx.get(proxy.url + "/v1/models").json()["data"][0]["owned_by"] == "me"
        start = proxy.snapshot()
        httpx.post(proxy.url + "/v1/chat/completions", json={**CHAT, "max_completion_tokens": 9})
        reply = httpx.post(proxy.url + "/v1/chat/completions", json={**CHAT, "n": 3, "seed": 7}).json()
        tally = proxy.snapshot().minus(start)
    assert len(reply["choices"]) == 3
    assert (tally.requests, tally.upstream_requests) == (2, 4)
    assert (tally.prompt_tokens, tally.completion_tokens) == (40, 28)  # the stub: 10 prompt, 7 completion a choice
    posts = [body for _, _, body, _ in stub.posts()]
    assert posts[0]["max_tokens"] == 9 and "max_completion_tokens" not in posts[0]
    assert [(p["n"], p["seed"]) for p in posts[1:]] == [(1, 7), (1, 8), (1, 9)]


def test_proxy_relays_streams_and_counts_their_tokens() -> None:
    stream = {**CHAT, "stream": True, "logprobs": True, "top_logprobs": 1, "max_completion_tokens": 9}
    with StubServer(owned_by="me") as stub, CountingProxy(stub.url) as proxy:
        start = proxy.snapshot()
        with httpx.stream("POST", proxy.url + "/v1/chat/completions", json=stream) as response:
            lines = [line for line in response.iter_lines() if line.startswith("data:")]
        without_usage = proxy.snapshot().minus(start)
        usage = {**stream, "stream_options": {"include_usage": True}}
        with httpx.stream("POST", proxy.url + "/v1/chat/completions", json=usage) as response:
            response.read()
        tally = proxy.snapshot().minus(start)
    assert response.headers["content-type"] == "text/event-stream" and lines[-1] == "data: [DONE]"
    words = len(["sample", "seed=None", "i=0.", "The", "answer", "is", "4."])  # the stub's text, a chunk a word
    assert (without_usage.streams, without_usage.streams_without_usage) == (1, 1)
    assert (without_usage.prompt_tokens, without_usage.completion_tokens) == (0, words)  # one per token logprob
    assert (tally.streams, tally.streams_without_usage, tally.upstream_requests) == (2, 1, 2)
    assert (tally.prompt_tokens, tally.completion_tokens) == (10, 2 * words)  # the usage chunk, where sent
    assert all(body["max_tokens"] == 9 for _, _, body, _ in stub.posts())  # the rename applies to streams too


def test_proxy_closes_the_upstream_stream_when_the_client_closes_it() -> None:
    with StubServer(owned_by="me") as stub, CountingProxy(stub.url) as proxy:
        stub.chunk_delay = 0.02
        stub.stream_text = lambda body: " ".join(["word"] * 200)
        with httpx.stream("POST", proxy.url + "/v1/chat/completions", json={**CHAT, "stream": True}) as response:
            events = response.iter_lines()
            first = [next(events) for _ in range(6)]
        record = stub.streams[0]
        assert record.ended.wait(5)
        tally = proxy.snapshot()
    assert any(line.startswith("data:") for line in first)
    assert record.outcome == "closed" and record.sent < 100  # the server stopped generating long before the end
    assert tally.streams == 1 and 0 < tally.completion_tokens < 100


def test_proxy_reports_an_unreachable_upstream_as_502() -> None:
    with CountingProxy("http://127.0.0.1:9", timeout=2) as proxy:
        response = httpx.post(proxy.url + "/v1/chat/completions", json=CHAT)
        assert response.status_code == 502 and proxy.snapshot().errors == 1


def config(system: str, wall: float, correct: int, strategy: str = SC, budget: int = 4) -> dict[str, Any]:
    return {
        "system": system,
        "strategy": strategy,
        "budget": budget,
        "status": "ok",
        "reason": None,
        "problems": 30,
        "correct": correct,
        "accuracy": correct / 30,
        "errors": 0,
        "wall_seconds": wall,
        "prompt_tokens": 100,
        "completion_tokens": 50,
        "upstream_requests": 8,
        "records": [],
    }


def test_report_ratios_targets_and_reasons() -> None:
    configs = [
        config("ponder-http", 8.0, 12),
        config("ponder-embedded", 4.0, 11),
        config("its_hub", 10.0, 12),
        config("optillm", 20.0, 25),
        {
            "system": "optillm",
            "strategy": PF,
            "budget": 4,
            "status": "unavailable",
            "reason": "optillm has no particle-filtering approach",
        },
    ]
    built = report.build(configs, {"dataset": "mawps-singleop", "problems": 30, "versions": {"ponder": "0.1.0"}})
    rows = {(r["system"], r["strategy"]): r for r in built["rows"]}
    hub = rows[("its_hub", SC)]["vs_ponder"]
    assert hub["ponder-http"]["wall_ratio"] == 0.8 and hub["ponder-http"]["meets_target"]
    assert hub["ponder-embedded"]["wall_ratio"] == 0.4 and hub["ponder-embedded"]["meets_target"]
    opt = rows[("optillm", SC)]["vs_ponder"]["ponder-http"]
    assert opt["wall_ratio"] == 0.4 and not opt["accuracy_within_noise"] and not opt["meets_target"]
    assert "vs_ponder" not in rows[("ponder-http", SC)]
    table = report.markdown(built)
    assert (
        "| self-consistency | 4 | 1 |  | its_hub | ok | 40.0% " in table
        and "0.80x" in table
        and "(acc. differs)" in table
    )
    assert "optillm has no particle-filtering approach" in table
    assert table.index("ponder-http") < table.index("| self-consistency | 4 | 1 |  | its_hub")


def test_report_notes_deepconf_and_unreported_stream_tokens() -> None:
    ran = {
        **config("ponder-http", 5.0, 12, strategy=DEEPCONF),
        "note": "DeepConf-low (online, eta 10)",
        "proxy": {"streams": 6, "streams_without_usage": 6},
    }
    built = report.build(
        [
            ran,
            {
                "system": "optillm",
                "strategy": DEEPCONF,
                "budget": 4,
                "status": "unavailable",
                "reason": "optillm's deepconf runs only in its local inference mode",
            },
            config("ponder-http", 8.0, 12),
        ],
        {"versions": {}},
    )
    assert [r["strategy"] for r in built["rows"]] == [SC, DEEPCONF, DEEPCONF]  # deepconf after the others
    table = report.markdown(built)
    assert "| deepconf | 4 | 1 |  | ponder-http | ok |" in table
    assert "DeepConf-low (online, eta 10); prompt tokens of 6 streamed request(s) unreported" in table
    assert "| deepconf | 4 | 1 |  | optillm | unavailable |" in table and "local inference mode" in table


def test_wilson_interval() -> None:
    low, high = report.wilson(15, 30)
    assert low < 0.5 < high and round(low, 2) == 0.33 and round(high, 2) == 0.67
    assert report.wilson(0, 0) == (0.0, 0.0)


async def test_ponder_http_runs_against_the_stub_through_the_proxy() -> None:
    with StubServer(owned_by="me") as stub, CountingProxy(stub.url) as proxy:
        system = ponder_http(setup_for(proxy.url))
        await system.open()
        try:
            result = await run_config(system, SC, 2, problems(2), proxy)
            judged = await run_config(system, BON, 2, problems(1), proxy)
        finally:
            await system.close()
    assert result["status"] == "ok" and result["accuracy"] == 1.0 and result["problems"] == 2
    assert result["prompt_tokens"] == 2 * 2 * 10 and result["completion_tokens"] == 2 * 2 * 7
    assert result["ponder_usage"]["completion_tokens"] == 28
    assert [r["answer"] for r in result["records"]] == ["4", "4"]
    assert judged["status"] == "ok"  # best-of-n with the self-eval judge goes through the proxy too


async def test_unavailable_configurations_say_why() -> None:
    system = ponder_http(setup_for("http://127.0.0.1:9", bon_options={"no-such-option": 1}))
    await system.open()
    with pytest.raises(Unavailable, match="ponder cannot run 'best-of-n'"):
        await system.prepare(BON, 2)
    await system.close()
    embedded = ponder_embedded(setup_for("http://x"))  # no GGUF for the served model
    await embedded.open()
    record = await run_config(embedded, SC, 4, problems(1), None)
    assert record["status"] == "unavailable" and "--model" in record["reason"]
    optillm = OptillmSystem(setup_for("http://x"), None, "http://x")
    await optillm.open()
    assert "own venv" in (await run_config(optillm, BON, 4, problems(1), None))["reason"]
    await optillm.close()
    optillm = OptillmSystem(setup_for("http://x"), "/bin/true", "http://x")
    await optillm.open()
    assert "5 samples" in (await run_config(optillm, SC, 4, problems(1), None))["reason"]
    assert "no particle-filtering" in (await run_config(optillm, PF, 4, problems(1), None))["reason"]
    await optillm.close()


def test_ponder_deepconf_is_deepconf_low_by_default() -> None:
    args = run.parse_args([])
    assert DEEPCONF in args.strategies and args.deepconf_options == {"eta": 10}
    assert run.parse_args(["--deepconf-options", '{"eta": 90}']).deepconf_options == {"eta": 90}
    setup = run.make_setup(args, "http://x", "m", PROFILES["llama-cpp-python"], "model.gguf")
    for system in (ponder_http(setup), ponder_embedded(setup)):  # neither opened: no engine, no model loaded
        assert system.options(DEEPCONF) == {"eta": 10} and system.options(SC) == {}
        assert system.note(DEEPCONF) == (
            'DeepConf-low (online, eta 10), the setting benchmarks/fewer_tokens.py uses; options {"eta": 10}'
        )
        assert system.note(SC) is None
    assert ponder_http(setup_for("http://x", deepconf_options={"mode": "offline"})).note(DEEPCONF) == (
        'DeepConf; options {"mode": "offline"}'
    )


async def test_ponder_http_deepconf_streams_with_top_logprobs_through_the_proxy() -> None:
    with StubServer(owned_by="me") as stub, CountingProxy(stub.url) as proxy:
        system = ponder_http(setup_for(proxy.url))
        await system.open()
        try:
            result = await run_config(system, DEEPCONF, 4, problems(1), proxy)
        finally:
            await system.close()
        bodies = [body for _, _, body, _ in stub.posts()]
    assert result["status"] == "ok" and result["accuracy"] == 1.0, result
    assert result["note"].startswith("DeepConf-low (online, eta 10)")
    assert all(b["stream"] and b["logprobs"] and b["top_logprobs"] == 20 for b in bodies)
    # the warm-up's 2 traces agree (leader share 1 >= tau): sampling stops there
    assert result["proxy"]["streams"] == result["proxy"]["streams_without_usage"] == len(bodies) == 2
    assert result["completion_tokens"] == result["ponder_usage"]["completion_tokens"] > 0


async def test_peers_deepconf_rows_say_why_they_cannot_run() -> None:
    for executable in (None, "/bin/true"):  # the reason holds whether or not optillm is installed
        optillm = OptillmSystem(setup_for("http://x"), executable, "http://x")
        await optillm.open()
        record = await run_config(optillm, DEEPCONF, 4, problems(1), None)
        await optillm.close()
        assert record["status"] == "unavailable" and optillm.proxy is None
        for cited in (
            "local inference mode",
            "OPTILLM_API_KEY",
            "optillm/inference.py",
            "known_approaches",
            "AutoModelForCausalLM.from_pretrained",
            "GGUF",
        ):
            assert cited in record["reason"]
    its_hub = ItsHubSystem(setup_for("http://x"))  # not opened: the reason does not need its_hub installed
    record = await run_config(its_hub, DEEPCONF, 8, problems(1), None)
    assert record["status"] == "unavailable"
    assert "no confidence_selection" in record["reason"] and "logprobs" in record["reason"]


async def test_its_hub_runs_against_the_stub() -> None:
    pytest.importorskip("its_hub")
    with StubServer(owned_by="me") as stub, CountingProxy(stub.url) as proxy:
        system = ItsHubSystem(setup_for(proxy.url))
        await system.open()
        try:
            sc = await run_config(system, SC, 2, problems(1), proxy)
            stub.script = [Action("ok", body=completion_body(CHAT, text=f"Step {i}. The answer is 4.")) for i in (1, 2)]
            bon = await run_config(system, BON, 2, problems(1), proxy)
            pf = await run_config(system, PF, 2, problems(1), proxy)
        finally:
            await system.close()
        bodies = [body for _, _, body, _ in stub.posts()]
    assert sc["status"] == "ok" and sc["accuracy"] == 1.0 and sc["upstream_requests"] == 2
    assert bon["status"] == "ok" and bon["upstream_requests"] == 4  # 2 samples + 2 judge calls (distinct texts)
    assert pf["status"] == "unavailable" and "continue_final_message" in pf["reason"]
    assert all("max_tokens" in b and "max_completion_tokens" not in b for b in bodies)  # the proxy's rename


async def test_its_hub_particle_filtering_on_a_server_that_continues_messages() -> None:
    pytest.importorskip("its_hub")
    with StubServer(owned_by="vllm") as stub, CountingProxy(stub.url) as proxy:
        system = ItsHubSystem(setup_for(proxy.url, profile="vllm", pf_max_steps=2))
        await system.open()
        try:
            pf = await run_config(system, PF, 2, problems(1), proxy)
        finally:
            await system.close()
    assert pf["status"] == "ok" and pf["accuracy"] == 1.0  # the stub's text says "answer is": one step


async def test_optillm_runs_against_the_stub() -> None:
    executable = find_optillm()
    if executable is None:
        pytest.skip("optillm is not installed (its own venv: see benchmarks/peers/README.md)")
    with StubServer(owned_by="me") as stub, CountingProxy(stub.url) as proxy:
        system = OptillmSystem(setup_for(proxy.url), executable, proxy.url)
        await system.open()
        try:
            bon = await run_config(system, BON, 2, problems(1), proxy)
        finally:
            await system.close()
    assert bon["status"] == "ok", bon
    assert bon["upstream_requests"] == 4  # n=2 split by the proxy into 2 samples, then 2 ratings


def test_the_script_writes_json_and_markdown(tmp_path: Path) -> None:
    out = tmp_path / "peers"
    with StubServer(owned_by="me") as stub:
        run.main(
            [
                "--url",
                stub.url,
                "--limit",
                "1",
                "--budgets",
                "2",
                "--systems",
                "ponder-http,ponder-embedded",
                "--strategies",
                "self-consistency",
                "--out",
                str(out),
            ]
        )
    data = json.loads(out.with_suffix(".json").read_text())
    assert data["meta"]["complete"] and data["meta"]["servers"]["llama-cpp-python"]["profile"] == "llama-cpp-python"
    statuses = {(c["system"], c["budget"]): c["status"] for c in data["configs"]}
    assert statuses == {("ponder-http", 2): "ok", ("ponder-embedded", 2): "unavailable"}
    assert "| self-consistency | 2 | 1 | llama-cpp-python | ponder-http | ok |" in out.with_suffix(".md").read_text()


def test_the_script_writes_deepconf_rows(tmp_path: Path) -> None:
    out = tmp_path / "peers"
    with StubServer(owned_by="me") as stub:
        run.main(
            [
                "--url",
                stub.url,
                "--limit",
                "1",
                "--budgets",
                "4",
                "--systems",
                "ponder-http,its_hub,optillm",
                "--strategies",
                "deepconf",
                "--out",
                str(out),
            ]
        )
    data = json.loads(out.with_suffix(".json").read_text())
    assert data["meta"]["deepconf_options"] == {"eta": 10}
    statuses = {c["system"]: c["status"] for c in data["configs"]}
    assert statuses == {"ponder-http": "ok", "its_hub": "unavailable", "optillm": "unavailable"}
    table = out.with_suffix(".md").read_text()
    assert (
        "| deepconf | 4 | 1 | llama-cpp-python | ponder-http | ok |" in table
        and "DeepConf-low (online, eta 10)" in table
    )


def test_plan_adds_optillm_budget_for_self_consistency() -> None:
    args = run.parse_args(["--budgets", "4,8"])
    assert (SC, 5) in run.plan("ponder-http", args) and (SC, 5) not in run.plan("its_hub", args)
    assert (SC, 5) not in run.plan("ponder-http", run.parse_args(["--systems", "ponder-http,its_hub"]))
