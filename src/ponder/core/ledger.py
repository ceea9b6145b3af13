"""The ledger: the one thing that spends.

Every generation a run starts is reserved here (:meth:`Ledger.spend`), which hands back the
sample identities to use (an identity seeds its sample, so a run is reproducible); every
engine and scorer call is recorded here (:meth:`Ledger.record`, by the metered engines of
:mod:`ponder.context`, never by hand in a strategy). A part of a run (a pipeline component, a
strategy inside another, a judge) gets a :meth:`Ledger.child`: its own allowance of
generations, what is left of the token and time budgets, and identities of its own; whatever it
spends or records is charged to its parent as it happens, so the run's account is always
whole and the budget is never exceeded.

Identities: a ledger numbers its samples 0, 1, 2, ... in the order they are handed out. A child
takes the next ``generations`` identities of its parent as its own range (so concurrent parts
never draw the same sample) or, with ``own_identities``, numbers from 0 (a nested strategy that
runs under a derived seed). Step-wise search continues paths it already paid for: each step's
new samples take fresh identities from :meth:`Ledger.identities`, which charges nothing.
"""

from __future__ import annotations

import time

from ponder.core.budget import Budget
from ponder.core.errors import InvalidInputError
from ponder.core.usage import Usage


class Ledger:
    """Generations spent and usage recorded against one :class:`Budget` (see the module docstring)."""

    def __init__(self, budget: Budget, *, parent: Ledger | None = None, first_identity: int = 0) -> None:
        self.budget = budget
        self.parent = parent
        self.spent = 0
        self.first_identity = first_identity
        self._next_identity = first_identity
        self._usage = Usage()
        self.started = time.perf_counter()

    # -- generations ---------------------------------------------------------------------

    def remaining(self) -> int:
        """Generations this ledger may still spend."""
        return max(self.budget.generations - self.spent, 0)

    def spend(self, n: int, *, identities: int | None = None) -> range:
        """Reserve ``n`` generations and return the identities of their samples (``identities``
        of them when that differs: a particle-Gibbs sweep holds a slot for its reference
        particle, which was paid for by the sweep before)."""
        if not 0 < n <= self.remaining():
            raise InvalidInputError(f"asked for {n} generations with {self.remaining()} left")
        self._charge(n)
        return self.identities(n if identities is None else identities)

    def identities(self, n: int) -> range:
        """``n`` fresh sample identities, charging nothing (new steps of paths already paid for)."""
        if n < 0:
            raise ValueError(f"asked for {n} identities")
        start = self._next_identity
        self._next_identity += n
        return range(start, start + n)

    @property
    def next_identity(self) -> int:
        """The identity the next sample will take."""
        return self._next_identity

    def _charge(self, n: int) -> None:
        self.spent += n
        if self.parent is not None:
            self.parent._charge(n)

    def child(self, generations: int, *, own_identities: bool = False) -> Ledger:
        """A ledger for one part of this run: ``generations`` of its own (at least 1; count what
        it spends here too), what is left of this ledger's token and time budgets, and the next
        ``generations`` identities of this ledger (or its own, from 0, with ``own_identities``)."""
        tokens = self.budget.tokens
        if tokens is not None:
            tokens = max(tokens - self._usage.completion_tokens, 1)
        seconds = self.seconds_left()
        budget = Budget(
            generations=max(generations, 1), tokens=tokens, seconds=None if seconds is None else max(seconds, 1e-3)
        )
        first = 0 if own_identities else self.identities(generations).start
        return Ledger(budget, parent=self, first_identity=first)

    # -- usage ---------------------------------------------------------------------------

    def record(self, usage: Usage) -> None:
        """Add what a call cost (here and in every ledger above)."""
        self._usage = self._usage + usage
        if self.parent is not None:
            self.parent.record(usage)

    def recorded(self) -> Usage:
        """What the calls charged here (and to children) cost, without wall time."""
        return self._usage

    def usage(self) -> Usage:
        """What was recorded, with the wall time since this ledger opened."""
        return self._usage + Usage(wall_seconds=time.perf_counter() - self.started)

    # -- limits --------------------------------------------------------------------------

    def seconds_left(self) -> float | None:
        if self.budget.seconds is None:
            return None
        return self.budget.seconds - (time.perf_counter() - self.started)

    def limit_reached(self) -> str | None:
        """Which hard limit has run out (``tokens`` or ``seconds``), if any. Generations are not
        here: a step asks for at most :meth:`remaining`, and a strategy with none left may still
        have work to do (scoring what it sampled), so its ``done`` decides."""
        if self.budget.tokens is not None and self._usage.completion_tokens >= self.budget.tokens:
            return "tokens"
        left = self.seconds_left()
        if left is not None and left <= 0:
            return "seconds"
        return None
