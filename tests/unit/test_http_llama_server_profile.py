"""The ``llama.cpp`` endpoint profile against what llama-server (llama.cpp's own server) does,
read from its source and checked against the real server in
tests/integration/test_llama_server_http.py (issue #20 item 3); no model here.

- its text completions (``/v1/completions``, which continuations use) carry logprobs in the chat
  format, ``{"content": [{"token", "logprob", "top_logprobs": [...]}]}``, not OpenAI's legacy columns;
- it reports cached prompt tokens in ``usage.prompt_tokens_details.cached_tokens``;
- its own ``n`` needs that many free slots (more than ``--parallel`` is refused) and reports the
  first choice's usage only: the profile fans samples out, one request each, sent concurrently.
"""

from __future__ import annotations

from tests.support.stub_server import StubServer

from ponder.engines.base import GenerationRequest, Message
from ponder.engines.http import OpenAIEngine
from ponder.engines.http.payloads import COMPLETIONS, ChunkReader, parse_response
from ponder.engines.http.profiles import PROFILES

PARTIAL = GenerationRequest(
    messages=(Message("user", "2 + 2?"),), assistant_prefix="It is", max_tokens=4, logprobs=True, top_logprobs=2
)


def chat_format(*tokens: str) -> dict[str, object]:
    return {
        "content": [
            {
                "id": 1,
                "token": token,
                "bytes": list(token.encode()),
                "logprob": -0.25,
                "top_logprobs": [{"id": 1, "token": token, "logprob": -0.25}, {"id": 2, "token": "x", "logprob": -2.0}],
            }
            for token in tokens
        ]
    }


def test_text_completion_logprobs_in_the_chat_format_are_read() -> None:
    reply = {
        "choices": [{"text": " 4.", "index": 0, "finish_reason": "stop", "logprobs": chat_format(" 4", ".")}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 15}},
    }
    [completion] = parse_response(reply, path=COMPLETIONS, request=PARTIAL, first_index=0)
    assert completion.logprobs is not None and [lp.token for lp in completion.logprobs] == [" 4", "."]
    assert completion.logprobs[0].top == ((" 4", -0.25), ("x", -2.0))
    assert completion.completion_tokens == 2  # counted from the logprobs
    assert completion.usage.prompt_tokens_computed == 5  # 20 prompt tokens, 15 of them cached


def test_streamed_text_chunks_with_chat_format_logprobs_are_read() -> None:
    reader = ChunkReader(COMPLETIONS, PARTIAL, 0)
    text, logprobs = reader.add({"choices": [{"text": " 4", "index": 0, "logprobs": chat_format(" 4")}]})
    assert text == " 4" and [lp.token for lp in logprobs] == [" 4"]
    reader.add({"choices": [{"text": "", "index": 0, "finish_reason": "stop"}], "usage": {"prompt_tokens": 9}})
    done = reader.completion()
    assert done.completion_tokens == 1 and done.logprobs is not None and done.logprobs[0].logprob == -0.25


def test_the_legacy_columns_are_still_read() -> None:
    legacy = {"tokens": [" 4"], "token_logprobs": [-0.5], "top_logprobs": [{" 4": -0.5, " 5": -1.5}]}
    reply = {"choices": [{"text": " 4", "index": 0, "finish_reason": "stop", "logprobs": legacy}]}
    [completion] = parse_response(reply, path=COMPLETIONS, request=PARTIAL, first_index=0)
    assert completion.logprobs is not None and completion.logprobs[0].top == ((" 4", -0.5), (" 5", -1.5))


def test_the_llama_cpp_profile_states_llama_servers_behaviour() -> None:
    profile = PROFILES["llama.cpp"]
    assert profile.reports_cached_tokens and not profile.serves_one_at_a_time
    assert not profile.supports_n and profile.max_tokens_field == "max_tokens"
    assert profile.continuation == "template" and profile.template_path == "/props"
    assert "--parallel" in profile.notes and "first choice's usage" in profile.notes


async def test_samples_go_to_llama_server_as_concurrent_single_requests() -> None:
    with StubServer(owned_by="llamacpp") as server:
        server.delay = 0.3
        engine = OpenAIEngine(base_url=server.url, retries=0, timeout=10)
        [row] = await engine.generate([GenerationRequest.chat("2 + 2?", n=4, max_tokens=8, seed=1)])
        await engine.aclose()
        arrivals = sorted(t for t, _, _, _ in server.posts())
        bodies = [body for _, _, body, _ in server.posts()]
    assert engine.profile.name == "llama.cpp" and len(row) == 4
    assert all("n" not in body for body in bodies) and len({body["seed"] for body in bodies}) == 4
    assert sum(t - arrivals[0] < 0.25 for t in arrivals) >= 4  # all sent before the first reply came back
