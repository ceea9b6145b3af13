r"""A process reward model served by vLLM's pooling API: Qwen2.5-Math-PRM-7B (or -72B).

Serve the model with ``vllm serve Qwen/Qwen2.5-Math-PRM-7B --task reward`` (vLLM >= 0.7;
newer releases spell it ``--runner pooling``), then ``VllmPRM("http://host:8000",
"Qwen/Qwen2.5-Math-PRM-7B")`` or the spec ``vllm:http://host:8000#Qwen/Qwen2.5-Math-PRM-7B``.

The input, as the model card specifies (huggingface.co/Qwen/Qwen2.5-Math-PRM-7B, "Quick Start"):
the system prompt "Please reason step by step, and put your final answer within \boxed{}.", the
question as the user turn, and the assistant turn made of the steps, each followed by the
step-separator token ``<extra_0>`` (steps joined by it, one more after the last), rendered with
the chat template without a generation prompt. The model classifies the hidden state at each
``<extra_0>`` as negative/positive; the step's reward is the positive probability.

vLLM's ``Qwen2ForProcessRewardModel`` (vllm/model_executor/models/qwen2_rm.py) pools with
pooling type ``STEP``, step-tag id 151651 (``<extra_0>``) and softmax, so ``/pooling`` returns,
per input, one ``[P(negative), P(positive)]`` pair per separator. The request and response
(vllm/entrypoints/openai/protocol.py: ``PoolingChatRequest`` / ``PoolingCompletionRequest`` /
``PoolingResponse``; docs.vllm.ai "Pooling Models" and the ``openai_pooling_client.py`` example):

``input_format="messages"`` (default; the server applies the model's own chat template), one
request per partial answer, sent concurrently (at most ``concurrency`` in flight)::

    POST {base_url}/pooling
    {"model": "Qwen/Qwen2.5-Math-PRM-7B",
     "messages": [{"role": "system", "content": "Please reason step by step, ..."},
                  {"role": "user", "content": "<question>"},
                  {"role": "assistant", "content": "<step 1><extra_0><step 2><extra_0>"}],
     "add_generation_prompt": false, "continue_final_message": false, "add_special_tokens": false}

``input_format="text"``: ponder renders Qwen's ChatML itself and sends up to ``batch_size``
partials per request (fewer requests; use it when the server's template is not Qwen's)::

    {"model": "...", "input": ["<|im_start|>system\n...<|im_end|>\n<|im_start|>user\n<question>"
                               "<|im_end|>\n<|im_start|>assistant\n<step 1><extra_0>...<|im_end|>\n", ...]}

Response (``data[i]`` answers input ``i``; one pair per step)::

    {"object": "list", "model": "...", "usage": {"prompt_tokens": 93, "total_tokens": 93, ...},
     "data": [{"index": 0, "object": "pooling", "data": [[0.02, 0.98], [0.41, 0.59]]}]}

Step scores are the second column (``positive_index=1``). A step text that contains the
separator has it removed (it would add a score). A response with the wrong number of pairs, or
values that are not probabilities, is an :class:`~ponder.core.errors.UpstreamError` that says so.

``extra_body`` adds fields to every request (a pooling ``task``, ``truncate_prompt_tokens``, ...,
where a vLLM release wants them). The API key, if any, defaults to ``$PONDER_PRM_API_KEY``;
``usage`` counts requests (``scorer_calls``) and the tokens the server reports (``scorer_tokens``).

Aggregation: ``last`` by default. The PRM reads all earlier steps, so the last step's score
judges the whole prefix; search-and-learn (beam search, DVTS) defaults to ``last`` (offering
``min`` and ``prod``). ``whole`` sends each partial as ONE step: its steps joined by
``delimiter`` (a blank line) with a single ``<extra_0>`` after them, and returns that one score.
That is how Puri et al. 2025 score partial trajectories with this model in their particle
filter; ponder's particle filter gets the same input from any aggregation by handing the PRM the
joined trajectory as one step (``prm_input=joined``, see :mod:`ponder.search.expand`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from ponder.core.errors import InvalidInputError, UpstreamError
from ponder.core.usage import Usage
from ponder.engines.http.transport import RetryPolicy
from ponder.scorers.base import ScorerInfo
from ponder.scorers.prm.base import DEFAULT_DELIMITER, Aggregation, StepScorer, check_aggregation, check_score
from ponder.scorers.prm.remote import make_transport, response_usage, score_in_batches, split_url

QWEN_PRM_MODEL = "Qwen/Qwen2.5-Math-PRM-7B"
QWEN_PRM_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
STEP_SEPARATOR = "<extra_0>"
InputFormat = Literal["messages", "text"]


def chatml(system: str, question: str, answer: str) -> str:
    """Qwen's chat template (ChatML) for system, user and a finished assistant turn."""
    return (
        f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n"
        f"<|im_start|>assistant\n{answer}<|im_end|>\n"
    )


