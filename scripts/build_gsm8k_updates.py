"""Build the GSM8K update data set (``gsm8k-updates``): one number of a GSM8K test problem changed.

For "Are Large Reasoning Models Interruptible?"-style update benchmarks (``ponder bench ...
--interrupt update@0.5:update``): each row is a GSM8K test problem with an update that changes one
number of its question, and the gold answer after the update, recomputed from the problem's own
worked solution.

Algorithm, per problem (in file order, deterministic; run once, the output is shipped):

1. read the solution's calculator annotations ``<<expression=result>>`` in order; keep the problem
   only if every expression evaluates (``+ - * / ( )`` and numbers only) to its stated result and
   one of the results is the gold answer (``#### N``);
2. candidates: integers of the question (digits, no thousands separator or decimals) that occur
   exactly once in it, are not also an annotation's result, are an operand of an annotation, and
   are not a value solutions also use as a unit constant (2 for half or twice, 7, 12, 24, 52, 60,
   100, 365, 1000: :data:`CONSTANTS`);
3. for a candidate ``x`` and a new value ``y`` (tried in a seeded order: ``x + d`` for small
   ``d``, ``2x``, ``x // 2``), replace ``x`` by ``y`` in every annotation, re-evaluate them in
   order and carry each changed result into the later annotations (value by value); accept when
   every changed result that was an integer stays a non-negative integer, no two old values map
   to different new ones, no carried value is also a number of the question, a unit constant or
   an operand of an earlier annotation (each would make "which number is this" ambiguous), and the new gold
   answer (the new value of the annotation that gave the gold) is a positive integer other than
   the old one;
4. the row: ``question`` and ``answer`` (unchanged), ``update`` ("Correction: "OLD SENTENCE"
   should read "NEW SENTENCE"."), ``update_answer``, ``updated_question`` (the question with the
   new number), ``changed`` (old and new value) and ``source_index`` (the row of the GSM8K test
   file).

Problems where no candidate works are left out (the count is printed). The output is gzipped
deterministically (``gzip -9 -n`` equivalent), so rebuilding gives the same bytes:

    python scripts/build_gsm8k_updates.py [--source gsm8k_test.jsonl[.gz]]
        [--out src/ponder/bench/data/gsm8k_updates.jsonl.gz] [--seed 0]
"""

from __future__ import annotations

import argparse
import ast
import gzip
import io
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src" / "ponder" / "bench" / "data" / "gsm8k_test.jsonl.gz"  # ponder's copy of the test split
OUT = ROOT / "src" / "ponder" / "bench" / "data" / "gsm8k_updates.jsonl.gz"

ANNOTATION = re.compile(r"<<([^<>=]+)=([^<>]+)>>")
QUESTION_NUMBER = re.compile(r"(?<![\d.,])\d+(?![\d]|[.,]\d)")
EXPRESSION_NUMBER = re.compile(r"\d+(?:\.\d+)?|\.\d+")
SENTENCE = re.compile(r"[^.!?]*(?:[.!?](?!\d)|$)")
DELTAS = (1, 2, 3, 4, 5, 6, -1, -2, -3)
CONSTANTS = {2.0, 7.0, 12.0, 24.0, 52.0, 60.0, 100.0, 365.0, 1000.0}  # half, week, dozen, day, hour, percent, ...
TOLERANCE = 1e-6


