"""Turning a chat request into strategy runs, and their results into OpenAI responses.

Every string of a request is checked first: text that is not valid Unicode (a lone surrogate,
which JSON can carry as ``"\\ud800"``) is refused with a 400 naming the field, before any run
starts. Fields OpenAI defines that ponder does not use are ignored, as OpenAI's server ignores
what it does not know; inside the ``ponder`` object every key must be one of its own or an option
of the strategy, else a 400 names it. A request that names no strategy, or names ``pipeline``,
runs the operator's pipeline (``ponder serve --pipeline FILE``) when there is one, else the
default strategy (or, for ``pipeline``, the built-in default pipeline).
``stop`` strings end the generator's samples (:mod:`ponder.serve.stops`). ``n`` answers are ``n``
independent runs seeded ``seed, seed+1, ...``. Each choice's message is the full text of a sample
whose answer won (the first such sample). Usage counts
everything the runs spent: generator prompts and completions, and the judges' tokens (counted as
prompt tokens; a judge generates one token per call), with a breakdown under ``usage.ponder``.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ponder.api import RunPlan, plan
from ponder.core.errors import InvalidInputError
from ponder.core.params import local_parameters
from ponder.core.result import Candidate, SolveResult
from ponder.core.text import check_text
from ponder.core.usage import Usage, total
from ponder.engines.base import Message
from ponder.registry import strategy_class
from ponder.scorers.prm.spec import DEFAULT_PRM
from ponder.serve.aliases import parse_model
from ponder.serve.code_policy import refuse_code_execution
from ponder.serve.config import ServeConfig
from ponder.serve.schemas import ChatRequest, PonderOptions


@dataclass(frozen=True)
class Job:
    """A validated request: one plan per answer asked for."""

    id: str
    model: str
    created: int
    plans: tuple[RunPlan, ...]
    summary: bool
    stop: tuple[str, ...] = ()


def split_messages(request: ChatRequest) -> tuple[str | None, tuple[Message, ...], str]:
    """(system prompt, earlier turns, question): the last message must be the user's question."""
    system = "\n\n".join(m.text() for m in request.messages if m.role in ("system", "developer")) or None
    turns = [Message(m.role, m.text()) for m in request.messages if m.role in ("user", "assistant")]
    if not turns or turns[-1].role != "user":
        raise InvalidInputError("messages: the last non-system message must be from the user")
    return system, tuple(turns[:-1]), turns[-1].content


def check_client_options(strategy: str, options: Mapping[str, Any], config: ServeConfig) -> None:
    """Refuse options that would make the server read, write or call what a client names."""
    local = local_parameters(strategy_class(strategy).Params)
    for key, value in options.items():
        if key not in local:
            continue
        if key == "prm" and (str(value).startswith(DEFAULT_PRM) or value in config.prms):
            continue
        allowed = f"; this server allows prm={', '.join((DEFAULT_PRM, *config.prms))}" if key == "prm" else ""
        raise InvalidInputError(
            f"option {key!r} names a file or URL of the server and is not taken from requests{allowed}"
        )


MAX_STOPS = 16


def stop_strings(request: ChatRequest) -> tuple[str, ...]:
    """The request's ``stop`` strings (one string or a list), checked: non-empty, at most :data:`MAX_STOPS`."""
    stops = [request.stop] if isinstance(request.stop, str) else list(request.stop or [])
    if len(stops) > MAX_STOPS:
        raise InvalidInputError(f"stop: at most {MAX_STOPS} stop strings, got {len(stops)}")
    for i, stop in enumerate(stops):
        if not stop:
            raise InvalidInputError(f"stop[{i}]: a stop string must not be empty")
    return tuple(dict.fromkeys(stops))


def check_ponder_keys(strategy: str, options: Mapping[str, Any]) -> None:
    """Refuse a key of the ``ponder`` object that is neither its own nor an option of ``strategy``, naming it."""
    own = sorted(PonderOptions.model_fields)
    known = {f.name for f in dataclasses.fields(strategy_class(strategy).Params)}
    for key in options:
        if key.startswith("memory") and key not in known:
            raise InvalidInputError(
                f"ponder.{key}: the concept memory is the server operator's (ponder serve --memory FILE); "
                "a request cannot name, change or skip it"
            )
        if key not in known:
            theirs = ", ".join(sorted(known)) or "none"
            raise InvalidInputError(
                f"ponder.{key}: unknown key; the ponder object takes {', '.join(own)} and the options of "
                f"strategy {strategy!r}: {theirs}"
            )


