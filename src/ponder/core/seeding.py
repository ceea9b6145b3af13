"""Deterministic seeds: every random draw has an identity that seeds it."""

from __future__ import annotations

import numpy as np


def derive_seed(*identity: int) -> int:
    """A well-mixed 32-bit seed for an identity such as ``(request_seed, sample_index)``."""
    return int(np.random.SeedSequence([abs(int(part)) for part in identity]).generate_state(1)[0])
