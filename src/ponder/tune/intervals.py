"""The Wilson score interval for a proportion (Wilson 1927), used by the tune report.

For an observed proportion ``p`` of ``n`` trials and the normal quantile ``z`` (1.96 for 95%), the
interval is ``(p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)``. Unlike the normal
(Wald) interval it stays inside [0, 1] and does not collapse to a point at 0% or 100%, which
matters for the small splits a tune run has.
"""

from __future__ import annotations

import math

from ponder.core.errors import InvalidInputError

Z95 = 1.959963984540054  # the 97.5% quantile of the standard normal


def wilson_interval(proportion: float, n: int, *, z: float = Z95) -> tuple[float, float]:
    """The Wilson interval ``(low, high)`` for ``proportion`` observed on ``n`` >= 1 trials."""
    if n < 1:
        raise InvalidInputError(f"a Wilson interval needs at least 1 trial, got n={n}")
    if not 0.0 <= proportion <= 1.0:
        raise InvalidInputError(f"a Wilson interval needs a proportion in [0, 1], got {proportion!r}")
    z2 = z * z
    centre = proportion + z2 / (2 * n)
    spread = z * math.sqrt(proportion * (1 - proportion) / n + z2 / (4 * n * n))
    denominator = 1 + z2 / n
    return max(0.0, (centre - spread) / denominator), min(1.0, (centre + spread) / denominator)
