"""Task-level pseudocode for think-and-execute: worked examples, the Think step that writes the
pseudocode once per task, and its cache (in process and on disk).

See :mod:`ponder.strategies.think_execute` for the algorithm. The cache key is a hash of the task
description, the examples, the engine and model, the Think settings and the prompt version; a
damaged cache file counts as a miss.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ponder.core.errors import EngineError, InvalidInputError
from ponder.core.jsonl import read_jsonl
from ponder.core.seeding import derive_seed
from ponder.core.usage import Usage
from ponder.engines.base import Engine, GenerationRequest, Message

PROMPT_VERSION = "think-and-execute/1"  # part of the cache key: change it when the prompts change

THINK_PROMPT = (
    "You write pseudocode that solves every instance of a task. Study the task description and the "
    "examples, then write one general step-by-step program in Python-like pseudocode: name the "
    "inputs, keep intermediate results in variables, print() each important intermediate value, and "
    "return the final answer. Do not solve the examples themselves; the program must work for any "
    "instance of the task. Reply with the pseudocode only."
)
_FENCE_RE = re.compile(r"```[^\n`]*\n(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class Example:
    """One worked instance of a task for the Think step: the question and its answer."""

    question: str
    answer: str = ""


def _example(row: Any, where: str) -> Example:
    if not isinstance(row, Mapping):
        raise InvalidInputError(f"{where}: an example must be a JSON object with 'question' and 'answer'")
    question, answer = row.get("question"), row.get("answer", "")
    if not isinstance(question, str) or not question.strip():
        raise InvalidInputError(f"{where}: an example needs a non-empty 'question' string")
    if not isinstance(answer, (str, int, float)) or isinstance(answer, bool):
        raise InvalidInputError(f"{where}: 'answer' must be text or a number")
    return Example(question.strip(), str(answer).strip())


def load_examples(source: str | Sequence[Mapping[str, Any]] | Sequence[Example]) -> tuple[Example, ...]:
    """Examples from a ``.jsonl`` path (one ``{"question", "answer"}`` object a line), an inline
    JSON list of such objects, or Python objects; bad input names the line or item."""
    if not isinstance(source, str):
        return tuple(e if isinstance(e, Example) else _example(e, f"example {i + 1}") for i, e in enumerate(source))
    text = source.strip()
    if not text:
        return ()
    if text.startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"examples: not a JSON list ({exc.msg})") from None
        if not isinstance(rows, list):
            raise InvalidInputError("examples: expected a JSON list of objects")
        return tuple(_example(row, f"examples: item {i + 1}") for i, row in enumerate(rows))
    path = Path(text).expanduser()
    if not path.is_file():
        raise InvalidInputError(f"examples: no such file {text} (give a .jsonl path or an inline JSON list)")
    try:
        examples = [_example(row, f"{path}: line {index + 1}") for index, row in read_jsonl(path)]
    except InvalidInputError as exc:
        raise InvalidInputError(f"examples: {exc}") from None
    if not examples:
        raise InvalidInputError(f"{path}: no examples in the file")
    return tuple(examples)


def read_text(path: Path, option: str) -> str:
    """The UTF-8 text of the file an option names; an unreadable file is an InvalidInputError."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{option}: cannot read {path}: {exc}") from None


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/ponder/think-and-execute`` (``~/.cache/...`` without the variable)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(base) / "ponder" / "think-and-execute"


