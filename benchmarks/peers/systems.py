"""The benchmarked systems: ponder (HTTP and embedded engines), its_hub and optillm.

Each system answers one problem at a time for a (strategy, budget) pair. ``prepare`` returns a
solver for that pair or raises :class:`Unavailable` with the reason the system cannot run it
(so the report can say why instead of leaving the row out). Strategies are named as ponder names
them: ``self-consistency``, ``best-of-n``, ``particle-filtering``, ``deepconf`` (ponder's DeepConf-low by
default: online, ``eta`` 10, the setting ``benchmarks/fewer_tokens.py`` uses; over HTTP it streams with
top logprobs and closes a trace's stream when it stops it).

How each peer is driven, and what it cannot do against a given server:

- its_hub 1.2.0, as a library: ``OpenAICompatibleLanguageModel`` against the server's ``/v1``;
  ``SelfConsistency`` voting on the answer ponder's math extractor reads (its default votes on the
  whole text); ``BestOfN`` with its ``LLMJudge`` (0-10 score; plain-text JSON because
  llama-cpp-python rejects ``json_schema`` response formats); ``ParticleFiltering`` with
  ``StepGeneration`` (steps end at a blank line) and a process reward from the same ``LLMJudge``
  scaled to [0, 1] - its only built-in process reward model is a local vLLM reward model
  (reward-hub), which no OpenAI-compatible URL provides. Its step generation continues a partial
  assistant message (vLLM's ``continue_final_message``), so on servers that always start a new
  reply (llama-cpp-python, llama.cpp, Ollama) particle filtering is reported as unavailable.
- optillm 0.4.0, as its proxy (a subprocess) pointed at the same server: approaches chosen by the
  model prefix (``self_consistency-MODEL``, ``bon-MODEL``). ``bon`` takes its sample count from
  the proxy's ``--best-of-n`` (so a proxy per budget) and rates each sample in a separate call;
  ``self_consistency`` always draws 5 samples at temperature 1 and clusters whole texts by string
  similarity (its sample count is not settable), so it runs at budget 5 only. optillm has no
  particle filter.

DeepConf (``deepconf``) is ponder's alone here; both peers' rows say why (read from their sources):

- optillm 0.4.0: its ``deepconf`` is a ``decoding`` of its local inference client, not an approach
  its proxy dispatches. ``optillm/server.py`` ``get_config`` uses that client (``create_inference_client``)
  only when ``OPTILLM_API_KEY`` is set, and then ignores ``--base-url``; ``known_approaches`` has no
  ``deepconf`` and no plugin registers it, so through the proxy a ``deepconf-MODEL`` request would be
  passed to the server unchanged (approach ``none``). ``optillm/inference.py`` runs
  ``deepconf_decode(pipeline.current_model, pipeline.tokenizer, ...)`` (token-by-token PyTorch forward
  passes with a KV cache) on a model loaded by ``AutoModelForCausalLM.from_pretrained(model_id)`` with
  no ``gguf_file``: it cannot load the GGUF model this benchmark serves.
- its_hub 1.2.0 has no ``confidence_selection`` (nor any DeepConf or token-confidence algorithm): its
  algorithms are ``SelfConsistency``, ``AdaptiveSelfConsistency``, ``BetaSelfConsistency``, ``BestOfN``,
  ``BeamSearch``, ``ParticleFiltering``/``ParticleGibbs``/``EntropicParticleFiltering`` and
  ``PlanningWrapper`` (``its_hub/core/algorithms``), and its ``OpenAICompatibleLanguageModel`` never asks
  the server for logprobs (``_prepare_request_data``), which confidence needs.
"""

from __future__ import annotations

import json
import random
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
import numpy as np

import ponder
from ponder.answers import get_task
from ponder.bench.datasets import Problem
from ponder.core.errors import PonderError
from ponder.engines.base import Engine
from ponder.engines.http.profiles import EndpointProfile
from ponder.registry import get_strategy

from .servers import start_optillm

SC, BON, PF, DEEPCONF = "self-consistency", "best-of-n", "particle-filtering", "deepconf"
STRATEGIES = (SC, BON, PF, DEEPCONF)
DEEPCONF_LOW = {"eta": 10}  # online (the default mode), keep 10%: DeepConf-low, as benchmarks/fewer_tokens.py
OPTILLM_SC_SAMPLES = 5  # optillm.self_consistency.AdvancedSelfConsistency(num_samples=5), not exposed
STEP_DELIMITER = "\n\n"
OPTILLM_NO_DEEPCONF = (
    "optillm's deepconf runs only in its local inference mode (OPTILLM_API_KEY set: optillm/server.py get_config "
    "then uses its own InferenceClient and ignores --base-url): it is a `decoding` of that client "
    "(optillm/inference.py: deepconf_decode on a PyTorch/transformers model), not an approach its proxy "
    "dispatches (not in server.py's known_approaches, no plugin), so it cannot run against this server; and that "
    "mode loads models with AutoModelForCausalLM.from_pretrained(model_id), without gguf_file, so it cannot load "
    "the GGUF model this benchmark serves"
)
ITS_HUB_NO_DEEPCONF = (
    "its_hub 1.2.0 has no confidence_selection nor any DeepConf or token-confidence algorithm (its_hub/core/"
    "algorithms: self-consistency, adaptive and beta self-consistency, best-of-n, beam search, particle "
    "filtering/Gibbs, planning wrapper), and its OpenAICompatibleLanguageModel never asks the server for logprobs"
)


