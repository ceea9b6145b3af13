"""Sampling programs instead of prose: the program-of-thought mode of the sampling strategies."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from ponder.answers.program import PROGRAM_SYSTEM_PROMPT, run_program
from ponder.context.context import StepContext
from ponder.core.result import Candidate


async def execute(candidates: list[Candidate]) -> list[Candidate]:
    """Run each candidate's program in the sandbox (two at a time); its printout is its answer."""
    limit = asyncio.Semaphore(2)

    async def one(candidate: Candidate) -> Candidate:
        if candidate.finish_reason == "error":
            return candidate
        async with limit:
            outcome = await asyncio.to_thread(run_program, candidate.text)
        return replace(candidate, answer=outcome.answer, evidence=f"{outcome.status}: {outcome.detail}")

    return list(await asyncio.gather(*(one(c) for c in candidates)))


async def sample_programs(
    ctx: StepContext, n: int, *, temperature: float, logprobs: bool = False, top_logprobs: int = 0
) -> list[Candidate]:
    """``n`` program-of-thought samples, run, with their printed answers."""
    drafts = await ctx.sample(
        n,
        temperature=temperature,
        logprobs=logprobs,
        top_logprobs=top_logprobs,
        messages=ctx.messages(PROGRAM_SYSTEM_PROMPT),
    )
    return await execute(drafts)
