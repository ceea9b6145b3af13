"""Hogwild! on the embedded engine, on the real model: the shared cache is exact and computes
nothing twice, and a whole run answers a MAWPS question with its interleaved history."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest

import ponder
from ponder.engines.base import GenerationRequest
from ponder.engines.collaboration import CollabEnd, CollabRequest, FinishedStep
from ponder.engines.llama import LlamaEngine
from ponder.engines.llama.native import BatchToken, NativeContext

pytestmark = pytest.mark.model

QUESTION = "Sara has 5 apples and buys 7 more. How many apples does she have now?"


@pytest.fixture(scope="module")
def engine() -> Iterator[LlamaEngine]:
    engine = LlamaEngine(n_ctx=4096, n_seq_max=8)
    yield engine
    engine.close()


def on_worker(engine: LlamaEngine, fn: Callable[[NativeContext], np.ndarray]) -> np.ndarray:
    """Run ``fn`` on the engine's context, on its thread, once nothing else runs (from an empty cache)."""

    def run() -> np.ndarray:
        engine._generator.reset_cache()
        try:
            return fn(engine._generator.context)
        finally:
            engine._generator.reset_cache()

    return engine.scheduler.idle_call(run)


def decode(context: NativeContext, tokens: list[int], start: int, seq: int) -> np.ndarray:
    """Decode ``tokens`` at positions ``start..`` of ``seq``; the last one's logits."""
    context.decode([BatchToken(t, start + i, seq, i == len(tokens) - 1) for i, t in enumerate(tokens)])
    return context.logits(len(tokens) - 1).copy()


def kl(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p || q) of the next-token distributions whose logits are ``p`` and ``q``, in nats."""
    lp, lq = p - np.logaddexp.reduce(p), q - np.logaddexp.reduce(q)
    return float(np.sum(np.exp(lp) * (lp - lq)))


def close(a: np.ndarray, b: np.ndarray) -> bool:
    """The same next-token distribution within float tolerance. The KV cache holds f16 keys, so the
    same text computed at other positions, or with its cells in another order, differs by a KL of
    0.002-0.005 nats here (logits up to ~0.5 apart); a missing step of 14 tokens gives ~0.1."""
    return kl(b, a) < 0.015 and int(np.argmax(a)) == int(np.argmax(b))


def test_a_shifted_step_reads_as_if_computed_at_its_new_position(engine: LlamaEngine) -> None:
    model = engine._native_model
    a = model.tokenize("Alice: let us add the apples first, five and seven.\n\n", add_special=False)
    b = model.tokenize("Bob: I will check the total once it is written down", add_special=False)
    x = model.tokenize(" and", add_special=False)

    def shifted(context: NativeContext) -> np.ndarray:
        decode(context, a, 0, 1)  # worker 1's step, done
        decode(context, b, 0, 2)  # worker 2's step in progress, computed before worker 1's step joined
        context.shift(2, 0, len(a))  # the hogwild move: worker 2's cells past the new history step,
        context.share(1, 2, 0, len(a))  # and worker 1's cells shared (not computed) in worker 2
        return decode(context, x, len(a) + len(b), 2)

    def from_scratch(context: NativeContext) -> np.ndarray:
        decode(context, b, len(a), 3)  # the same step computed at the shifted positions
        decode(context, a, 0, 4)
        context.share(4, 3, 0, len(a))
        return decode(context, x, len(a) + len(b), 3)

    def not_shared(context: NativeContext) -> np.ndarray:  # worker 1's step missing: the test can tell
        decode(context, b, 0, 2)
        context.shift(2, 0, len(a))
        return decode(context, x, len(a) + len(b), 2)

    got, want, wrong = (on_worker(engine, fn) for fn in (shifted, from_scratch, not_shared))
    assert close(got, want)
    assert kl(want, wrong) > 5 * kl(want, got)


def test_a_shared_step_reads_as_if_computed_in_place(engine: LlamaEngine) -> None:
    model = engine._native_model
    prompt = engine._generator.prompt_tokens(GenerationRequest.chat(QUESTION))
    step = model.tokenize("**Alice [1]:** Five plus seven is twelve.\n\n", add_special=False)
    header = model.tokenize("**Bob [1]:** ", add_special=False)

    def shared(context: NativeContext) -> np.ndarray:
        decode(context, prompt, 0, 1)
        context.copy_prefix(1, 2, len(prompt))
        decode(context, step, len(prompt), 1)
        context.share(1, 2, len(prompt), len(prompt) + len(step))
        return decode(context, header, len(prompt) + len(step), 2)

    def from_scratch(context: NativeContext) -> np.ndarray:
        return decode(context, prompt + step + header, 0, 3)

    assert close(on_worker(engine, shared), on_worker(engine, from_scratch))


async def test_steps_moved_into_the_history_are_never_computed_again(engine: LlamaEngine) -> None:
    prompt = GenerationRequest.chat(QUESTION, max_tokens=60, temperature=0.7, seed=3)
    request = CollabRequest(prompt, ("**Alice [{step}]:** ", "**Bob [{step}]:** "), delimiter="\n", step_tokens=16)
    engine.reset_cache()
    before = engine.scheduler.decoded_tokens
    session = engine.collaborate(request)
    events = []
    while not events or not isinstance(events[-1], CollabEnd):
        events.append(await session.next())
    end = events[-1]
    assert isinstance(end, CollabEnd)
    steps = [e for e in events if isinstance(e, FinishedStep)]
    counters = end.counters
    assert len(steps) >= 3 and counters["steps_moved"] >= 2
    assert counters["prompt_tokens_recomputed"] == 0
    drawn = sum(s.tokens for s in steps) + sum(end.partial_tokens)
    decoded = engine.scheduler.decoded_tokens - before
    assert decoded == counters["tokens_decoded"]
    # the engine decoded the prompt once, each header and closing once, and the drawn tokens: no more
    assert counters["prompt_tokens_computed"] + drawn - 2 <= decoded <= counters["prompt_tokens_computed"] + drawn
    assert counters["history_tokens_shared"] >= sum(len(s.header) // 8 + s.tokens for s in steps[:-1]) // 2


def test_a_hogwild_run_answers_a_mawps_question_with_its_history(engine: LlamaEngine) -> None:
    result = ponder.solve(
        QUESTION, strategy="hogwild", engine=engine, budget=2, max_tokens=96, seed=0, options={"workers": 2}
    )
    steps = [entry for entry in result.trace if entry["action"] == "step"]
    assert steps and {entry["worker"] for entry in steps} <= {"Alice", "Bob"}
    assert [entry["order"] for entry in steps] == list(range(1, len(steps) + 1))
    assert result.trace[-1]["action"] == "end"
    assert result.trace[-1]["counters"]["prompt_tokens_recomputed"] == 0
    assert result.usage.completion_tokens > 0
    assert result.stop_reason == "done"
