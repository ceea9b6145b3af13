"""its_hub 1.2.0 as a peer, driven as a library against the server (through the counting proxy).

``OpenAICompatibleLanguageModel`` against the server's ``/v1``; ``SelfConsistency`` voting on the
answer ponder's math extractor reads (its default votes on the whole text); ``BestOfN`` with its
``LLMJudge`` (0-10 score; plain-text JSON because llama-cpp-python rejects ``json_schema`` response
formats); ``ParticleFiltering`` with ``StepGeneration`` (steps end at a blank line) and a process
reward from the same ``LLMJudge`` scaled to [0, 1] - its only built-in process reward model is a
local vLLM reward model (reward-hub), which no OpenAI-compatible URL provides. Its step generation
continues a partial assistant message (vLLM's ``continue_final_message``), so on servers whose
profile starts a new reply particle filtering is reported as unavailable.

Several problems at once: its own async API, ``algorithm.ainfer`` (what its sync ``infer`` wraps),
called for each problem in flight as asyncio tasks on one event loop; each algorithm fans its
samples out through its ``LMOrchestrator`` (32 requests in flight at most). No thread pool.

DeepConf: its_hub 1.2.0 has no ``confidence_selection`` (nor any DeepConf or token-confidence
algorithm): its algorithms are ``SelfConsistency``, ``AdaptiveSelfConsistency``,
``BetaSelfConsistency``, ``BestOfN``, ``BeamSearch``, ``ParticleFiltering``/``ParticleGibbs``/
``EntropicParticleFiltering`` and ``PlanningWrapper`` (``its_hub/core/algorithms``), and its
``OpenAICompatibleLanguageModel`` never asks the server for logprobs (``_prepare_request_data``),
which confidence needs.
"""

from __future__ import annotations

import random
import warnings
from typing import Any

import numpy as np

from ponder.bench.datasets import Problem

from .systems import BON, DEEPCONF, SC, STEP_DELIMITER, Reply, Setup, Solver, System, Unavailable, extract

ITS_HUB_NO_DEEPCONF = (
    "its_hub 1.2.0 has no confidence_selection nor any DeepConf or token-confidence algorithm (its_hub/core/"
    "algorithms: self-consistency, adaptive and beta self-consistency, best-of-n, beam search, particle "
    "filtering/Gibbs, planning wrapper), and its OpenAICompatibleLanguageModel never asks the server for logprobs"
)


class ItsHubSystem(System):
    """its_hub's algorithms as a library against ``setup.url`` (see the module docstring)."""

    name = "its_hub"
    concurrent = "its async API (algorithm.ainfer), one task per problem"

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.lm: Any = None
        self.judge_lm: Any = None
        self.missing: str | None = None

    async def open(self) -> None:
        try:
            import its_hub
            from its_hub import OpenAICompatibleLanguageModel
        except ImportError as exc:
            self.missing = f"its_hub is not installed ({exc}): pip install -e '.[bench-peers]'"
            return
        self.version = its_hub.__version__
        endpoint = self.setup.url.rstrip("/") + "/v1"
        common = {"endpoint": endpoint, "api_key": "none", "model_name": self.setup.model, "max_tries": 3}
        self.lm = OpenAICompatibleLanguageModel(
            **common,
            system_prompt=self.setup.system_prompt,
            max_completion_tokens=self.setup.max_tokens,
            temperature=self.setup.temperature,
        )
        self.judge_lm = OpenAICompatibleLanguageModel(
            **common, max_completion_tokens=self.setup.judge_max_tokens, temperature=0.0
        )

    def algorithm(self, strategy: str) -> Any:
        """The its_hub algorithm object for a strategy."""
        from its_hub import BestOfN, LLMJudge, SelfConsistency

        if strategy == SC:
            return SelfConsistency(consistency_space_projection_func=lambda text: extract(text) or text.strip())
        if strategy == BON:
            return BestOfN(orm=LLMJudge(self.judge_lm, response_format=None))
        if self.setup.profile.continuation != "continue_final_message":
            raise Unavailable(
                f"its_hub's particle filtering continues a partial assistant message (continue_final_message); "
                f"this server ({self.setup.profile.name}) always starts a new reply"
            )
        from its_hub.core.algorithms.particle_gibbs import ParticleFiltering
        from its_hub.core.lms.step_generation import StepGeneration

        steps = StepGeneration(
            self.setup.pf_max_steps,
            step_token=STEP_DELIMITER,
            stop_token="answer is",
            temperature=self.setup.temperature,
        )
        return ParticleFiltering(sg=steps, prm=judge_prm(LLMJudge(self.judge_lm, response_format=None)))

    async def prepare(self, strategy: str, budget: int) -> Solver:
        if strategy == DEEPCONF:  # whether or not its_hub is installed
            raise Unavailable(ITS_HUB_NO_DEEPCONF)
        if self.missing:
            raise Unavailable(self.missing)
        algorithm = self.algorithm(strategy)
        lm, seed = self.lm, self.setup.seed

        async def solve(problem: Problem) -> Reply:
            random.seed(seed)  # its_hub breaks ties and resamples with the global generators
            np.random.seed(seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                message = await algorithm.ainfer(lm, problem.question, budget)
            text = message.get("content") if isinstance(message, dict) else None
            return Reply(text, extract(text))

        return solve

    async def close(self) -> None:
        for lm in (self.lm, self.judge_lm):
            if lm is not None:
                await lm.close()


def judge_prm(judge: Any) -> Any:
    """An its_hub process reward model that asks its ``LLMJudge`` to score each partial answer
    (0-10, scaled to [0, 1]); its_hub ships no process reward model that works over HTTP."""
    from its_hub import AbstractProcessRewardModel
    from its_hub.api.types import ChatMessage

    class JudgePRM(AbstractProcessRewardModel):
        """Partial answers scored by an LLM judge."""

        def score(self, prompt_or_messages: Any, steps: list[str]) -> list[float]:
            raise TypeError("JudgePRM scores over HTTP and is asynchronous only: its_hub calls ascore")

        async def ascore(self, prompt_or_messages: Any, steps: Any) -> Any:
            single = isinstance(steps, str)
            partials = [steps] if single else list(steps)
            conversations = [
                [
                    ChatMessage(role="user", content=str(prompt_or_messages)),
                    ChatMessage(role="assistant", content=partial),
                ]
                for partial in partials
            ]
            scores = [min(max(float(s) / 10.0, 0.0), 1.0) for s in await judge.ascore(conversations)]
            return scores[0] if single else scores

    return JudgePRM()
