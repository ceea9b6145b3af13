"""Shared fixtures. Tests that load the real model share one engine per session and run serially."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(scope="module")
def llama_engine() -> Iterator[object]:
    """The embedded default model, loaded once per test module and closed after it, so that it
    is never loaded while another module's model server runs."""
    from ponder.engines.llama import LlamaEngine

    engine = LlamaEngine(n_ctx=4096, n_seq_max=16)
    yield engine
    engine.close()
