"""The embedded llama.cpp engine as a plugin: ``llama:MODEL``; llama.cpp loads only in the factory."""

from __future__ import annotations

from dataclasses import dataclass

from ponder.core.params import param
from ponder.engines.base import Engine
from ponder.engines.llama.models import DEFAULT_MODEL
from ponder.engines.plugin import EnginePlugin


@dataclass(frozen=True)
class LlamaOptions:
    """The options of :class:`~ponder.engines.llama.LlamaEngine`."""

    model: str = param(DEFAULT_MODEL, "a built-in name, a .gguf path or hf:OWNER/REPO/FILE.gguf", local=True)
    n_ctx: int = param(8192, "KV-cache cells shared by all sequences")
    n_seq_max: int = param(32, "sequences live at once (n samples of one prompt take n + 1)")
    n_threads: int = param(0, "CPU threads (0: all cores)")
    n_batch: int = param(512, "most tokens per decode call (>= n_seq_max)")
    n_gpu_layers: int = param(0, "layers offloaded to a GPU, if llama.cpp was built with one")
    verbose: bool = param(False, "show llama.cpp's own log")
    deterministic: bool = param(False, "serve one caller at a time, so runs reproduce bit for bit")
    prefill_chunk: int = param(256, "prompt tokens prefilled per step while other samples decode")


def create(options: LlamaOptions) -> Engine:
    """A :class:`~ponder.engines.llama.LlamaEngine` (this is where llama.cpp is imported)."""
    from ponder.engines.llama.engine import LlamaEngine

    return LlamaEngine(
        options.model,
        n_ctx=options.n_ctx,
        n_seq_max=options.n_seq_max,
        n_threads=options.n_threads or None,
        n_batch=options.n_batch,
        n_gpu_layers=options.n_gpu_layers,
        verbose=options.verbose,
        deterministic=options.deterministic,
        prefill_chunk=options.prefill_chunk,
    )


PLUGIN = EnginePlugin(
    name="llama",
    summary="a GGUF model run in-process by llama.cpp (no server, no GPU needed)",
    Options=LlamaOptions,
    factory=create,
    spec_option="model",
    default_model_name=DEFAULT_MODEL,
)
