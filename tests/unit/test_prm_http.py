"""The HTTP process reward models against a local scripted server: vLLM's pooling API (request
format of Qwen2.5-Math-PRM, parsing, retries, malformed answers) and the generic JSON protocol."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.prm_server import PrmServer, pooling_answer

from ponder.core.errors import InvalidInputError, UpstreamError
from ponder.core.result import Candidate
from ponder.engines.http.transport import RetryPolicy
from ponder.scorers.prm import QWEN_PRM_SYSTEM, GenericHttpPRM, VllmPRM

QUESTION = "What is 2 + 3 * 4?"
GOOD = ["3 * 4 = 12.", "2 + 12 = 14.", "The answer is \\boxed{14}."]
BAD = ["2 + 3 = 5.", "5 * 4 = 20."]
FAST = RetryPolicy(attempts=3, backoff=0.01, max_wait=0.05)


def step_prob(step: str) -> float:
    """The scripted PRM's opinion of one step."""
    return 0.1 if "5" in step else 0.9


def pooling_server(body: dict[str, Any]) -> list[list[float]]:
    """What a PRM behind /pooling would score for a request: split at <extra_0>."""
    texts = [body["messages"][-1]["content"]] if "messages" in body else body["input"]
    return [[step_prob(s) for s in text.split("<extra_0>")[:-1]] for text in texts]


def vllm_respond(path: str, body: dict[str, Any]) -> tuple[int, Any]:
    if path != "/pooling":
        return 404, {"error": {"message": f"no route {path}"}}
    return 200, pooling_answer(pooling_server(body))


def candidate(text: str) -> Candidate:
    return Candidate(text=text, answer=None, finish_reason="stop", completion_tokens=1)


# -- vLLM pooling ------------------------------------------------------------------------------


async def test_vllm_messages_request_follows_the_model_card() -> None:
    with PrmServer(vllm_respond) as server:
        prm = VllmPRM(server.url + "/v1", "Qwen/Qwen2.5-Math-PRM-7B", api_key="secret", retry=FAST)
        scores = await prm.score_steps(QUESTION, [GOOD, BAD, []])
        await prm.aclose()
    assert scores == [[0.9, 0.9, 0.9], [0.1, 0.1], []]
    assert len(server.requests) == 2  # one per non-empty partial
    path, body, headers = next(r for r in server.requests if "12" in r[1]["messages"][-1]["content"])
    assert path == "/pooling" and headers["Authorization"] == "Bearer secret"
    assert body["model"] == "Qwen/Qwen2.5-Math-PRM-7B"
    assert body["messages"] == [
        {"role": "system", "content": QWEN_PRM_SYSTEM},
        {"role": "user", "content": QUESTION},
        {
            "role": "assistant",
            "content": "3 * 4 = 12.<extra_0>2 + 12 = 14.<extra_0>The answer is \\boxed{14}.<extra_0>",
        },
    ]
    assert QWEN_PRM_SYSTEM == "Please reason step by step, and put your final answer within \\boxed{}."
    assert body["add_generation_prompt"] is False and body["continue_final_message"] is False
    assert prm.usage.scorer_calls == 2 and prm.usage.scorer_tokens == 100


async def test_vllm_text_format_batches_prerendered_chatml() -> None:
    with PrmServer(vllm_respond) as server:
        prm = VllmPRM(server.url, input_format="text", batch_size=2, retry=FAST)
        scores = await prm.score_steps(QUESTION, [GOOD, BAD, GOOD[:1]])
        await prm.aclose()
    assert scores == [[0.9, 0.9, 0.9], [0.1, 0.1], [0.9]]
    assert sorted(len(body["input"]) for _, body, _ in server.requests) == [1, 2]
    first = next(body for _, body, _ in server.requests if len(body["input"]) == 2)
    assert first["input"][1] == (
        f"<|im_start|>system\n{QWEN_PRM_SYSTEM}<|im_end|>\n<|im_start|>user\n{QUESTION}<|im_end|>\n"
        "<|im_start|>assistant\n2 + 3 = 5.<extra_0>5 * 4 = 20.<extra_0><|im_end|>\n"
    )