class Unavailable(Exception):
    """A system cannot run a configuration; the message says why."""


@dataclass(frozen=True)
class Setup:
    """What every system shares: the server (through the counting proxy), prompt and sampling.

    ``url`` is the root every HTTP system talks to; ``model`` the served model name;
    ``model_path`` the GGUF file for the embedded engine (None: the embedded engine cannot run
    the served model); ``chat_template`` lets ponder's HTTP engine continue partial answers on
    servers that cannot. ``pf_options``, ``bon_options`` and ``deepconf_options`` are ponder's
    strategy options.
    """

    url: str
    model: str
    profile: EndpointProfile
    system_prompt: str
    temperature: float
    max_tokens: int
    seed: int
    model_path: str | None = None
    chat_template: str | None = None
    judge_max_tokens: int = 64
    pf_max_steps: int = 40
    pf_options: Mapping[str, Any] = field(default_factory=dict)
    bon_options: Mapping[str, Any] = field(default_factory=lambda: {"scorer": "self-eval"})
    deepconf_options: Mapping[str, Any] = field(default_factory=lambda: dict(DEEPCONF_LOW))
    timeout: float = 900.0


@dataclass
class Reply:
    """What a system answered to one problem: its chosen text, the answer read from it, and (for
    ponder) the usage ponder itself accounted."""

    text: str | None
    answer: str | None
    usage: dict[str, Any] | None = None


Solver = Callable[[Problem], Awaitable[Reply]]


def extract(text: str | None) -> str | None:
    """The final answer ponder's math task reads from a text (the same for every system)."""
    return get_task("math").extract(text) if text else None


class System(ABC):
    """One benchmarked system; ``open`` before use and ``close`` after, ``prepare`` per configuration."""

    name: str = ""
    version: str | None = None

    async def open(self) -> None:
        """Start what the system needs (an engine, a client)."""

    @abstractmethod
    async def prepare(self, strategy: str, budget: int) -> Solver:
        """A solver for one configuration, or :class:`Unavailable`."""

    def note(self, strategy: str) -> str | None:
        """What the report's row for a strategy should say about how this system ran it."""
        return None

    async def close(self) -> None:
        """Release what ``open`` started."""


class PonderSystem(System):
    """ponder through one engine (``make_engine`` builds it at ``open``) with ``ponder.asolve``."""

    def __init__(self, name: str, setup: Setup, make_engine: Callable[[], Engine], blocked: str | None = None) -> None:
        self.name, self.setup, self.make_engine, self.blocked = name, setup, make_engine, blocked
        self.version = ponder.__version__
        self.engine: Engine | None = None

    async def open(self) -> None:
        if self.blocked is None:
            self.engine = self.make_engine()

    def options(self, strategy: str) -> dict[str, Any]:
        """ponder's strategy options for a benchmark strategy."""
        if strategy == BON:
            return dict(self.setup.bon_options)
        if strategy == PF:
            return dict(self.setup.pf_options)
        if strategy == DEEPCONF:
            return dict(self.setup.deepconf_options)
        return {}

    def note(self, strategy: str) -> str | None:
        if strategy != DEEPCONF:
            return None
        options = self.options(strategy)
        setting = (
            "DeepConf-low (online, eta 10), the setting benchmarks/fewer_tokens.py uses"
            if options == DEEPCONF_LOW
            else "DeepConf"
        )
        return f"{setting}; options {json.dumps(options, sort_keys=True)}"

    async def prepare(self, strategy: str, budget: int) -> Solver:
        if self.blocked is not None:
            raise Unavailable(self.blocked)
        options = self.options(strategy)
        try:
            get_strategy(strategy, options)
        except PonderError as exc:
            raise Unavailable(f"ponder cannot run {strategy!r} with options {options}: {exc}") from exc
        engine, setup = self.engine, self.setup
        assert engine is not None, "open() the system first"

        async def solve(problem: Problem) -> Reply:
            result = await ponder.asolve(
                problem.question,
                engine=engine,
                strategy=strategy,
                budget=budget,
                options=options,
                temperature=setup.temperature,
                max_tokens=setup.max_tokens,
                seed=setup.seed,
                system_prompt=setup.system_prompt,
            )
            best = next((c.text for c in result.candidates if c.answer == result.answer), None)
            return Reply(best, result.answer, result.usage.to_dict())

        return solve

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.aclose()
            self.engine = None


