"""A collaboration (Hogwild! workers on one shared history) on a run's ledger and interrupts.

:meth:`StepContext.collaborate <ponder.context.StepContext.collaborate>` opens one: on the
engine's shared cache when it has one (``capabilities.shared_cache``,
:mod:`ponder.engines.collaboration`), else by re-sending the history each step
(:mod:`ponder.context.collaboration_resend`). Either way the strategy reads the same events
through :class:`MeteredCollaboration`, which records what each event cost in the ledger as it
arrives (the shared-cache engine reports its usage with its events; the re-sending session's
requests go through the metered engine, which records them itself), registers with the run's
:class:`~ponder.context.interrupts.Interrupts` (a hard or soft interrupt ends the collaboration:
its workers' steps in progress come back with its :class:`~ponder.engines.collaboration.CollabEnd`;
an update does not reach it, as the common history cannot take a note without recomputing), and
cancels the collaboration when the awaiting step is cancelled (a time budget, a hard interrupt
with nothing live). An interrupt set at a token count (:meth:`Interrupts.at_tokens
<ponder.context.interrupts.Interrupts.at_tokens>`) acts when a worker's finished steps reach it.
A collaboration still running when its context closes (the run stopped between two of its steps:
its time ran out, say) is cancelled then, so the engine stops its workers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

from ponder.context.collaboration_resend import ResendSession
from ponder.context.interrupts import Interrupts, Signal
from ponder.context.metered import MeteredEngine
from ponder.core.ledger import Ledger
from ponder.core.usage import Usage
from ponder.engines.collaboration import (
    CollabEnd,
    CollabEvent,
    Collaborates,
    CollabRequest,
    CollabSession,
    FinishedStep,
)


def open_collaboration(
    engine: MeteredEngine, ledger: Ledger, interrupts: Interrupts, request: CollabRequest, *, seed: int, shared: bool
) -> MeteredCollaboration:
    """The body of :meth:`StepContext.collaborate <ponder.context.StepContext.collaborate>`: the
    ledger charges ``request.workers`` generations and names their identities (worker ``i`` is
    identity ``first_index + i``, sampled with ``seed``); what is left of the token budget caps
    what they draw together; on the engine's shared cache when it has one and ``shared``, else
    by re-sending the history (:class:`ResendSession`)."""
    interrupts.check()
    identities = ledger.spend(request.workers)
    total = request.total_tokens
    if ledger.budget.tokens is not None:
        left = max(ledger.budget.tokens - ledger.recorded().completion_tokens, 1)
        total = left if total is None else min(total, left)
    prompt = replace(request.prompt, first_index=identities.start, seed=seed)
    request = replace(request, prompt=prompt, total_tokens=total)
    inner = engine.engine
    session: CollabSession
    if shared and engine.capabilities.shared_cache and isinstance(inner, Collaborates):
        session = inner.collaborate(request)
    else:
        session = ResendSession(engine, request, interrupts.check)
    return MeteredCollaboration(session, engine.record, interrupts)


class MeteredCollaboration:
    """A :class:`~ponder.engines.collaboration.CollabSession` metered into a ledger and reached by
    the run's interrupts (see the module docstring). ``stopping`` is True once an interrupt or a
    cancel asked it to end: its :class:`CollabEnd` is on its way."""

    def __init__(self, session: CollabSession, record: Callable[[Usage], None], interrupts: Interrupts) -> None:
        self.session = session
        self.request = session.request
        self.stopping = False
        self.ended = False
        self._record = record
        self._interrupts = interrupts
        self._generated = [0] * self.request.workers
        record(Usage(engine_calls=1))
        interrupts.register(self)

    async def next(self) -> CollabEvent:
        """The next event; after the :class:`CollabEnd` there is none."""
        try:
            event = await self.session.next()
        except asyncio.CancelledError:
            self.cancel()
            raise
        except BaseException:
            self._close()
            raise
        self._record(event.usage)
        if isinstance(event, CollabEnd):
            self._close()
        elif isinstance(event, FinishedStep):  # interrupts set at a token count act at step ends
            self._generated[event.worker] += event.tokens
            self._interrupts.grew(self._generated[event.worker])
        return event

    def interrupt(self, signal: Signal) -> int:
        """A hard or soft interrupt ends the collaboration (its workers are reached); an update does not."""
        if self.ended or self.stopping or signal.mode == "update":
            return 0
        self.stopping = True
        self.session.cancel()
        return self.request.workers

    def cancel(self) -> None:
        self.stopping = True
        self.session.cancel()
        self._interrupts.unregister(self)

    def _close(self) -> None:
        self.ended = True
        self._interrupts.unregister(self)