async def test_vllm_separator_inside_a_step_is_removed_and_results_are_reordered() -> None:
    def respond(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        answer = pooling_answer(pooling_server(body))
        answer["data"].reverse()  # data entries carry their index
        return 200, answer

    with PrmServer(respond) as server:
        prm = VllmPRM(server.url, input_format="text", retry=FAST)
        assert await prm.score_steps(QUESTION, [["3 * 4 <extra_0>= 12."], BAD]) == [[0.9], [0.1, 0.1]]
        await prm.aclose()
    assert server.requests[0][1]["input"][0].count("<extra_0>") == 1


async def test_vllm_whole_aggregation_and_scorer_interface() -> None:
    with PrmServer(vllm_respond) as server:
        prm = VllmPRM(server.url, aggregation="whole", retry=FAST)
        assert await prm.score_steps(QUESTION, [BAD]) == [[0.1]]
        minimum = VllmPRM(server.url, aggregation="min", retry=FAST)
        texts = ["\n\n".join(GOOD), "3 * 4 = 12.\n\n2 + 3 = 5."]
        assert await minimum.score(QUESTION, [candidate(t) for t in texts]) == [0.9, 0.1]
        await prm.aclose()
        await minimum.aclose()


async def test_vllm_whole_scores_the_joined_steps_as_one() -> None:
    """``whole`` is the partial as one step (one <extra_0>, Puri et al.'s input), not the last of
    the step-split scores."""
    with PrmServer(vllm_respond) as server:
        prm = VllmPRM(server.url, aggregation="whole", retry=FAST)
        assert await prm.score_steps(QUESTION, [GOOD, []]) == [[0.9], []]
        await prm.aclose()
    ((_, body, _),) = server.requests
    assert body["messages"][-1]["content"] == "\n\n".join(GOOD) + "<extra_0>"


async def test_vllm_retries_a_500_then_succeeds() -> None:
    with PrmServer(vllm_respond, fail_first=2) as server:
        prm = VllmPRM(server.url, retry=FAST)
        assert await prm.score_steps(QUESTION, [BAD]) == [[0.1, 0.1]]
        await prm.aclose()
    assert len(server.requests) == 3


async def test_vllm_gives_up_with_a_typed_error() -> None:
    with PrmServer(vllm_respond, fail_first=10) as server:
        prm = VllmPRM(server.url, retry=FAST)
        with pytest.raises(UpstreamError, match="500"):
            await prm.score_steps(QUESTION, [BAD])
        await prm.aclose()
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"data": [{"index": 0, "data": [[0.5, 0.5]]}]}, r"expected 2 step scores \(one per '<extra_0>'\), got 1"),
        ({"data": []}, "expected a 'data' list with 1 result"),
        ({"object": "error"}, "expected a 'data' list"),
        ({"data": [{"index": 0, "data": [[0.5, 1.7], [0.5, 0.5]]}]}, r"probability in \[0, 1\]"),
        ({"data": [{"index": 0, "data": [[0.5], [0.5]]}]}, "list of class probabilities"),
        ({"data": [{"index": 0, "data": "AAAA"}]}, "no list 'data'"),
        (b"<html>oops</html>", "not JSON"),
    ],
)
async def test_vllm_malformed_responses_are_clear_errors(payload: Any, message: str) -> None:
    with PrmServer(lambda path, body: (200, payload)) as server:
        prm = VllmPRM(server.url, retry=FAST)
        with pytest.raises(UpstreamError, match=message):
            await prm.score_steps(QUESTION, [BAD])
        await prm.aclose()


async def test_vllm_client_error_is_not_retried() -> None:
    with PrmServer(lambda path, body: (400, {"error": {"message": "bad input"}})) as server:
        prm = VllmPRM(server.url, retry=FAST)
        with pytest.raises(UpstreamError, match="400: bad input"):
            await prm.score_steps(QUESTION, [BAD])
        await prm.aclose()
    assert len(server.requests) == 1


def test_vllm_rejects_bad_options() -> None:
    with pytest.raises(InvalidInputError, match="input_format"):
        VllmPRM("http://127.0.0.1:1", input_format="chat")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="separator"):
        VllmPRM("http://127.0.0.1:1", step_separator="")
    with pytest.raises(InvalidInputError, match="aggregation"):
        VllmPRM("http://127.0.0.1:1", aggregation="mean")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="concurrency"):
        VllmPRM("http://127.0.0.1:1", concurrency=0)


