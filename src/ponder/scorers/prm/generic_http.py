"""A process reward model behind any HTTP server that speaks ponder's small JSON protocol.

Wrap any PRM (a transformers model, a different serving stack, a remote service) in a handler
for one endpoint, and ponder can search with it (spec ``http:URL``)::

    POST {url}
    {"question": "What is 2 + 3 * 4?",
     "steps": [["3 * 4 = 12.", "2 + 12 = 14."], ["2 + 3 = 5."]],
     "aggregation": "last"}

    200 OK
    {"scores": [[0.97, 0.95], [0.12]]}

``steps`` holds up to ``batch_size`` partial answers, each a list of step texts; ``scores[i]``
must hold one probability in [0, 1] per step of ``steps[i]`` or, when the PRM was declared with
``aggregation="whole"``, exactly one score for the whole partial answer. ``aggregation`` is sent
for information only. An optional ``usage`` object (``{"total_tokens": N}``) is counted as
scorer tokens. Bigger batches go out as several requests, concurrently; retries, timeouts and
typed errors are those of ponder's HTTP transport. A response of the wrong shape is an
:class:`~ponder.core.errors.UpstreamError` naming what is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from ponder.core.errors import InvalidInputError, UpstreamError
from ponder.core.usage import Usage
from ponder.engines.http.transport import RetryPolicy
from ponder.scorers.base import ScorerInfo
from ponder.scorers.prm.base import DEFAULT_DELIMITER, Aggregation, StepScorer, check_aggregation, check_score
from ponder.scorers.prm.remote import make_transport, response_usage, score_in_batches, split_url


class GenericHttpPRM(StepScorer):
    """Step scores from ``POST url {question, steps}`` -> ``{scores}``; see the module docstring."""

    name: ClassVar[str] = "http-prm"
    info: ClassVar[ScorerInfo] = ScorerInfo(kind="prm", exact=False, cost="one HTTP request per batch of partials")

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        aggregation: Aggregation = "last",
        batch_size: int = 16,
        concurrency: int = 8,
        timeout: float = 120.0,
        retry: RetryPolicy = RetryPolicy(),
        delimiter: str = DEFAULT_DELIMITER,
    ) -> None:
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
        root, self.path = split_url(url)
        self.url = url
        self.aggregation = check_aggregation(aggregation)
        self.batch_size = batch_size
        self.delimiter = delimiter
        self.usage = Usage()
        self._transport = make_transport(root, api_key=api_key, timeout=timeout, concurrency=concurrency, retry=retry)

    def _check(self, body: Any, partials: Sequence[Sequence[str]]) -> list[list[float]]:
        """The ``scores`` of a response, checked against the partials asked about."""
        scores = body.get("scores") if isinstance(body, dict) else None
        if not isinstance(scores, list) or len(scores) != len(partials):
            raise UpstreamError(
                f'{self.url}: expected {{"scores": [...]}} with {len(partials)} list(s), got {str(body)[:160]!r}'
            )
        checked = []
        for row, partial in zip(scores, partials, strict=True):
            want = 1 if self.aggregation == "whole" else len(partial)
            if not isinstance(row, list) or len(row) != want:
                raise UpstreamError(
                    f"{self.url}: expected {want} score(s) for a partial answer of {len(partial)} "
                    f"step(s) (aggregation {self.aggregation}), got {row!r:.80}"
                )
            checked.append([check_score(value, self.url) for value in row])
        return checked

    async def _post(self, question: str, partials: Sequence[Sequence[str]]) -> list[list[float]]:
        """One request for a batch of partials."""
        body = await self._transport.post(
            self.path, {"question": question, "steps": [list(p) for p in partials], "aggregation": self.aggregation}
        )
        self.usage = self.usage + response_usage(body)
        try:
            return self._check(body, partials)
        except UpstreamError as exc:  # it quotes the reply, which may echo the key
            raise self._transport.redactor.error(exc) from None

    async def score_steps(self, question: str, steps: Sequence[Sequence[str]]) -> list[list[float]]:
        """Scores from the server, batches sent concurrently; an empty partial gets ``[]`` unsent."""
        return await score_in_batches(self._post, question, steps, self.batch_size)

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._transport.aclose()
