"""The one rule for a sampling temperature when the caller does not set one."""

from __future__ import annotations

SEVERAL_TEMPERATURE = 0.8
"""The default temperature of several samples of one prompt (self-consistency, best-of-N, ...):
they must differ, and 0.8 is the value the sampling papers use."""


def sampling_temperature(given: float | None, *, n: int | None = None, default: float = SEVERAL_TEMPERATURE) -> float:
    """``given`` (the run's, or a component's own) when set; else 0 for a lone sample when the
    caller says how many it draws (``n == 1``: nothing to vote over, so no reason to be random);
    else ``default`` (a strategy's paper value; 0.8 for several samples)."""
    if given is not None:
        return given
    if n == 1:
        return 0.0
    return default