class VllmPRM(StepScorer):
    """Step rewards from a PRM behind vLLM's ``/pooling``; see the module docstring."""

    name: ClassVar[str] = "vllm-prm"
    info: ClassVar[ScorerInfo] = ScorerInfo(
        kind="prm", exact=False, cost="one reward-model forward pass per partial answer"
    )

    def __init__(
        self,
        base_url: str,
        model: str = QWEN_PRM_MODEL,
        api_key: str | None = None,
        *,
        step_separator: str = STEP_SEPARATOR,
        system_prompt: str = QWEN_PRM_SYSTEM,
        aggregation: Aggregation = "last",
        input_format: InputFormat = "messages",
        batch_size: int = 16,
        positive_index: int = 1,
        concurrency: int = 8,
        timeout: float = 120.0,
        retry: RetryPolicy = RetryPolicy(),
        delimiter: str = DEFAULT_DELIMITER,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        if not step_separator:
            raise InvalidInputError("the PRM step separator must not be empty")
        if input_format not in ("messages", "text"):
            raise InvalidInputError(f"input_format must be 'messages' or 'text', got {input_format!r}")
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
        if positive_index < 0:
            raise InvalidInputError(f"positive_index must be >= 0, got {positive_index}")
        root, path = split_url(base_url)
        path = path.rstrip("/")
        if path.endswith("/v1"):  # vLLM serves /pooling at the root, not under /v1
            path = path[: -len("/v1")]
        self.endpoint = f"{path}/pooling"
        self.model = model
        self.step_separator = step_separator
        self.system_prompt = system_prompt
        self.aggregation = check_aggregation(aggregation)
        self.input_format = input_format
        self.batch_size = batch_size
        self.positive_index = positive_index
        self.delimiter = delimiter
        self.extra_body = dict(extra_body or {})
        self.usage = Usage()
        self._transport = make_transport(root, api_key=api_key, timeout=timeout, concurrency=concurrency, retry=retry)
        self._where = f"{root}{self.endpoint}"

    def assistant_text(self, steps: Sequence[str]) -> str:
        """The steps joined by the separator, with one after the last (the model card's format)."""
        sep = self.step_separator
        return "".join(step.replace(sep, "").strip() + sep for step in steps)

    def request_body(self, question: str, partials: Sequence[Sequence[str]]) -> dict[str, Any]:
        """The ``/pooling`` body for ``partials`` (exactly one partial with ``messages``)."""
        if self.input_format == "messages":
            if len(partials) != 1:
                raise InvalidInputError("a messages-format pooling request carries exactly one partial answer")
            messages = [
                {"role": "system", "content": self.system_prompt},
                {"role": "user", "content": question},
                {"role": "assistant", "content": self.assistant_text(partials[0])},
            ]
            body: dict[str, Any] = {
                "model": self.model,
                "messages": messages,
                "add_generation_prompt": False,
                "continue_final_message": False,
                "add_special_tokens": False,
            }
        else:
            body = {
                "model": self.model,
                "input": [chatml(self.system_prompt, question, self.assistant_text(p)) for p in partials],
            }
        return {**body, **self.extra_body}

    def _step_scores(self, item: Any, n_steps: int) -> list[float]:
        """The positive-class probabilities of one ``data`` entry, checked against ``n_steps``."""
        rows = item.get("data") if isinstance(item, dict) else None
        if not isinstance(rows, list):
            raise UpstreamError(f"{self._where}: a pooling result has no list 'data' (got {item!r:.120})")
        if n_steps == 1 and len(rows) == 2 and all(isinstance(v, (int, float)) for v in rows):
            rows = [rows]  # one step: some versions return the pair flat
        if len(rows) != n_steps:
            raise UpstreamError(
                f"{self._where}: expected {n_steps} step scores (one per {self.step_separator!r}), got {len(rows)}; "
                "is the server running a process reward model (vllm serve ... --task reward)?"
            )
        scores = []
        for row in rows:
            if not isinstance(row, list) or len(row) <= self.positive_index:
                raise UpstreamError(
                    f"{self._where}: a step result must be a list of class probabilities, got {row!r:.80}"
                )
            scores.append(check_score(row[self.positive_index], self._where))
        return scores

    async def _post(self, question: str, partials: Sequence[Sequence[str]]) -> list[list[float]]:
        """One ``/pooling`` request for ``partials``; their step scores, in order."""
        body = await self._transport.post(self.endpoint, self.request_body(question, partials))
        self.usage = self.usage + response_usage(body)
        try:
            return self._scores(body, partials)
        except UpstreamError as exc:  # it quotes the reply, which may echo the key
            raise self._transport.redactor.error(exc) from None

    def _scores(self, body: Any, partials: Sequence[Sequence[str]]) -> list[list[float]]:
        """The step scores of a ``/pooling`` reply, checked against the partials asked about."""
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or len(data) != len(partials):
            raise UpstreamError(
                f"{self._where}: expected a 'data' list with {len(partials)} result(s), got {str(body)[:160]!r}"
            )
        if all(isinstance(d, dict) and isinstance(d.get("index"), int) for d in data):
            data = sorted(data, key=lambda d: d["index"])
        return [self._step_scores(item, len(p)) for item, p in zip(data, partials, strict=True)]

    async def score_steps(self, question: str, steps: Sequence[Sequence[str]]) -> list[list[float]]:
        """One score per step of every partial (``whole``: one score, of the steps joined into
        one); partials go out concurrently, an empty one gets ``[]`` without a request."""
        if self.aggregation == "whole":
            steps = [[self.delimiter.join(partial)] if partial else [] for partial in steps]
        size = 1 if self.input_format == "messages" else self.batch_size
        return await score_in_batches(self._post, question, steps, size)

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._transport.aclose()
