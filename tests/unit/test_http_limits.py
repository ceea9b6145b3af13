"""The HTTP engine's limits against a misbehaving server (issue #17, items 4 and 5): a total
deadline per request (retries included), a capped Retry-After, capped response sizes, the
``timeout`` option and its ``--upstream-timeout`` flag, and lazy fan-out for a huge ``n``.

The servers here trickle, never end or stall; the timeouts are small, and each test checks the
typed error it gets (and, where it matters, how many requests the server saw). The elapsed-time
bounds are generous hang guards, not measurements.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from click.testing import CliRunner
from tests.support.stub_server import Action, StubServer

from ponder.cli.engine_options import engine_spec
from ponder.cli.main import cli
from ponder.core.errors import EngineTimeoutError, InvalidInputError, UpstreamError
from ponder.engines.base import GenerationRequest
from ponder.engines.http import OpenAIEngine
from ponder.engines.http import engine as engine_module
from ponder.engines.http.transport import RetryPolicy, Transport

CHAT = GenerationRequest.chat("What is 2 + 2?", max_tokens=16, seed=3)
HANG_GUARD = 20.0  # seconds: far beyond what any of these should take, far below a hang


def engine_for(server: StubServer, **options: Any) -> OpenAIEngine:
    settings: dict[str, Any] = {"retries": 3, "backoff": 0.01, "timeout": 1, **options}
    return OpenAIEngine(base_url=server.url, **settings)


async def test_a_trickled_body_ends_at_the_deadline_not_at_the_last_byte() -> None:
    with StubServer() as server:  # ~300 bytes at 0.2 s each: a minute, were reads timed one by one
        server.script = [Action("trickle", seconds=0.2)] * 4
        engine = engine_for(server)
        began = time.monotonic()
        with pytest.raises(EngineTimeoutError, match=r"did not answer within 1 s"):
            await engine.generate([CHAT])
        assert time.monotonic() - began < HANG_GUARD
        assert len(server.posts()) == 1  # the deadline covers the retries: none is left
        await engine.aclose()


async def test_a_trickled_stream_ends_at_the_deadline() -> None:
    with StubServer(owned_by="vllm") as server:  # its first event within ~0.6 s, its end after ~8 s
        server.script = [Action("trickle", seconds=0.005)] * 4
        engine = engine_for(server, timeout=2)
        began = time.monotonic()
        with pytest.raises(EngineTimeoutError, match=r"the stream from .* did not end within 2 s"):
            await engine.stream(CHAT).completions()
        assert time.monotonic() - began < HANG_GUARD
        await engine.aclose()


async def test_stalls_are_not_retried_past_the_deadline() -> None:
    with StubServer() as server:
        server.script = [Action("hang", seconds=3)] * 4  # four tries of 1 s each before
        engine = engine_for(server)
        with pytest.raises(EngineTimeoutError, match=r"did not answer within 1 s"):
            await engine.generate([CHAT])
        assert len(server.posts()) == 1
        await engine.aclose()


async def test_retries_stop_when_the_next_wait_would_pass_the_deadline() -> None:
    with StubServer() as server:
        server.script = [Action("status", status=503)] * 20
        engine = engine_for(server, retries=19, backoff=0.3)  # 0.3, 0.6, 1.2 s ... with jitter
        began = time.monotonic()
        with pytest.raises(UpstreamError, match=r"503.*no time left for a retry; the timeout is 1 s"):
            await engine.generate([CHAT])
        assert time.monotonic() - began < HANG_GUARD
        assert 1 <= len(server.posts()) <= 4
        await engine.aclose()


async def test_a_retry_after_beyond_the_deadline_is_not_waited_for() -> None:
    with StubServer() as server:
        server.script = [Action("status", status=429, headers={"Retry-After": "100000"})] * 4
        engine = engine_for(server, timeout=5)
        began = time.monotonic()
        with pytest.raises(UpstreamError, match=r"429.*the server asked to wait 100000 s; the timeout is 5 s"):
            await engine.generate([CHAT])
        assert time.monotonic() - began < HANG_GUARD
        assert len(server.posts()) == 1
        await engine.aclose()


async def test_a_long_retry_after_is_capped_at_the_longest_wait() -> None:
    with StubServer() as server:
        server.script = [Action("status", status=429, headers={"Retry-After": "100000"})]
        transport = Transport(
            server.url, api_key=None, timeout=10, concurrency=1, retry=RetryPolicy(attempts=2, max_wait=0.2)
        )
        began = time.monotonic()
        data = await transport.post("/v1/chat/completions", {"messages": [{"role": "user", "content": "q"}]})
        assert data["choices"] and time.monotonic() - began < HANG_GUARD
        assert len(server.posts()) == 2
        await transport.aclose()


async def test_an_endless_body_is_cut_at_the_size_cap() -> None:
    with StubServer() as server:
        server.script = [Action("endless")]
        engine = engine_for(server, timeout=10, max_response_bytes=2**20)
        with pytest.raises(UpstreamError, match=r"sent more than the 1 MiB a response may have"):
            await engine.generate([CHAT])
        assert len(server.posts()) == 1  # an oversized reply is not retried
        await engine.aclose()


async def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    with StubServer() as server:
        engine = engine_for(server, max_response_bytes=100)
        with pytest.raises(UpstreamError, match=r"declares \d+ bytes, more than the 100 bytes a response may have"):
            await engine.generate([CHAT])
        await engine.aclose()


async def test_an_endless_stream_is_cut_at_the_size_cap() -> None:
    with StubServer(owned_by="vllm") as server:
        server.script = [Action("endless-events")]
        engine = engine_for(server, timeout=10, max_response_bytes=2**20)
        with pytest.raises(UpstreamError, match=r"sent more than the 1 MiB a response may have"):
            await engine.stream(CHAT).completions()
        await engine.aclose()


async def test_an_endless_line_is_cut_at_the_event_cap() -> None:
    with StubServer(owned_by="vllm") as server:
        server.script = [Action("endless-line")]
        transport = Transport(server.url, api_key=None, timeout=10, concurrency=1, max_event_bytes=2**18)
        with pytest.raises(UpstreamError, match=r"a line longer than the 256 KiB an event may have"):
            async for _ in transport.events("/v1/chat/completions", {"stream": True, "messages": []}):
                pass
        await transport.aclose()
        assert len(server.streams) == 0 and server.posts()


def test_timeout_is_an_engine_option_and_the_upstream_timeout_flag() -> None:
    spec = engine_spec("openai", {"base_url": "http://127.0.0.1:9", "timeout": "7.5"}, ())
    assert spec.options["timeout"] == "7.5"
    engine = spec.create()
    assert isinstance(engine, OpenAIEngine) and engine._timeout == 7.5
    with pytest.raises(InvalidInputError, match="has no option --upstream-timeout"):
        engine_spec("llama", {"timeout": "3"}, ())
    with pytest.raises(InvalidInputError, match="timeout must be a finite number > 0"):
        engine_spec("openai", {"base_url": "http://x", "timeout": "0"}, ()).create()
    with pytest.raises(InvalidInputError, match="max_response_mb must be a number > 0"):
        engine_spec("openai", {"base_url": "http://x"}, ("max_response_mb=0",)).create()


def test_the_cli_flag_bounds_a_stalled_server() -> None:
    with StubServer() as server:
        server.script = [Action("trickle", seconds=0.2)] * 40
        began = time.monotonic()
        result = CliRunner().invoke(
            cli,
            ["solve", "What is 2 + 2?", "--engine", "openai", "--base-url", server.url, "-n", "1"]
            + ["--upstream-timeout", "1"],
        )
    assert time.monotonic() - began < HANG_GUARD
    assert result.exit_code != 0 and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error:") and "did not answer within 1 s" in line


class BuildCounter:
    """Counts the request bodies the engine builds."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.built = 0
        real = engine_module.build_body

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.built += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(engine_module, "build_body", counting)


