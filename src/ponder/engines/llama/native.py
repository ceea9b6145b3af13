"""A thin, typed layer over llama-cpp-python's low-level C bindings.

Only what the embedded engine needs: load a model, tokenize and detokenize, create a context
with a unified KV cache over many sequences, decode batches, copy, share, shift and remove
sequence ranges, and build llama.cpp's own sampler chains. Everything here must be called from one thread.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ponder.core.errors import BackendUnavailableError, EngineError, InvalidModelError

try:
    import llama_cpp.llama_cpp as lc
except ImportError as exc:  # pragma: no cover - the package is a core dependency
    raise BackendUnavailableError("llama-cpp-python is not installed (run `make venv`)") from exc

_backend_lock = threading.Lock()
_backend_ready = False


@lc.llama_log_callback
def _quiet_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    """Drop llama.cpp's log lines (they go to stderr otherwise)."""


def init_backend(verbose: bool = False) -> None:
    """Initialise llama.cpp once per process; silence its logs unless ``verbose``."""
    global _backend_ready
    with _backend_lock:
        if not _backend_ready:
            if not verbose:
                lc.llama_log_set(_quiet_log, ctypes.c_void_p(0))
            lc.llama_backend_init()
            _backend_ready = True


class NativeModel:
    """Model weights and vocabulary."""

    def __init__(self, path: Path, *, n_gpu_layers: int = 0) -> None:
        params = lc.llama_model_default_params()
        params.n_gpu_layers = n_gpu_layers
        self.ptr = lc.llama_model_load_from_file(str(path).encode(), params)
        if not self.ptr:
            raise InvalidModelError(f"llama.cpp could not load the model file: {path}")
        self.vocab = lc.llama_model_get_vocab(self.ptr)
        self.n_vocab: int = lc.llama_vocab_n_tokens(self.vocab)
        self.n_ctx_train: int = lc.llama_model_n_ctx_train(self.ptr)
        self.add_bos: bool = bool(lc.llama_vocab_get_add_bos(self.vocab))
        self.bos: int = lc.llama_vocab_bos(self.vocab)
        self._pieces: dict[int, bytes] = {}

    def tokenize(self, text: str, *, add_special: bool = True) -> list[int]:
        """Tokens of ``text``; special-token text (``<|im_start|>``) is parsed as special."""
        data = text.encode("utf-8")
        capacity = len(data) + 8
        buffer = (lc.llama_token * capacity)()
        count = lc.llama_tokenize(self.vocab, data, len(data), buffer, capacity, add_special, True)
        if count < 0:
            capacity = -count
            buffer = (lc.llama_token * capacity)()
            count = lc.llama_tokenize(self.vocab, data, len(data), buffer, capacity, add_special, True)
        return list(buffer[:count])

    def piece(self, token: int) -> bytes:
        """The bytes a token stands for (special tokens render empty)."""
        cached = self._pieces.get(token)
        if cached is None:
            buffer = ctypes.create_string_buffer(64)
            size = lc.llama_token_to_piece(self.vocab, token, buffer, 64, 0, False)
            if size < 0:
                buffer = ctypes.create_string_buffer(-size)
                size = lc.llama_token_to_piece(self.vocab, token, buffer, -size, 0, False)
            cached = self._pieces[token] = buffer.raw[:size]
        return cached

    def special_text(self, token: int) -> str:
        """How a special token is written in text (``<|im_end|>``), for chat templates."""
        if token < 0:
            return ""
        buffer = ctypes.create_string_buffer(64)
        size = lc.llama_token_to_piece(self.vocab, token, buffer, 64, 0, True)
        return buffer.raw[: max(size, 0)].decode("utf-8", errors="replace")

    def is_eog(self, token: int) -> bool:
        return bool(lc.llama_vocab_is_eog(self.vocab, token))

    @property
    def eos(self) -> int:
        return lc.llama_vocab_eos(self.vocab)

    def chat_template(self) -> str | None:
        raw = lc.llama_model_chat_template(self.ptr, None)
        return raw.decode("utf-8") if raw else None

    def close(self) -> None:
        if self.ptr:
            lc.llama_model_free(self.ptr)
            self.ptr = None


@dataclass(frozen=True)
class BatchToken:
    """One token to decode: its id, position, sequence and whether its logits are needed."""

    token: int
    pos: int
    seq: int
    logits: bool


class KVFullError(EngineError):
    """llama.cpp found no room in the KV cache for a batch (its return code 1)."""


