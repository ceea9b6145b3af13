"""The API key never shows in what the HTTP engine reports, even when the server echoes it
(issue #17, item 6)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from tests.support.stub_server import Action, StubServer

from ponder.cli.main import cli
from ponder.core.errors import UpstreamError
from ponder.engines.base import GenerationRequest
from ponder.engines.http import OpenAIEngine
from ponder.engines.http.redact import Redactor

KEY = "sk-secret-0123456789"
CHAT = GenerationRequest.chat("What is 2 + 2?", max_tokens=16, seed=3)


def engine_for(server: StubServer, base_url: str | None = None) -> OpenAIEngine:
    return OpenAIEngine(base_url=base_url or server.url, api_key=KEY, retries=1, backoff=0.01, timeout=5)


@pytest.mark.parametrize("status", [400, 500])
async def test_an_echoed_authorization_header_is_redacted(status: int) -> None:
    with StubServer() as server:
        server.script = [Action("echo-auth", status=status)] * 2
        engine = engine_for(server)
        with pytest.raises(UpstreamError) as caught:
            await engine.generate([CHAT])
        await engine.aclose()
    assert server.requests[-1][3]["Authorization"] == f"Bearer {KEY}"  # it was sent
    assert "Authorization: Bearer ***" in str(caught.value) and "secret" not in str(caught.value)


async def test_an_echoed_key_is_redacted_in_streams_and_in_failed_samples() -> None:
    with StubServer(owned_by="me") as server:  # fan-out: one request per sample
        server.script = [Action("echo-auth", status=400)]
        engine = engine_for(server)
        [completions] = await engine.generate([GenerationRequest.chat("q", n=2)])
        failed = [c for c in completions if c.finish_reason == "error"]
        assert len(failed) == 1 and "Bearer ***" in (failed[0].error or "") and KEY not in (failed[0].error or "")
        server.script = [Action("echo-auth", status=400)]
        with pytest.raises(UpstreamError) as caught:
            await engine.stream(CHAT).completions()
        assert "Bearer ***" in str(caught.value) and KEY not in str(caught.value)
        await engine.aclose()


async def test_the_bare_key_is_redacted_even_where_the_message_is_cut() -> None:
    with StubServer() as server:
        message = "x" * 290 + f" {KEY} is not allowed"  # the key straddles the 300-character cut
        server.script = [Action("status", status=400, body={"error": {"message": message}})]
        engine = engine_for(server)
        with pytest.raises(UpstreamError) as caught:
            await engine.generate([CHAT])
        await engine.aclose()
    assert "sk-secret" not in str(caught.value) and "***" in str(caught.value)


async def test_a_password_in_the_base_url_is_not_shown() -> None:
    with StubServer() as server:
        server.script = [Action("status", status=400)]
        url = server.url.replace("http://", "http://user:hunter2@")
        engine = engine_for(server, base_url=url)
        with pytest.raises(UpstreamError) as caught:
            await engine.generate([CHAT])
        assert "hunter2" not in str(caught.value) and "http://***@127.0.0.1" in str(caught.value)
        assert "hunter2" not in repr(engine) and "hunter2" not in str(engine.info.details)
        await engine.aclose()


def test_the_cli_never_prints_the_key() -> None:
    with StubServer() as server:
        server.script = [Action("echo-auth", status=400)] * 8
        result = CliRunner().invoke(
            cli,
            ["solve", "What is 2 + 2?", "--engine", "openai", "--base-url", server.url, "-n", "1"]
            + ["--upstream-api-key", KEY],
        )
    assert result.exit_code != 0 and "Bearer ***" in result.stderr
    assert "secret" not in result.stderr and "secret" not in result.stdout


def test_the_redactor_hides_the_key_and_any_bearer_token() -> None:
    hide = Redactor(KEY)
    assert hide.text(f"key={KEY}; Authorization: Bearer abc.def-123") == "key=***; Authorization: Bearer ***"
    assert Redactor(None).text("bearer  tok3n, then") == "bearer  ***, then"
    error = hide.error(UpstreamError(f"echo {KEY}", 400))
    assert str(error) == "echo ***" and error.status == 400