# -- generic JSON protocol ---------------------------------------------------------------------


def generic_respond(path: str, body: dict[str, Any]) -> tuple[int, Any]:
    if body.get("aggregation") == "whole":
        return 200, {"scores": [[step_prob(" ".join(p))] for p in body["steps"]]}
    return 200, {"scores": [[step_prob(s) for s in p] for p in body["steps"]], "usage": {"total_tokens": 7}}


async def test_generic_http_protocol_and_batching() -> None:
    with PrmServer(generic_respond) as server:
        prm = GenericHttpPRM(server.url + "/score", batch_size=2, retry=FAST)
        scores = await prm.score_steps(QUESTION, [GOOD, [], BAD, GOOD[:1]])
        await prm.aclose()
    assert scores == [[0.9, 0.9, 0.9], [], [0.1, 0.1], [0.9]]
    assert sorted(len(body["steps"]) for _, body, _ in server.requests) == [1, 2]
    path, body, _ = next(r for r in server.requests if len(r[1]["steps"]) == 2)
    assert path == "/score" and body == {"question": QUESTION, "steps": [GOOD, BAD], "aggregation": "last"}
    assert prm.usage.scorer_calls == 2 and prm.usage.scorer_tokens == 14


async def test_generic_http_whole() -> None:
    with PrmServer(generic_respond) as server:
        prm = GenericHttpPRM(server.url + "/score", aggregation="whole", retry=FAST)
        assert await prm.score_steps(QUESTION, [GOOD, BAD]) == [[0.9], [0.1]]
        assert await prm.score(QUESTION, [candidate("\n\n".join(BAD))]) == [0.1]
        await prm.aclose()


async def test_generic_http_retries_then_raises() -> None:
    with PrmServer(generic_respond, fail_first=1) as server:
        prm = GenericHttpPRM(server.url + "/score", retry=FAST)
        assert await prm.score_steps(QUESTION, [BAD]) == [[0.1, 0.1]]
        await prm.aclose()
    with PrmServer(generic_respond, fail_first=5) as server:
        prm = GenericHttpPRM(server.url + "/score", retry=FAST)
        with pytest.raises(UpstreamError, match="answered 500"):
            await prm.score_steps(QUESTION, [BAD])
        await prm.aclose()


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"score": 0.5}, r'expected \{"scores": \[\.\.\.\]\} with 1 list'),
        ({"scores": [[0.5]]}, r"expected 2 score\(s\) for a partial answer of 2 step\(s\)"),
        ({"scores": [[0.5, "high"]]}, "must be a number"),
        ({"scores": [[0.5, -0.1]]}, r"probability in \[0, 1\]"),
    ],
)
async def test_generic_http_malformed_responses(payload: Any, message: str) -> None:
    with PrmServer(lambda path, body: (200, payload)) as server:
        prm = GenericHttpPRM(server.url + "/score", retry=FAST)
        with pytest.raises(UpstreamError, match=message):
            await prm.score_steps(QUESTION, [BAD])
        await prm.aclose()


async def test_unreachable_server_is_a_typed_error() -> None:
    from ponder.core.errors import BackendUnavailableError

    prm = GenericHttpPRM("http://127.0.0.1:9/score", retry=RetryPolicy(attempts=1))
    with pytest.raises(BackendUnavailableError, match="cannot reach"):
        await prm.score_steps(QUESTION, [BAD])
    await prm.aclose()


SECRET = "sk-prm-secret-0123456789"


@pytest.mark.parametrize("kind", ["vllm", "generic"])
async def test_a_malformed_reply_that_echoes_the_key_is_redacted(kind: str) -> None:
    """The shape errors quote the reply; a server that echoes the Authorization header must not
    make the key appear in ponder's error."""
    echo = {"data": f"Authorization: Bearer {SECRET}", "scores": f"Bearer {SECRET}"}
    with PrmServer(lambda path, body: (200, echo)) as server:
        prm = (
            VllmPRM(server.url, api_key=SECRET, retry=FAST)
            if kind == "vllm"
            else GenericHttpPRM(server.url + "/score", api_key=SECRET, retry=FAST)
        )
        with pytest.raises(UpstreamError) as raised:
            await prm.score_steps(QUESTION, [BAD])
        await prm.aclose()
    assert SECRET not in str(raised.value) and "***" in str(raised.value)