class NativeContext:
    """A llama.cpp context: a unified KV cache shared by up to ``n_seq_max`` sequences."""

    def __init__(self, model: NativeModel, *, n_ctx: int, n_seq_max: int, n_batch: int, n_threads: int) -> None:
        params = lc.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        params.n_seq_max = n_seq_max
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        params.kv_unified = True  # forked sequences share the cells of their common prefix
        params.no_perf = True
        self.ptr = lc.llama_init_from_model(model.ptr, params)
        if not self.ptr:
            raise EngineError(f"llama.cpp could not create a context (n_ctx={n_ctx}, n_seq_max={n_seq_max})")
        self.model = model
        self.n_ctx: int = lc.llama_n_ctx(self.ptr)
        self.n_batch = n_batch
        self.memory = lc.llama_get_memory(self.ptr)
        self._batch = lc.llama_batch_init(n_batch, 0, 1)

    def clear(self) -> None:
        """Empty the whole KV cache."""
        lc.llama_memory_clear(self.memory, True)

    def clear_sequence(self, seq: int) -> None:
        lc.llama_memory_seq_rm(self.memory, seq, -1, -1)

    def truncate(self, seq: int, length: int) -> None:
        """Keep positions ``[0, length)`` of ``seq``."""
        if not lc.llama_memory_seq_rm(self.memory, seq, length, -1):
            self.clear_sequence(seq)
            raise EngineError("this model's cache cannot drop a partial sequence")

    def copy_prefix(self, src: int, dst: int, length: int) -> None:
        """Make ``dst`` hold exactly ``src``'s positions ``[0, length)`` (cells are shared)."""
        self.clear_sequence(dst)
        lc.llama_memory_seq_cp(self.memory, src, dst, 0, length)

    def shift(self, seq: int, start: int, delta: int) -> None:
        """Move ``seq``'s cells at positions ``>= start`` by ``delta`` (``llama_memory_seq_add``):
        their keys are re-rotated (RoPE) at the next decode, so they read as if computed there.
        A cell's position is the same in every sequence holding it: shift only cells of ``seq`` alone."""
        lc.llama_memory_seq_add(self.memory, seq, start, -1, delta)

    def share(self, src: int, dst: int, start: int, end: int) -> None:
        """Make ``dst`` also hold ``src``'s cells at positions ``[start, end)`` (``llama_memory_seq_cp``:
        the cells are shared, nothing is computed or copied)."""
        lc.llama_memory_seq_cp(self.memory, src, dst, start, end)

    @property
    def can_shift(self) -> bool:
        """Whether this cache can move positions (:meth:`shift`)."""
        return bool(lc.llama_memory_can_shift(self.memory))

    def decode(self, tokens: list[BatchToken]) -> None:
        """Decode tokens (at most ``n_batch``); logits of flagged tokens become readable by index."""
        if len(tokens) > self.n_batch:
            raise EngineError(f"batch of {len(tokens)} tokens exceeds n_batch={self.n_batch}")
        batch = self._batch
        batch.n_tokens = len(tokens)
        for i, item in enumerate(tokens):
            batch.token[i] = item.token
            batch.pos[i] = item.pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = item.seq
            batch.logits[i] = item.logits
        code = lc.llama_decode(self.ptr, batch)
        if code == 1:
            raise KVFullError("no room left in the KV cache")
        if code != 0:
            raise EngineError(f"llama_decode failed with code {code}")

    def logits(self, index: int) -> np.ndarray:
        """A view of the logits of the token at batch position ``index`` of the last decode."""
        pointer = lc.llama_get_logits_ith(self.ptr, index)
        return np.ctypeslib.as_array(pointer, shape=(self.model.n_vocab,))

    def close(self) -> None:
        if self.ptr:
            lc.llama_batch_free(self._batch)
            lc.llama_free(self.ptr)
            self.ptr = None


class Sampler:
    """A llama.cpp sampler chain: temperature, top-p, then a seeded draw (greedy at T=0)."""

    def __init__(self, *, temperature: float, top_p: float, seed: int) -> None:
        params = lc.llama_sampler_chain_default_params()
        params.no_perf = True
        self.ptr = lc.llama_sampler_chain_init(params)
        if temperature == 0:
            lc.llama_sampler_chain_add(self.ptr, lc.llama_sampler_init_greedy())
        else:
            lc.llama_sampler_chain_add(self.ptr, lc.llama_sampler_init_temp(temperature))
            if top_p < 1:
                lc.llama_sampler_chain_add(self.ptr, lc.llama_sampler_init_top_p(top_p, 1))
            lc.llama_sampler_chain_add(self.ptr, lc.llama_sampler_init_dist(seed))

    def sample(self, context: NativeContext, index: int) -> int:
        """Draw a token from the logits at batch position ``index`` of the last decode (and accept it)."""
        return lc.llama_sampler_sample(self.ptr, context.ptr, index)

    def close(self) -> None:
        if self.ptr:
            lc.llama_sampler_free(self.ptr)
            self.ptr = None