class PseudocodeCache:
    """Pseudocode by task key: a dictionary in front of one JSON file per key in ``directory``
    (``None``: memory only). A damaged file counts as a miss and is rewritten."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._memory: dict[str, str] = {}

    def get(self, key: str) -> tuple[str, str] | None:
        """``(pseudocode, "memory" | "disk")``, or None when not cached."""
        if key in self._memory:
            return self._memory[key], "memory"
        if self.directory is None:
            return None
        try:
            text = json.loads((self.directory / f"{key}.json").read_text(encoding="utf-8"))["pseudocode"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not isinstance(text, str) or not text.strip():
            return None
        self._memory[key] = text
        return text, "disk"

    def put(self, key: str, pseudocode: str, about: Mapping[str, Any]) -> None:
        """Keep ``pseudocode`` in memory and (atomically) on disk, with ``about`` for a human reader."""
        self._memory[key] = pseudocode
        if self.directory is None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            temporary = self.directory / f".{key}.{os.getpid()}.tmp"
            temporary.write_text(
                json.dumps({**about, "pseudocode": pseudocode}, ensure_ascii=False, indent=1), encoding="utf-8"
            )
            os.replace(temporary, self.directory / f"{key}.json")
        except OSError as exc:
            raise InvalidInputError(f"cannot write the pseudocode cache in {self.directory}: {exc}") from exc


_CACHES: dict[str, PseudocodeCache] = {}  # the process-level caches, one per folder ("off": memory only)


def cache_at(where: str = "") -> PseudocodeCache:
    """The process-level cache for a folder (``""``: the default folder; ``"off"``: memory only)."""
    directory = None if where == "off" else (Path(where).expanduser() if where else default_cache_dir())
    name = "off" if directory is None else str(directory.resolve())
    if name not in _CACHES:
        _CACHES[name] = PseudocodeCache(directory)
    return _CACHES[name]


@dataclass(frozen=True)
class Pseudocode:
    """Task-level pseudocode, its cache key, where it came from (``written``, ``memory``,
    ``disk``, ``file``) and what writing it cost (zero unless ``written``)."""

    text: str
    key: str
    source: str
    usage: Usage = Usage()


def task_key(
    task: str, examples: Sequence[Example], engine: Engine, *, max_tokens: int, temperature: float, seed: int
) -> str:
    """The cache key of a task's pseudocode: a hash of everything that shapes it."""
    identity = {
        "version": PROMPT_VERSION,
        "task": task,
        "examples": [[e.question, e.answer] for e in examples],
        "engine": engine.info.name,
        "model": engine.info.model,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "seed": seed if temperature > 0 else None,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]


def think_messages(task: str, examples: Sequence[Example]) -> tuple[Message, ...]:
    """The Think prompt: the instructions, the task description and the worked examples."""
    parts = [f"Task: {task}"] if task else []
    for number, example in enumerate(examples, start=1):
        answer = f"\nAnswer: {example.answer}" if example.answer else ""
        parts.append(f"Example {number}\nInput: {example.question}{answer}")
    parts.append("Write the pseudocode for this task.")
    return Message("system", THINK_PROMPT), Message("user", "\n\n".join(parts))


def pseudocode_of(reply: str) -> str:
    """The pseudocode in a Think reply: its longest fenced block, else the whole reply."""
    blocks = [b.strip() for b in _FENCE_RE.findall(reply) if b.strip()]
    return max(blocks, key=len) if blocks else reply.strip()


async def awrite_pseudocode(
    engine: Engine,
    *,
    task: str = "",
    examples: str | Sequence[Mapping[str, Any]] | Sequence[Example] = (),
    max_tokens: int = 512,
    temperature: float = 0.0,
    seed: int = 0,
    cache: str | PseudocodeCache = "",
) -> Pseudocode:
    """The task's pseudocode: from ``cache`` (a folder, ``""`` for the default, ``"off"``, or a
    :class:`PseudocodeCache`) when there, else written by ``engine`` and cached. Precomputing it
    with the same arguments a run uses (task, examples, engine, ``max_tokens`` = ``think_tokens``)
    makes that run's Think step free."""
    chosen = load_examples(examples)
    if not task.strip() and not chosen:
        raise InvalidInputError("think-and-execute needs a task description or examples")
    store = cache if isinstance(cache, PseudocodeCache) else cache_at(cache)
    key = task_key(task, chosen, engine, max_tokens=max_tokens, temperature=temperature, seed=seed)
    found = store.get(key)
    if found is not None:
        return Pseudocode(found[0], key, found[1])
    request = GenerationRequest(
        messages=think_messages(task, chosen),
        max_tokens=max_tokens,
        temperature=temperature,
        seed=derive_seed(seed, 1),
        n=1,
    )
    [[completion]] = await engine.generate([request])
    usage = completion.usage + Usage(engine_calls=1)
    if completion.finish_reason == "error":
        raise EngineError(f"the Think step failed: {completion.error or 'the engine returned an error'}")
    text = pseudocode_of(completion.text)
    if text:  # an empty reply is not worth keeping
        store.put(
            key, text, {"task": task, "examples": len(chosen), "engine": engine.info.name, "model": engine.info.model}
        )
    return Pseudocode(text, key, "written", usage)


def write_pseudocode(engine: Engine, **options: Any) -> Pseudocode:
    """Synchronous :func:`awrite_pseudocode` (same arguments); for use outside an event loop."""
    return asyncio.run(awrite_pseudocode(engine, **options))
