"""The records the benchmark harness passes between its modules, in one place.

- :class:`Problem`: one benchmark question (read by ``datasets``, judged by ``graders``);
- :class:`Config`: one configuration to benchmark (a strategy, or a pipeline config as
  :func:`canonical_pipeline` JSON); :class:`StoredConfig`: one as the store holds it;
- :class:`BenchRow` (with its :class:`CandidateRow` s): one problem's outcome under one
  configuration, the ``results`` row of the store. :meth:`BenchRow.to_dict` is the one place that
  says what a stored row is (16 keys, the JSON/SQLite shape); :meth:`BenchRow.from_dict` reads
  rows back, including rows written before the record was typed;
- :class:`ConfigTotals`: what ``run_benchmark`` (``ponder bench``) did for one configuration;
- :class:`PairedDifference` and :class:`ConfigSummary`: one configuration's row in a report.

This module imports nothing else of ``ponder.bench``, so every other bench module can use it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class Problem:
    """One benchmark question: its id, the text the model sees, the gold answer and its grader.

    ``gold`` is empty for graders that need none (HumanEval's unit tests are the oracle).
    ``data`` is the raw row the problem was read from.
    """

    id: str
    question: str
    gold: str
    grader: str
    data: dict[str, Any]


def canonical_pipeline(data: Mapping[str, Any]) -> str:
    """A pipeline config's data as the canonical JSON a :class:`Config` holds (sorted keys, compact)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Config:
    """One configuration to benchmark. ``interrupt`` is an interrupt spec (``hard@0.3``,
    ``soft@0.5``, ``update@0.5:FIELD``: :mod:`ponder.bench.interrupts`), ``""`` for none; it is
    part of the key and the label only when set, so configurations stored before it keep theirs.
    ``pipeline`` is a pipeline config (:func:`canonical_pipeline` JSON) run instead of a strategy
    (``strategy`` is then ``pipeline``, ``options`` empty and ``budget`` what it may spend); it too
    is part of the key and the label only when set. ``memory`` is a concept memory's file and
    settings (canonical JSON, :func:`ponder.bench.memory_run.memory_key`) the problems read and
    write in order; it too is part of the key and the label only when set."""

    dataset: str
    strategy: str
    budget: int
    seed: int
    temperature: float | None
    max_tokens: int
    engine: str
    model: str
    options: tuple[tuple[str, Any], ...] = ()
    interrupt: str = ""
    pipeline: str = ""
    memory: str = ""

    @property
    def key(self) -> str:
        """The configuration's identity in the store: its canonical JSON."""
        fields = {
            "dataset": self.dataset,
            "strategy": self.strategy,
            "budget": self.budget,
            "seed": self.seed,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "engine": self.engine,
            "model": self.model,
            "options": dict(self.options),
        }
        if self.interrupt:
            fields["interrupt"] = self.interrupt
        if self.pipeline:
            fields["pipeline"] = json.loads(self.pipeline)
        if self.memory:
            fields["memory"] = json.loads(self.memory)
        return json.dumps(fields, sort_keys=True)

    @property
    def label(self) -> str:
        """How reports name it: ``self-consistency@8 T=0.8 seed=0``; a pipeline by its config's
        name: ``pipeline generate-critique-fuse@4 seed=0``."""
        options = "".join(f" {k}={v}" for k, v in self.options)
        temperature = "" if self.temperature is None else f" T={self.temperature:g}"
        interrupt = f" {self.interrupt}" if self.interrupt else ""
        if self.memory:
            interrupt += f" memory={Path(json.loads(self.memory)['path']).name}"
        name = self.strategy
        if self.pipeline:
            name = f"{self.strategy} {json.loads(self.pipeline).get('name', 'pipeline')}"
        return f"{name}@{self.budget}{options}{temperature} seed={self.seed}{interrupt}"


@dataclass(frozen=True)
class StoredConfig:
    """A configuration as the store holds it (a ``configs`` row): its id, run, key and label too."""

    id: int
    run_id: int
    key: str
    label: str
    dataset: str
    strategy: str
    options: dict[str, Any]
    budget: int
    seed: int
    temperature: float | None
    max_tokens: int
    engine: str
    model: str
    interrupt: str = ""  # "" in rows stored before interrupts (schema 3)
    pipeline: str = ""  # read from the key (no column of its own): "" for strategies
    memory: str = ""  # read from the key too: "" without a memory

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StoredConfig:
        """From a ``configs`` row (``options`` as its JSON text; a pipeline config from ``key``)."""
        temperature = row["temperature"]
        pipeline = json.loads(row["key"]).get("pipeline")
        memory = json.loads(row["key"]).get("memory")
        return cls(
            id=int(row["id"]),
            run_id=int(row["run_id"]),
            key=str(row["key"]),
            label=str(row["label"]),
            dataset=str(row["dataset"]),
            strategy=str(row["strategy"]),
            options=json.loads(row["options"]),
            budget=int(row["budget"]),
            seed=int(row["seed"]),
            temperature=None if temperature is None else float(temperature),
            max_tokens=int(row["max_tokens"]),
            engine=str(row["engine"]),
            model=str(row["model"]),
            interrupt=str(row.get("interrupt") or ""),
            pipeline="" if pipeline is None else canonical_pipeline(pipeline),
            memory="" if memory is None else json.dumps(memory, sort_keys=True, separators=(",", ":")),
        )

    @property
    def config(self) -> Config:
        """The :class:`Config` it was stored from."""
        return Config(
            dataset=self.dataset,
            strategy=self.strategy,
            budget=self.budget,
            seed=self.seed,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            engine=self.engine,
            model=self.model,
            options=tuple(self.options.items()),
            interrupt=self.interrupt,
            pipeline=self.pipeline,
            memory=self.memory,
        )


@dataclass(frozen=True)
class CandidateRow:
    """One candidate of a stored result: its text, answer, grade, score, tokens and finish reason.

    ``evidence`` (how a verifier or program run reached the answer) is ``None`` in rows written
    before it was recorded.
    """

    text: str
    answer: str | None
    correct: bool
    score: float | None
    completion_tokens: int
    finish_reason: str | None
    evidence: str | None = None

    def to_dict(self) -> JsonObject:
        """The candidate's JSON object, as stored in the ``candidates`` column."""
        return {
            "text": self.text,
            "answer": self.answer,
            "correct": self.correct,
            "score": self.score,
            "completion_tokens": self.completion_tokens,
            "finish_reason": self.finish_reason,
            "evidence": self.evidence,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CandidateRow:
        """From a stored candidate object (older rows may lack ``evidence``)."""
        score = data.get("score")
        return cls(
            text=str(data.get("text", "")),
            answer=data.get("answer"),
            correct=bool(data.get("correct")),
            score=None if score is None else float(score),
            completion_tokens=int(data.get("completion_tokens") or 0),
            finish_reason=data.get("finish_reason"),
            evidence=data.get("evidence"),
        )


@dataclass(frozen=True)
class BenchRow:
    """One problem's outcome under one configuration: the answer, whether it is right, every
    candidate, votes, trace, why the run stopped, usage and seconds.

    A problem whose run failed has no answer, no candidates and ``stop_reason`` ``error: ...``.
    """

    problem_id: str
    question: str
    gold: str
    answer: str | None
    correct: bool
    stop_reason: str
    candidates: tuple[CandidateRow, ...] = ()
    votes: dict[str, float] = field(default_factory=dict)
    trace: tuple[JsonObject, ...] = ()
    prompt_tokens: int = 0
    prompt_tokens_computed: int = 0
    completion_tokens: int = 0
    scorer_tokens: int = 0
    engine_calls: int = 0
    scorer_calls: int = 0
    seconds: float = 0.0
    scorer_prompt_tokens_computed: int = 0  # 0 in rows stored before it was recorded

    JSON_FIELDS: ClassVar[tuple[str, ...]] = ("candidates", "votes", "trace")
    """The fields stored as JSON text in SQLite."""

    @property
    def tokens(self) -> int:
        """Prompt + completion + scorer tokens: what the report charges the problem."""
        return self.prompt_tokens + self.completion_tokens + self.scorer_tokens

    def to_dict(self) -> JsonObject:
        """The row as 17 JSON-ready keys (``correct`` as 0/1): the stored shape."""
        return {
            "problem_id": self.problem_id,
            "question": self.question,
            "gold": self.gold,
            "answer": self.answer,
            "correct": int(self.correct),
            "candidates": [c.to_dict() for c in self.candidates],
            "votes": dict(self.votes),
            "trace": list(self.trace),
            "stop_reason": self.stop_reason,
            "prompt_tokens": self.prompt_tokens,
            "prompt_tokens_computed": self.prompt_tokens_computed,
            "completion_tokens": self.completion_tokens,
            "scorer_tokens": self.scorer_tokens,
            "engine_calls": self.engine_calls,
            "scorer_calls": self.scorer_calls,
            "seconds": self.seconds,
            "scorer_prompt_tokens_computed": self.scorer_prompt_tokens_computed,
        }

    def to_columns(self) -> JsonObject:
        """:meth:`to_dict` with the JSON fields as JSON text: the values of a ``results`` row."""
        columns = self.to_dict()
        for name in self.JSON_FIELDS:
            columns[name] = json.dumps(columns[name])
        return columns

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BenchRow:
        """From the stored shape (JSON fields decoded); keys it does not know (``config_id``,
        ``created``) are ignored; rows stored before ``scorer_prompt_tokens_computed`` read it as 0."""
        answer = data["answer"]
        return cls(
            problem_id=str(data["problem_id"]),
            question=str(data["question"]),
            gold=str(data["gold"]),
            answer=None if answer is None else str(answer),
            correct=bool(data["correct"]),
            stop_reason=str(data["stop_reason"]),
            candidates=tuple(CandidateRow.from_dict(c) for c in data.get("candidates") or ()),
            votes=dict(data.get("votes") or {}),
            trace=tuple(data.get("trace") or ()),
            prompt_tokens=int(data["prompt_tokens"]),
            prompt_tokens_computed=int(data["prompt_tokens_computed"]),
            completion_tokens=int(data["completion_tokens"]),
            scorer_tokens=int(data["scorer_tokens"]),
            engine_calls=int(data["engine_calls"]),
            scorer_calls=int(data["scorer_calls"]),
            seconds=float(data["seconds"]),
            scorer_prompt_tokens_computed=int(data.get("scorer_prompt_tokens_computed") or 0),
        )

    @classmethod
    def from_columns(cls, row: Mapping[str, Any]) -> BenchRow:
        """From a ``results`` row, its JSON fields still JSON text."""
        data = dict(row)
        for name in cls.JSON_FIELDS:
            data[name] = json.loads(data[name])
        return cls.from_dict(data)


ROW_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(BenchRow))
"""The names of a stored row's fields (its ``results`` columns besides ``config_id`` and ``created``)."""

ConfigRows = tuple[StoredConfig, list[BenchRow]]
"""A stored configuration with its rows, in problem order."""


@dataclass(frozen=True)
class ConfigTotals:
    """What a benchmark run did for one configuration."""

    label: str
    solved: int  # problems with a stored result
    correct: int
    new: int  # results added by this run

    @property
    def accuracy(self) -> float:
        """Correct over solved (0 when none is solved)."""
        return self.correct / self.solved if self.solved else 0.0


@dataclass(frozen=True)
class PairedDifference:
    """Mean of (config - baseline) correctness over the problems both have, with a bootstrap CI."""

    difference: float
    low: float
    high: float
    problems: int


@dataclass(frozen=True)
class ConfigSummary:
    """One configuration's row in a report, plus its per-problem rows for the drill-down."""

    config_id: int
    label: str  # unique within the report (the stored label, disambiguated by id if repeated)
    strategy: str
    problems: int
    accuracy: float
    low: float
    high: float
    tokens: float  # mean prompt + completion + scorer tokens per problem
    completion_tokens: float  # mean completion tokens per problem
    seconds: float  # mean wall seconds per problem
    is_baseline: bool
    versus_baseline: PairedDifference | None  # None for the baseline, without one, or with no shared problem
    on_frontier: bool
    records: tuple[BenchRow, ...]
