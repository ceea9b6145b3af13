"""The in-process vLLM engine as a plugin: ``vllm:MODEL`` (``--engine vllm --model MODEL``).

vLLM is an optional extra (``pip install 'ponder[vllm]'``, and it needs a GPU); like the embedded
engine's llama.cpp, it is imported only in the factory, so listing engines or running any other
engine never loads it. Without it, creating the engine is one error saying what to install.
"""

from __future__ import annotations

import asyncio
import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ponder.core.errors import BackendUnavailableError
from ponder.core.params import param
from ponder.engines.base import Engine
from ponder.engines.plugin import EnginePlugin, required
from ponder.engines.vllm.engine import VLLMEngine, sync_tokenizer

VLLM_EXTRA = "pip install 'ponder[vllm]'"


@dataclass(frozen=True)
class VLLMOptions:
    """The options of :class:`~ponder.engines.vllm.VLLMEngine` (vLLM's engine arguments of the same names)."""

    model: str = required("a Hugging Face model id or a local model folder, as vLLM loads it", local=True)
    tokenizer: str = param("", "the tokenizer, when not the model's", local=True)
    dtype: str = param("auto", "weights' dtype: auto, float16, bfloat16, ...")
    max_model_len: int = param(0, "tokens per sequence (0: the model's own context)")
    gpu_memory_utilization: float = param(0.9, "the share of GPU memory vLLM may take")
    tensor_parallel_size: int = param(1, "GPUs the model is split over")
    enforce_eager: bool = param(False, "no CUDA graphs (starts faster, decodes slower)")
    trust_remote_code: bool = param(False, "run the model repository's own code")
    share_prefill: bool = param(True, "send sample 0 first, the others once its prompt is cached")


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise BackendUnavailableError(f"--engine vllm needs vLLM (and a GPU): {VLLM_EXTRA} ({exc})") from None


def _async_engine_class() -> Any:
    """vLLM's async engine: the V1 ``AsyncLLM`` (0.8+), else ``AsyncLLMEngine``."""
    try:
        return importlib.import_module("vllm.v1.engine.async_llm").AsyncLLM
    except (ImportError, AttributeError):
        return _import("vllm").AsyncLLMEngine


def create(options: VLLMOptions) -> Engine:
    """A :class:`~ponder.engines.vllm.VLLMEngine` on a new vLLM async engine (prefix caching on)."""
    vllm = _import("vllm")
    sampling = _import("vllm.sampling_params")
    arguments = _import("vllm.engine.arg_utils").AsyncEngineArgs(
        model=options.model,
        tokenizer=options.tokenizer or None,
        dtype=options.dtype,
        max_model_len=options.max_model_len or None,
        gpu_memory_utilization=options.gpu_memory_utilization,
        tensor_parallel_size=options.tensor_parallel_size,
        enforce_eager=options.enforce_eager,
        trust_remote_code=options.trust_remote_code,
        enable_prefix_caching=True,
    )
    try:
        backend = _async_engine_class().from_engine_args(arguments)
    except Exception as exc:  # no GPU, a model vLLM cannot find or load, out of memory: vLLM's own errors vary
        lines = str(exc).strip().splitlines()
        reason = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
        raise BackendUnavailableError(f"vLLM could not start {options.model!r}: {reason}") from exc
    max_context = int(getattr(getattr(backend, "model_config", None), "max_model_len", 0) or options.max_model_len)
    try:  # created inside an event loop, AsyncLLM has started its output handler there
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    return VLLMEngine(
        backend,
        sampling_params=sampling.SamplingParams,
        output_kind=sampling.RequestOutputKind.DELTA,
        model=options.model,
        tokenizer=sync_tokenizer(backend),
        max_context=max_context,
        share_prefill=options.share_prefill,
        loop=loop,
        details={
            "vllm": str(getattr(vllm, "__version__", "?")),
            "dtype": options.dtype,
            "tensor_parallel_size": options.tensor_parallel_size,
        },
    )


PLUGIN = EnginePlugin(
    name="vllm",
    summary="a Hugging Face model run in-process by vLLM (needs a GPU and pip install 'ponder[vllm]')",
    Options=VLLMOptions,
    factory=create,
    spec_option="model",
)