def ponder_http(setup: Setup) -> PonderSystem:
    """ponder with its OpenAI-compatible engine, talking to ``setup.url``."""
    from ponder.engines.http import OpenAIEngine

    return PonderSystem(
        "ponder-http",
        setup,
        lambda: OpenAIEngine(
            setup.model, base_url=setup.url, chat_template=setup.chat_template, timeout=setup.timeout, seed=setup.seed
        ),
    )


def ponder_embedded(setup: Setup) -> PonderSystem:
    """ponder with its embedded llama.cpp engine on ``setup.model_path`` (loaded at ``open``);
    without a GGUF file for the served model it reports every configuration unavailable."""
    from ponder.engines.registry import create_engine

    blocked = (
        None
        if setup.model_path
        else ("the embedded engine needs the GGUF file of the served model: pass --model PATH.gguf with --url")
    )
    return PonderSystem("ponder-embedded", setup, lambda: create_engine("llama", model=setup.model_path), blocked)


class ItsHubSystem(System):
    """its_hub's algorithms as a library against ``setup.url`` (see the module docstring)."""

    name = "its_hub"

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


class OptillmSystem(System):
    """optillm's proxy (a subprocess) in front of ``upstream``; one proxy per best-of-n budget."""

    name = "optillm"
    APPROACHES: ClassVar[dict[str, str]] = {SC: "self_consistency", BON: "bon"}

    def __init__(self, setup: Setup, executable: str | None, upstream: str, version: str | None = None) -> None:
        self.setup, self.executable, self.upstream, self.version = setup, executable, upstream, version
        self.proxy: Any = None
        self.proxy_best_of_n: int | None = None
        self.client: httpx.AsyncClient | None = None
        self.start_seconds: list[float] = []

    async def open(self) -> None:
        self.client = httpx.AsyncClient(timeout=self.setup.timeout)

    def ensure_proxy(self, best_of_n: int) -> str:
        """The root URL of a running optillm proxy started with ``--best-of-n best_of_n``."""
        if self.proxy is not None and self.proxy_best_of_n == best_of_n:
            return str(self.proxy.url)
        self.stop_proxy()
        started = time.perf_counter()
        self.proxy = start_optillm(str(self.executable), self.upstream, best_of_n=best_of_n)
        self.start_seconds.append(round(time.perf_counter() - started, 2))
        self.proxy_best_of_n = best_of_n
        return str(self.proxy.url)

    def stop_proxy(self) -> None:
        """Stop the running optillm proxy, if any."""
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None

    async def prepare(self, strategy: str, budget: int) -> Solver:
        if strategy == DEEPCONF:  # whether or not optillm is installed
            raise Unavailable(OPTILLM_NO_DEEPCONF)
        if self.executable is None:
            raise Unavailable(
                "optillm is not installed: it pins z3-solver<=4.15.4 (ponder needs >=5.4), so install it "
                "in its own venv (python -m venv .venv-optillm && .venv-optillm/bin/pip install "
                "optillm==0.4.0) or pass --optillm-bin"
            )
        if strategy not in self.APPROACHES:
            raise Unavailable(f"optillm has no {strategy} approach")
        if strategy == SC and budget != OPTILLM_SC_SAMPLES:
            raise Unavailable(
                f"optillm's self_consistency always draws {OPTILLM_SC_SAMPLES} samples "
                "(num_samples is not settable through the proxy); it runs at budget 5 only"
            )
        url = self.ensure_proxy(budget if strategy == BON else (self.proxy_best_of_n or budget))
        client, setup = self.client, self.setup
        model = f"{self.APPROACHES[strategy]}-{setup.model}"
        assert client is not None, "open() the system first"

        async def solve(problem: Problem) -> Reply:
            body = {
                "model": model,
                "max_tokens": setup.max_tokens,
                "temperature": setup.temperature,
                "messages": [
                    {"role": "system", "content": setup.system_prompt},
                    {"role": "user", "content": problem.question},
                ],
            }
            response = await client.post(
                url + "/v1/chat/completions", json=body, headers={"Authorization": "Bearer none"}
            )
            if response.status_code != 200:
                raise RuntimeError(f"optillm answered HTTP {response.status_code}: {response.text[:300]}")
            choices = response.json().get("choices") or []
            text = (choices[0].get("message") or {}).get("content") if choices else None
            return Reply(text, extract(text))

        return solve

    async def close(self) -> None:
        self.stop_proxy()
        if self.client is not None:
            await self.client.aclose()
            self.client = None