async def test_a_huge_n_builds_requests_as_they_go_and_stops_with_its_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = BuildCounter(monkeypatch)
    with StubServer(owned_by="acme") as server:  # generic: one request per sample, 16 at once
        engine = engine_for(server, timeout=5)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(engine.generate([GenerationRequest.chat("q", n=100_000)]), 1.0)
        sent = len(server.posts())
        assert sent > 0 and counter.built <= sent + 16  # never more built than sent, plus those in flight
        await asyncio.sleep(0.3)
        assert len(server.posts()) <= sent + 16  # the caller stopped: so did the engine
        await engine.aclose()


async def test_a_huge_n_streams_as_slots_free(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = BuildCounter(monkeypatch)
    with StubServer(owned_by="vllm") as server:
        engine = engine_for(server, timeout=5, concurrency=4)
        stream = engine.stream(GenerationRequest.chat("q", n=100_000))
        done = 0
        async for event in stream:
            done += type(event).__name__ == "SampleDone"
            if done == 10:
                break
        stream.cancel()
        await asyncio.sleep(0.1)
        assert counter.built <= len(server.posts()) + 1 + 4  # one to check the request, four in flight
        await engine.aclose()


async def test_a_body_that_cannot_be_decoded_is_an_upstream_error() -> None:
    """A reply claiming gzip that is not: httpx's DecodingError is neither a transport nor a
    timeout error, and used to escape as a traceback."""
    with StubServer() as server:
        server.script = [Action("status", status=200, headers={"Content-Encoding": "gzip"}, body={"id": "x"})]
        engine = engine_for(server)
        with pytest.raises(UpstreamError, match=r"sent a reply that cannot be read: DecodingError"):
            await engine.generate([CHAT])
        await engine.aclose()