def check_request_text(request: ChatRequest) -> None:
    """Refuse a request with a string that is not valid Unicode, naming the field (see the module docstring)."""
    check_text(request.model, "model")
    for i, message in enumerate(request.messages):
        if isinstance(message.content, str):
            check_text(message.content, f"messages[{i}].content")
        else:
            for j, part in enumerate(message.content):
                check_text(part.text, f"messages[{i}].content[{j}].text")
    stops = [request.stop] if isinstance(request.stop, str) else request.stop or []
    for i, stop in enumerate(stops):
        check_text(stop, f"stop[{i}]")
    if request.ponder is not None:
        for key in ("strategy", "task"):
            value = getattr(request.ponder, key)
            if value is not None:
                check_text(value, f"ponder.{key}")
        _check_strings(request.ponder.strategy_options(), "ponder")


def _check_strings(value: Any, where: str) -> None:
    if isinstance(value, str):
        check_text(value, where)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_text(str(key), f"a key of {where}")
            _check_strings(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_strings(item, f"{where}[{i}]")


def build_job(request: ChatRequest, config: ServeConfig) -> Job:
    """Validate a request against the server's limits; every problem is a 400/404 naming it."""
    check_request_text(request)
    choice = parse_model(request.model, config.model_name)
    options = request.ponder or PonderOptions()
    if request.n > config.max_n:
        raise InvalidInputError(f"n={request.n} exceeds this server's limit of {config.max_n}")
    named = options.strategy or choice.strategy
    if named == "pipeline" and config.default_pipeline is not None:
        named = None  # `pipeline` on a server with one is the operator's, not the built-in default pipeline
    pipeline = config.default_pipeline if named is None else None  # the operator's pipeline, if any
    budget = options.budget or choice.budget or (config.pipeline_budget() if pipeline else config.default_budget)
    if budget * request.n > config.max_budget:
        raise InvalidInputError(
            f"budget {budget} x n {request.n} exceeds this server's limit of {config.max_budget} "
            "generations per request"
        )
    max_tokens = request.max_completion_tokens or request.max_tokens or config.default_max_tokens
    if max_tokens > config.max_tokens_cap:
        raise InvalidInputError(f"max_tokens={max_tokens} exceeds this server's limit of {config.max_tokens_cap}")
    stops = stop_strings(request)
    strategy = named or ("pipeline" if pipeline is not None else config.default_strategy)
    check_ponder_keys(strategy, options.strategy_options())
    check_client_options(strategy, options.strategy_options(), config)
    system, history, question = split_messages(request)
    time_budget = min(options.time_budget or config.request_timeout, config.request_timeout)
    seed = request.seed or 0
    plans = tuple(
        plan(
            question,
            history=history,
            system_prompt=system,
            strategy=strategy,
            options=options.strategy_options(),
            budget=budget,
            token_budget=options.token_budget,
            time_budget=time_budget,
            temperature=request.temperature,
            top_p=request.top_p or 1.0,
            max_tokens=max_tokens,
            seed=seed + i,
            task=options.task or "math",
            pipeline=pipeline,
        )
        for i in range(request.n)
    )
    if not config.code_execution:
        refuse_code_execution(plans[0])
    return Job(
        id=f"chatcmpl-{uuid.uuid4().hex[:24]}",
        model=request.model,
        created=int(time.time()),
        plans=plans,
        summary=options.summary,
        stop=stops,
    )


def chosen(result: SolveResult) -> Candidate | None:
    """The sample whose text answers: the first whose answer won, else the first that did not fail."""
    usable = [c for c in result.candidates if c.finish_reason != "error"]
    return next((c for c in usable if c.answer == result.answer), usable[0] if usable else None)


def usage_body(results: list[SolveResult]) -> dict[str, Any]:
    spent: Usage = total([r.usage for r in results])
    prompt = spent.prompt_tokens + spent.scorer_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": spent.completion_tokens,
        "total_tokens": prompt + spent.completion_tokens,
        "ponder": {**spent.to_dict(), "generations": sum(len(r.candidates) for r in results)},
    }


def summary_body(result: SolveResult) -> dict[str, Any]:
    return {
        "strategy": result.strategy,
        "answer": result.answer,
        "votes": result.votes,
        "stop_reason": result.stop_reason,
        "candidates": [
            {
                "answer": c.answer,
                "score": c.score,
                "finish_reason": c.finish_reason,
                "completion_tokens": c.completion_tokens,
            }
            for c in result.candidates
        ],
        "trace": result.trace,
    }


def response_body(job: Job, results: list[SolveResult]) -> dict[str, Any]:
    choices = []
    for index, result in enumerate(results):
        pick = chosen(result)
        choices.append(
            {
                "index": index,
                "message": {"role": "assistant", "content": pick.text if pick else ""},
                "finish_reason": pick.finish_reason if pick else "stop",
                "logprobs": None,
            }
        )
    body: dict[str, Any] = {
        "id": job.id,
        "object": "chat.completion",
        "created": job.created,
        "model": job.model,
        "choices": choices,
        "usage": usage_body(results),
    }
    if job.summary:
        body["ponder"] = [summary_body(r) for r in results]
    return body
