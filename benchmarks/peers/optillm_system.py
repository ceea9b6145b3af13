"""optillm 0.4.0 as a peer: its proxy (a subprocess) pointed at the same server (through the counting proxy).

Approaches are chosen by the model prefix (``self_consistency-MODEL``, ``bon-MODEL``). ``bon`` takes
its sample count from the proxy's ``--best-of-n`` (so a proxy per budget) and rates each sample in a
separate call; ``self_consistency`` always draws 5 samples at temperature 1 and clusters whole texts
by string similarity (its sample count is not settable), so it runs at budget 5 only. optillm has
no particle filter.

Several problems at once: that many concurrent HTTP requests to its proxy (a threaded Flask
server), each a whole problem.

DeepConf: optillm 0.4.0's ``deepconf`` is a ``decoding`` of its local inference client, not an
approach its proxy dispatches. ``optillm/server.py`` ``get_config`` uses that client
(``create_inference_client``) only when ``OPTILLM_API_KEY`` is set, and then ignores ``--base-url``;
``known_approaches`` has no ``deepconf`` and no plugin registers it, so through the proxy a
``deepconf-MODEL`` request would be passed to the server unchanged (approach ``none``).
``optillm/inference.py`` runs ``deepconf_decode(pipeline.current_model, pipeline.tokenizer, ...)``
(token-by-token PyTorch forward passes with a KV cache) on a model loaded by
``AutoModelForCausalLM.from_pretrained(model_id)`` with no ``gguf_file``: it cannot load the GGUF
model this benchmark serves.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import httpx

from ponder.bench.datasets import Problem

from .servers import start_optillm
from .systems import BON, DEEPCONF, OPTILLM_SC_SAMPLES, SC, Reply, Setup, Solver, System, Unavailable, extract

OPTILLM_NO_DEEPCONF = (
    "optillm's deepconf runs only in its local inference mode (OPTILLM_API_KEY set: optillm/server.py get_config "
    "then uses its own InferenceClient and ignores --base-url): it is a `decoding` of that client "
    "(optillm/inference.py: deepconf_decode on a PyTorch/transformers model), not an approach its proxy "
    "dispatches (not in server.py's known_approaches, no plugin), so it cannot run against this server; and that "
    "mode loads models with AutoModelForCausalLM.from_pretrained(model_id), without gguf_file, so it cannot load "
    "the GGUF model this benchmark serves"
)


class OptillmSystem(System):
    """optillm's proxy (a subprocess) in front of ``upstream``; one proxy per best-of-n budget."""

    name = "optillm"
    concurrent = "concurrent requests to its proxy, one per problem"
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