def evaluate(expression: str) -> float | None:
    """The value of an arithmetic expression (numbers, + - * / and parentheses), else None."""
    try:
        tree = ast.parse(expression.replace(",", "").strip(), mode="eval")
    except SyntaxError:
        return None

    def value(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return value(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = value(node.operand)
            return -inner if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
            left, right = value(node.left), value(node.right)
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            return left / right
        raise ValueError(type(node).__name__)

    try:
        return value(tree)
    except (ValueError, ZeroDivisionError):
        return None


def same(a: float, b: float) -> bool:
    return abs(a - b) <= TOLERANCE * max(1.0, abs(a), abs(b))


def is_integer(x: float) -> bool:
    return same(x, round(x))


def number_text(x: float) -> str:
    return str(round(x)) if is_integer(x) else f"{x:.6g}"


def annotations(solution: str) -> list[tuple[str, float]] | None:
    """(expression, result) of each annotation, or None when one does not check out."""
    found = []
    for expression, stated in ANNOTATION.findall(solution):
        result = evaluate(stated)
        computed = evaluate(expression)
        if result is None or computed is None or not same(result, computed):
            return None
        found.append((expression, result))
    return found or None


def substitute(expression: str, values: dict[float, float]) -> str:
    """``expression`` with each number whose value is in ``values`` replaced by its new value."""

    def swap(match: re.Match[str]) -> str:
        number = float(match.group(0))
        for old, new in values.items():
            if same(number, old):
                return number_text(new)
        return match.group(0)

    return EXPRESSION_NUMBER.sub(swap, expression.replace(",", ""))


def recompute(
    chain: list[tuple[str, float]], old: float, new: float, question_numbers: set[float], gold_at: int
) -> float | None:
    """The new gold answer when ``old`` becomes ``new`` in the chain (see the module docstring), else None."""
    values = {old: new}
    gold: float | None = None
    for position, (expression, result) in enumerate(chain):
        changed = evaluate(substitute(expression, values))
        if changed is None:
            return None
        if not same(changed, result):
            if is_integer(result) and (not is_integer(changed) or changed < 0):
                return None
            known = next((v for k, v in values.items() if same(k, result)), None)
            if known is not None and not same(known, changed):
                return None  # one old value would become two new ones
            if any(same(result, q) for q in question_numbers | CONSTANTS | _operands(chain[: position + 1])):
                return None  # a carried value that is also another number: ambiguous
            values[result] = changed
        if position == gold_at:
            gold = changed
    return gold


def _operands(chain: list[tuple[str, float]]) -> set[float]:
    return {float(n) for expression, _ in chain for n in EXPRESSION_NUMBER.findall(expression.replace(",", ""))}


def candidates(question: str, chain: list[tuple[str, float]]) -> Iterator[re.Match[str]]:
    """The question's numbers that may change (see the module docstring), in order."""
    matches = list(QUESTION_NUMBER.finditer(question))
    counts: dict[str, int] = {}
    for match in matches:
        counts[match.group(0)] = counts.get(match.group(0), 0) + 1
    operands = _operands(chain)
    results = [result for _, result in chain]
    for match in matches:
        value = float(match.group(0))
        if counts[match.group(0)] != 1 or not 2 <= value <= 100_000 or value in CONSTANTS or match.group(0)[0] == "0":
            continue
        if any(same(value, r) for r in results) or not any(same(value, o) for o in operands):
            continue
        yield match


def sentence_at(text: str, at: int) -> tuple[int, int]:
    """The span of the sentence of ``text`` holding position ``at``."""
    for match in SENTENCE.finditer(text):
        if match.start() <= at < match.end() and match.group(0).strip():
            start = match.start() + len(match.group(0)) - len(match.group(0).lstrip())
            return start, match.end()
    return 0, len(text)


def update_row(index: int, row: dict[str, Any], seed: int) -> dict[str, Any] | None:
    """The update row of GSM8K test row ``index`` (see the module docstring), else None."""
    question, solution = str(row["question"]), str(row["answer"])
    gold_text = solution.rsplit("####", 1)[-1].strip().replace(",", "")
    gold = evaluate(gold_text)
    chain = annotations(solution)
    if gold is None or chain is None:
        return None
    gold_at = max((i for i, (_, result) in enumerate(chain) if same(result, gold)), default=None)
    if gold_at is None:
        return None
    question_numbers = {float(m.group(0)) for m in QUESTION_NUMBER.finditer(question)}
    rng = random.Random(f"gsm8k-updates:{seed}:{index}")
    for match in candidates(question, chain):
        old = int(match.group(0))
        tries = [old + d for d in rng.sample(DELTAS, len(DELTAS))] + [2 * old, old // 2]
        for new in tries:
            if new < 1 or new == old or any(same(new, q) for q in question_numbers):
                continue
            new_gold = recompute(chain, float(old), float(new), question_numbers - {float(old)}, gold_at)
            if new_gold is None or not is_integer(new_gold) or new_gold <= 0 or same(new_gold, gold):
                continue
            updated = question[: match.start()] + str(new) + question[match.end() :]
            start, end = sentence_at(question, match.start())
            before = question[start:end].strip()
            after = updated[start : end + len(str(new)) - len(match.group(0))].strip()
            return {
                "id": f"gsm8k-test-{index:04d}",
                "question": question,
                "answer": number_text(gold),
                "update": f'Correction: "{before}" should read "{after}".',
                "update_answer": number_text(new_gold),
                "updated_question": updated,
                "changed": {"from": old, "to": new},
                "source_index": index,
            }
    return None


def build(source: Path, seed: int) -> tuple[list[dict[str, Any]], int]:
    """The update rows of every problem that has one, and how many problems were read."""
    rows, total = [], 0
    data = source.read_bytes()
    text = (gzip.decompress(data) if source.suffix == ".gz" else data).decode("utf-8")
    for index, line in enumerate(text.split("\n")):  # JSON lines: split at newlines only
        if not line.strip():
            continue
        total += 1
        made = update_row(index, json.loads(line), seed)
        if made is not None:
            rows.append(made)
    return rows, total


def write_gzip(rows: list[dict[str, Any]], out: Path) -> None:
    """JSON lines, gzipped like ``gzip -9 -n`` (no name, no time: the same rows give the same bytes)."""
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as handle:
        handle.write(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buffer.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=SOURCE, help="the GSM8K test split (JSONL, or gzipped)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows, total = build(args.source, args.seed)
    write_gzip(rows, args.out)
    print(f"{len(rows)} of {total} GSM8K test problems have an update; wrote {args.out}")


if __name__ == "__main__":
    main()
