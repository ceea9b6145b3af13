"""The outcome and the samples of a run: the answer, the votes per answer, and every candidate
with its answer, the votes its answer got, its score, tokens and text."""

from __future__ import annotations

from ponder.view.html import Html, anchor, h, join, num
from ponder.view.model import CandidateView, RunView

PREVIEW = 160  # characters of a candidate's text shown before it is opened


def mark(correct: bool | None) -> Html:
    """✓, ✗ or nothing."""
    if correct is None:
        return Html("")
    return h("span", "✓", class_="ok", title="correct") if correct else h("span", "✗", class_="bad", title="wrong")


def outcome(run: RunView) -> Html:
    """The question, the answer (and gold, when graded), why the run stopped, its settings."""
    rows: list[Html] = [
        h("dt", "question"),
        h("dd", h("pre", run.question)),
        h("dt", "answer"),
        h("dd", h("strong", "none" if run.answer is None else run.answer), " ", mark(run.correct)),
    ]
    if run.gold is not None:
        rows += [h("dt", "gold"), h("dd", run.gold or "—")]
    rows += [h("dt", "strategy"), h("dd", run.strategy), h("dt", "stopped"), h("dd", run.stop_reason)]
    if run.seconds is not None:
        rows += [h("dt", "seconds"), h("dd", num(run.seconds))]
    if run.engine:
        rows += [h("dt", "engine"), h("dd", ", ".join(f"{k}={v}" for k, v in run.engine.items()))]
    if run.params:
        rows += [h("dt", "parameters"), h("dd", h("code", ", ".join(f"{k}={v!r}" for k, v in run.params.items())))]
    return h("dl", rows, class_="kv")


def votes(run: RunView) -> Html:
    """The support of each answer as bars, the winner's highlighted."""
    if not run.votes:
        return Html("")
    ranked = sorted(run.votes.items(), key=lambda kv: -kv[1])
    top = max(abs(v) for _, v in ranked) or 1.0
    total = sum(v for _, v in ranked if v > 0) or 1.0
    cells = []
    for answer, support in ranked:
        width = f"width: {max(0.0, support) / top * 100:.1f}%"
        win = "bar win" if answer == run.answer else "bar"
        cells += [
            h("span", answer, class_="chosen" if answer == run.answer else None),
            h("div", h("div", class_=win, style=width), title=f"{support:g}"),
            h("span", f"{num(support)} ({max(0.0, support) / total:.0%})"),
        ]
    return join([h("h3", "Votes"), h("div", cells, class_="bars")])


def _candidate_id(run: RunView, position: int, candidate: CandidateView) -> str:
    return anchor(run.key, "cand", position if candidate.index is None else candidate.index)


def candidate_link(run: RunView, index: int) -> Html:
    """``#index`` linking to that candidate's row, when the run has a candidate with that identity."""
    for position, candidate in enumerate(run.candidates):
        if candidate.index == index:
            return h("a", f"#{index}", href="#" + _candidate_id(run, position, candidate))
    return h("span", f"#{index}")


def candidates(run: RunView) -> Html:
    """Every candidate: identity, answer (and grade), the votes its answer got, score, finish,
    tokens, evidence and text (first characters, the whole on opening)."""
    if not run.candidates:
        return h("p", "No candidates.", class_="note")
    graded = any(c.correct is not None for c in run.candidates)
    header = ["#", "answer", *(["correct"] if graded else []), "votes", "score", "finish", "tokens", "text"]
    rows = []
    for position, c in enumerate(run.candidates):
        text = c.text if len(c.text) <= PREVIEW else c.text[:PREVIEW] + "…"
        body = h("details", h("summary", text), h("pre", c.text)) if len(c.text) > PREVIEW else h("pre", c.text)
        evidence = h("details", h("summary", "evidence"), h("pre", c.evidence)) if c.evidence else None
        cells = [
            h("td", "—" if c.index is None else c.index, class_="num"),
            h("td", "none" if c.answer is None else c.answer),
            *([h("td", mark(c.correct))] if graded else []),
            h("td", num(run.votes.get(c.answer)) if c.answer is not None else "—", class_="num"),
            h("td", num(c.score), class_="num"),
            h("td", c.finish_reason or "—"),
            h("td", c.completion_tokens, class_="num"),
            h("td", body, evidence, class_="text"),
        ]
        chosen = "chosen" if c.answer is not None and c.answer == run.answer else None
        rows.append(h("tr", cells, id=_candidate_id(run, position, c), class_=chosen))
    table = h("table", h("thead", h("tr", [h("th", name) for name in header])), h("tbody", rows), class_="candidates")
    return join([h("h3", f"Candidates ({len(run.candidates)})"), table])
