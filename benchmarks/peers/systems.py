"""The benchmarked systems' common interface, and ponder's two (HTTP and embedded engines).

Each system answers problems for a (strategy, budget) pair. ``prepare`` returns a solver for that
pair or raises :class:`Unavailable` with the reason the system cannot run it (so the report can say
why instead of leaving the row out). The benchmark calls a solver for up to ``--concurrency``
problems at once (:mod:`.measure`); ``concurrent`` says how a system runs them. Strategies are named
as ponder names them: ``self-consistency``, ``best-of-n``, ``particle-filtering``, ``deepconf``
(ponder's DeepConf-low by default: online, ``eta`` 10, the setting ``benchmarks/fewer_tokens.py``
uses; over HTTP it streams with top logprobs and closes a trace's stream when it stops it).

ponder runs several problems at once as ``ponder.asolve`` tasks on one event loop and one engine,
as ``ponder bench --workers N`` does: the HTTP engine sends their requests concurrently (up to 16
in flight; one at a time to a server that serves one at a time), the embedded engine batches them.
The peers are in :mod:`.itshub` and :mod:`.optillm_system`.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import ponder
from ponder.answers import get_task
from ponder.bench.datasets import Problem
from ponder.core.errors import PonderError
from ponder.engines.base import Engine
from ponder.engines.http.profiles import EndpointProfile
from ponder.registry import get_strategy

SC, BON, PF, DEEPCONF = "self-consistency", "best-of-n", "particle-filtering", "deepconf"
STRATEGIES = (SC, BON, PF, DEEPCONF)
DEEPCONF_LOW = {"eta": 10}  # online (the default mode), keep 10%: DeepConf-low, as benchmarks/fewer_tokens.py
OPTILLM_SC_SAMPLES = 5  # optillm.self_consistency.AdvancedSelfConsistency(num_samples=5), not exposed
STEP_DELIMITER = "\n\n"


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
    concurrent: str = ""  # how it runs several problems at once (the report's note at concurrency > 1)

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
        self.concurrent = "ponder.asolve tasks on one engine, as bench --workers"

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
