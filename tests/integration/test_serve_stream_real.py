"""Watching runs on the embedded model (issue #19 item 4): the same samples with a watcher, and
``ponder serve``'s stream of the leading sample's reasoning."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

import ponder
from ponder.context.watch import SampleEvent, SampleGrew
from ponder.engines.llama import LlamaEngine
from ponder.serve import ServeConfig, create_app

pytestmark = pytest.mark.model

QUESTION = "Tom has 3 boxes with 4 apples in each box. How many apples does Tom have?"


async def test_a_watched_run_draws_the_same_samples_token_by_token(llama_engine: LlamaEngine) -> None:
    options = {"strategy": "self-consistency", "budget": 4, "max_tokens": 40, "seed": 3}
    llama_engine.reset_cache()  # the same cache state for both, so the same floating-point sums
    plain = await ponder.start(QUESTION, llama_engine, **options).run()
    llama_engine.reset_cache()
    events: list[SampleEvent] = []
    run = ponder.start(QUESTION, llama_engine, **options)
    run.ctx.watch(events.append)
    watched = await run.run()
    assert [c.text for c in watched.candidates] == [c.text for c in plain.candidates]
    assert watched.usage.completion_tokens == plain.usage.completion_tokens
    grew = [e for e in events if isinstance(e, SampleGrew)]
    assert len(grew) > 4 * 5  # token by token, not one delta a sample


@pytest.fixture(scope="module")
def url(llama_engine: LlamaEngine) -> Iterator[str]:
    from tests.support.app_server import AppServer

    app = create_app(llama_engine, ServeConfig(model_name="smollm2", default_max_tokens=40))
    with AppServer(app) as server:
        yield server.url


def test_the_stream_sends_reasoning_as_it_is_generated_then_the_answer(url: str) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
    chunks = list(
        client.chat.completions.create(
            model="smollm2::self-consistency:3",
            messages=[{"role": "user", "content": QUESTION}],
            max_tokens=40,
            seed=1,
            stream=True,
        )
    )
    reasoning = [
        i for i, c in enumerate(chunks) if c.choices and (c.choices[0].delta.model_extra or {}).get("reasoning_content")
    ]
    content = [i for i, c in enumerate(chunks) if c.choices and c.choices[0].delta.content]
    assert len(reasoning) > 10 and content and max(reasoning) < min(content)
    answer = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    thought = "".join(
        str((c.choices[0].delta.model_extra or {}).get("reasoning_content") or "") for c in chunks if c.choices
    )
    assert thought.startswith("[sample 1]\n") and len(thought) > 40 and answer.strip()
