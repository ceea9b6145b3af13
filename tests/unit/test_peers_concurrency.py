"""The peer benchmark's servers and concurrency (issue #20 item 4), against a scripted server, no model:
problems in flight at once, the proxy's parallel ``n`` split, the report's server and concurrency
columns and the issue's targets, llama-server rows when it is not built."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.stub_server import StubServer

from ponder.bench.datasets import Problem
from ponder.engines.http.profiles import PROFILES

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from peers import report, run, servers
from peers.itshub import ItsHubSystem
from peers.measure import run_config
from peers.proxy import Adjustments, CountingProxy
from peers.systems import BON, SC, Reply, Setup, Solver, System, ponder_http

CHAT = {"model": "m", "messages": [{"role": "user", "content": "2 + 2?"}]}


def problems(count: int) -> list[Problem]:
    return [
        Problem(id=str(i), question=f"What is {i} + {4 - i}?", gold="4", grader="math", data={}) for i in range(count)
    ]


def setup_for(url: str) -> Setup:
    return Setup(
        url=url,
        model="stub-model",
        profile=PROFILES["llama.cpp"],
        system_prompt="Answer.",
        temperature=0.8,
        max_tokens=32,
        seed=0,
    )


def overlapping(arrivals: list[float]) -> int:
    """How many requests reached the (0.2 s per reply) stub before the first could have been answered."""
    return sum(t - arrivals[0] < 0.15 for t in arrivals)


class Sleeper(System):
    """Answers 4 after ``seconds``, counting how many of its solves overlap."""

    name = "sleeper"
    concurrent = "asyncio tasks"

    def __init__(self, seconds: float) -> None:
        self.seconds, self.running, self.most = seconds, 0, 0

    async def prepare(self, strategy: str, budget: int) -> Solver:
        import asyncio

        async def solve(problem: Problem) -> Reply:
            self.running += 1
            self.most = max(self.most, self.running)
            await asyncio.sleep(self.seconds if problem.id != "0" else 2 * self.seconds)  # the first finishes last
            self.running -= 1
            return Reply("The answer is 4.", "4")

        return solve


async def test_run_config_keeps_concurrency_problems_in_flight_in_problem_order() -> None:
    system = Sleeper(0.2)
    started = time.perf_counter()
    result = await run_config(system, SC, 8, problems(8), None, concurrency=4)
    wall = time.perf_counter() - started
    assert system.most == 4 and wall < 1.2  # 8 problems of 0.2 s (one 0.4 s), 4 at a time: ~0.6 s, not 1.8 s
    assert [r["id"] for r in result["records"]] == [str(i) for i in range(8)]
    assert result["concurrency"] == 4 and result["concurrent"] == "asyncio tasks" and result["accuracy"] == 1.0
    one = Sleeper(0.01)
    single = await run_config(one, SC, 8, problems(3), None)
    assert one.most == 1 and single["concurrency"] == 1 and "concurrent" not in single


def test_the_proxy_splits_n_in_parallel_for_a_batching_server() -> None:
    with StubServer(owned_by="llamacpp") as stub:
        stub.delay = 0.3
        timings = {}
        for parallel in (True, False):
            with CountingProxy(stub.url, Adjustments(parallel_n=parallel)) as proxy:
                started = time.perf_counter()
                reply = httpx.post(proxy.url + "/v1/chat/completions", json={**CHAT, "n": 4, "seed": 1}, timeout=10)
                timings[parallel] = time.perf_counter() - started
                tally = proxy.snapshot()
            assert len(reply.json()["choices"]) == 4 and tally.upstream_requests == 4
            assert tally.completion_tokens == 4 * 7  # every sample's usage, summed
        seeds = sorted(body["seed"] for _, _, body, _ in stub.posts()[:4])
    assert seeds == [1, 2, 3, 4]
    assert timings[True] < 0.9 < 1.2 <= timings[False]  # 4 x 0.3 s at once, else one after another
    assert Adjustments(parallel_n=True).to_dict()["expand_n_in_parallel"]


async def test_ponder_http_runs_problems_at_once_against_the_stub() -> None:
    with StubServer(owned_by="llamacpp") as stub, CountingProxy(stub.url) as proxy:
        stub.delay = 0.2
        system = ponder_http(setup_for(proxy.url))
        await system.open()
        try:
            result = await run_config(system, SC, 2, problems(4), proxy, concurrency=4)
        finally:
            await system.close()
        arrivals = sorted(t for t, _, _, _ in stub.posts())
    assert result["status"] == "ok" and result["accuracy"] == 1.0 and len(arrivals) == 8
    assert overlapping(arrivals) >= 4  # the 4 problems' samples sent before the first reply
    assert "bench --workers" in result["concurrent"]


async def test_its_hub_runs_problems_at_once_through_its_async_api() -> None:
    pytest.importorskip("its_hub")
    with StubServer(owned_by="llamacpp") as stub, CountingProxy(stub.url) as proxy:
        stub.delay = 0.2
        system = ItsHubSystem(setup_for(proxy.url))
        await system.open()
        try:
            result = await run_config(system, SC, 2, problems(4), proxy, concurrency=4)
        finally:
            await system.close()
        arrivals = sorted(t for t, _, _, _ in stub.posts())
    assert result["status"] == "ok" and result["accuracy"] == 1.0 and result["upstream_requests"] == 8
    assert overlapping(arrivals) >= 4 and "ainfer" in result["concurrent"]


def ran(system: str, wall: float, strategy: str = SC, budget: int = 8, **where: Any) -> dict[str, Any]:
    return {
        "system": system,
        "strategy": strategy,
        "budget": budget,
        "server": where.get("server", "llama-server"),
        "concurrency": where.get("concurrency", 4),
        "status": "ok",
        "problems": 20,
        "correct": where.get("correct", 10),
        "accuracy": where.get("correct", 10) / 20,
        "errors": 0,
        "wall_seconds": wall,
        "records": [],
    }


def test_the_report_sets_rows_against_ponder_at_the_same_server_and_concurrency() -> None:
    configs = [
        ran("ponder-http", 6.0),
        ran("ponder-http", 9.0, concurrency=1),
        ran("ponder-http", 50.0, server="llama-cpp-python"),
        ran("ponder-embedded", 4.0, server="in-process"),
        ran("its_hub", 10.0),
        ran("its_hub", 12.0, concurrency=1),
        ran("its_hub", 40.0, server="llama-cpp-python"),
    ]
    rows = report.build(configs, {"versions": {}})["rows"]
    by = {(r["system"], r["server"], r["concurrency"]): r for r in rows}
    assert by[("its_hub", "llama-server", 4)]["vs_ponder"]["ponder-http"]["wall_ratio"] == 0.6
    assert by[("its_hub", "llama-server", 1)]["vs_ponder"]["ponder-http"]["wall_ratio"] == 0.75
    assert by[("its_hub", "llama-cpp-python", 4)]["vs_ponder"]["ponder-http"]["wall_ratio"] == 1.25
    assert by[("its_hub", "llama-cpp-python", 4)]["vs_ponder"]["ponder-embedded"]["wall_ratio"] == 0.1
    assert "ponder-embedded" not in by[("its_hub", "llama-server", 1)]["vs_ponder"]  # no embedded run at 1
    order = [(r["concurrency"], r["server"], r["system"]) for r in rows]
    assert order[:3] == [
        (1, "llama-server", "ponder-http"),
        (1, "llama-server", "its_hub"),
        (4, "llama-cpp-python", "ponder-http"),
    ]


def test_the_report_evaluates_the_issues_targets() -> None:
    configs = [
        ran("ponder-http", 7.0),
        ran("its_hub", 10.0),  # 0.7x: met
        ran("ponder-http", 9.0, strategy=BON),
        ran("its_hub", 10.0, strategy=BON),  # 0.9x: missed
        ran("ponder-http", 4.0, budget=5),
        {**ran("optillm", 10.0, budget=5), "correct": 20, "accuracy": 1.0},  # SC at 5 only: 0.4x, accuracy apart
        ran("ponder-embedded", 2.0, server="in-process"),
        ran("its_hub", 5.0, server="llama-cpp-python"),  # 0.4x: met
        {
            "system": "optillm",
            "strategy": BON,
            "budget": 8,
            "server": "llama-server",
            "concurrency": 4,
            "status": "failed",
            "reason": "could not start: boom",
        },
    ]
    built = report.build(configs, {"versions": {}})
    found = {(t["system"], t["peer"], t["strategy"]): t for t in built["targets"]}
    assert len(found) == 8
    assert found[("ponder-http", "its_hub", SC)]["status"] == "met"
    assert found[("ponder-http", "its_hub", SC)]["wall_ratio"] == 0.7
    assert found[("ponder-http", "its_hub", BON)]["status"] == "missed"
    optillm_sc = found[("ponder-http", "optillm", SC)]
    assert optillm_sc["budget"] == 5 and optillm_sc["wall_ratio"] == 0.4
    assert optillm_sc["status"] == "missed" and not optillm_sc["accuracy_within_noise"]
    assert found[("ponder-http", "optillm", BON)]["status"] == "not measured"
    assert "could not start: boom" in found[("ponder-http", "optillm", BON)]["reason"]
    assert found[("ponder-embedded", "its_hub", SC)]["status"] == "met"
    assert found[("ponder-embedded", "its_hub", SC)]["server"] == "llama-cpp-python"
    assert "not run" in found[("ponder-embedded", "its_hub", BON)]["reason"]
    table = report.markdown(built)
    assert "## The issue's targets" in table
    met = (
        "| ponder-http <= 0.8x the peer's wall on llama-server, 4 problems at once | its_hub | self-consistency "
        "| 8 | 7.0 | 10.0 | 0.70x | 0.8 | 50% / 50% | met |"
    )
    assert met in table
    assert "missed (accuracy outside noise); optillm's self_consistency always draws 5 samples" in table
    assert "| self-consistency | 8 | 4 | llama-server | its_hub | ok |" in table


def test_llama_server_binary_reads_the_scripts_pin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "llama-server.sh"
    script.write_text("LLAMA_CPP_VERSION=${LLAMA_CPP_VERSION:-9.9.9}\n")
    monkeypatch.setenv("PONDER_LLAMA_SERVER_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("LLAMA_CPP_VERSION", raising=False)
    assert servers.llama_server_binary(script) is None
    binary = tmp_path / "cache" / "9.9.9" / "bin" / "llama-server"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    assert servers.llama_server_binary(script) == binary
    monkeypatch.setenv("LLAMA_CPP_VERSION", "1.0.0")
    assert servers.llama_server_binary(script) is None


def test_llama_server_rows_say_it_is_not_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run, "llama_server_binary", lambda: None)
    out = tmp_path / "peers"
    run.main(
        ["--servers", "llama-server", "--systems", "ponder-http,its_hub", "--strategies", "self-consistency"]
        + ["--budgets", "8", "--limit", "1", "--out", str(out)]
    )
    data = json.loads(out.with_suffix(".json").read_text())
    keys = {(c["system"], c["server"], c["concurrency"], c["status"]) for c in data["configs"]}
    assert keys == {(name, "llama-server", c, "unavailable") for name in ("ponder-http", "its_hub") for c in (1, 4)}
    assert all("scripts/llama-server.sh --build-only" in c["reason"] for c in data["configs"])
    assert all(t["status"] == "not measured" for t in data["targets"])


def test_the_command_line_defaults_to_both_servers_and_concurrencies() -> None:
    args = run.parse_args([])
    assert args.servers == ["llama-cpp-python", "llama-server"] and args.concurrency == [1, 4]
    assert args.parallel == 8
    with pytest.raises(SystemExit):
        run.parse_args(["--servers", "vllm"])
    with pytest.raises(SystemExit):
        run.parse_args(["--concurrency", "0"])
