"""``ponder solve``'s live view and ``--html`` (issue #19 item 4): when it shows, what it draws.

The renderer is tested as a function (events -> state -> rich renderable -> text), the terminal
decision on its own, and the command through click's runner with a scripted engine plugin (its
output is not a terminal, so no live view unless forced). No model, no timing.
"""

from __future__ import annotations

import io
import json
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

import ponder
from ponder.cli import live as live_module
from ponder.cli import main as main_module
from ponder.cli.live import LiveView, render_live, wants_live
from ponder.cli.main import cli
from ponder.context.live import LiveSamples
from ponder.context.watch import SampleEnded, SampleGrew, SampleStarted
from ponder.engines import registry
from ponder.engines.fake import FakeEngine


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def text_of(samples: LiveSamples, **options: Any) -> str:
    console = Console(file=io.StringIO(), width=100, record=True, color_system=None)
    console.print(render_live(samples, **options))
    return console.export_text()


def number(row: str) -> str:
    """The sample number of a row of the view (after the leader's mark, if any)."""
    cells = row.split()
    return cells[1] if cells[0] == ">" else cells[0]


def extract(text: str) -> str | None:
    return text.rsplit("is ", 1)[1].strip(".") if "is " in text else None


# -- when it shows -------------------------------------------------------------------------------


def test_the_live_view_shows_only_on_a_terminal_unless_asked_away(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    assert wants_live(quiet=False, as_json=False, stream=Terminal())
    assert not wants_live(quiet=True, as_json=False, stream=Terminal())
    assert not wants_live(quiet=False, as_json=True, stream=Terminal())
    assert not wants_live(quiet=False, as_json=False, stream=io.StringIO())  # a pipe or a file
    closed = io.StringIO()
    closed.close()
    assert not wants_live(quiet=False, as_json=False, stream=closed)
    monkeypatch.setenv("TERM", "dumb")
    assert not wants_live(quiet=False, as_json=False, stream=Terminal())


# -- what it draws -------------------------------------------------------------------------------


def test_the_view_draws_samples_their_answers_and_the_vote() -> None:
    samples = LiveSamples(extract)
    a, b, c = (0, 0), (0, 1), (0, 2)
    for event in (
        SampleStarted(a),
        SampleGrew(a, "First I add.\nThe answer is 4.", 9),
        SampleEnded(a, "stop", "4"),
        SampleStarted(b),
        SampleGrew(b, "Hmm.\nSo it is 4", 5),
        SampleStarted(c),
        SampleGrew(c, "Long, long, long thinking here", 7),
    ):
        samples.apply(event)
    text = text_of(samples, title="self-consistency, budget 3")
    assert "self-consistency, budget 3" in text
    rows = {number(line): line for line in text.splitlines() if line.strip()[:1] in (">", "1", "2", "3")}
    assert "9" in rows["1"] and "stop" in rows["1"] and "The answer is 4." in rows["1"]
    assert rows["2"].lstrip().startswith(">")  # the live sample agreeing with the vote leads
    assert "live" in rows["2"] and "So it is 4" in rows["2"] and " 4 " in rows["2"]
    assert "Long, long, long thinking here" in rows["3"] and "First I add" not in text  # last lines only
    assert "vote: 4 x1   samples: 3 (2 live)" in text


def test_the_view_keeps_to_its_rows_live_samples_first() -> None:
    samples = LiveSamples()
    for i in range(20):
        samples.apply(SampleGrew((0, i), f"sample {i} text", 3))
        if i < 17:
            samples.apply(SampleEnded((0, i), "stop", str(i % 2)))
    text = text_of(samples, max_rows=5)
    numbers = [number(line) for line in text.splitlines() if "sample " in line]
    assert numbers == ["16", "17", "18", "19", "20"]  # the 2 latest ended, then the 3 live ones
    assert "samples: 20 (3 live, 15 not shown)" in text and "vote: 0 x9, 1 x8" in text


def test_the_view_draws_at_most_every_interval() -> None:
    now = [0.0]
    view = LiveView(Console(file=io.StringIO()), interval=0.1, clock=lambda: now[0])
    drawn: list[int] = []
    view.draw = lambda: drawn.append(len(view.samples.samples))  # type: ignore[method-assign]
    view(SampleGrew((0, 0), "a", 1))
    view(SampleGrew((0, 1), "b", 1))  # too soon: not drawn
    now[0] = 0.25
    view(SampleGrew((0, 2), "c", 1))
    assert drawn == [1, 3] and len(view.samples.samples) == 3


async def test_an_attached_view_sees_the_whole_run() -> None:
    engine = FakeEngine(lambda request, index: f"Sample {request.first_index + index}. The answer is 4.")
    run = ponder.start("What is 2 + 2?", engine, budget=3)
    console = Console(file=Terminal(), force_terminal=True, width=80)
    with LiveView(console, interval=0.0) as view:
        view.attach(run)
        result = await run.run()
    assert view.title == "self-consistency, budget 3"
    assert [s.text for s in view.samples.samples.values()] == [c.text for c in result.candidates]
    assert view.samples.votes() == {"4": 3} and not view.samples.live()
    assert "4 x3" in console.file.getvalue()  # type: ignore[attr-defined]


# -- the command -----------------------------------------------------------------------------------


@pytest.fixture
def echo(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scripted ``echo`` engine plugin (tests/support/echo_engine.py), installed."""
    point = EntryPoint("echo", "tests.support.echo_engine:ECHO", registry.GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda *, group: [point] if group == registry.GROUP else [])


def test_solve_off_a_terminal_prints_just_the_result_and_writes_html(echo: None, tmp_path: Path) -> None:
    page = tmp_path / "run.html"
    result = CliRunner().invoke(cli, ["solve", "What is 2+2?", "-e", "echo", "-n", "3", "--html", str(page)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("answer:  4\n") and "samples" not in result.stderr
    assert page.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
    quiet = CliRunner().invoke(cli, ["solve", "What is 2+2?", "-e", "echo", "-n", "2", "--quiet", "--json"])
    assert json.loads(quiet.stdout)["answer"] == "4"


def test_html_to_a_folder_that_does_not_exist_is_one_error_line(echo: None, tmp_path: Path) -> None:
    page = tmp_path / "missing" / "run.html"
    result = CliRunner().invoke(cli, ["solve", "What is 2+2?", "-e", "echo", "-n", "1", "--html", str(page)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1


def test_solve_on_a_terminal_attaches_the_live_view(echo: None, monkeypatch: pytest.MonkeyPatch) -> None:
    views: list[LiveView] = []

    class Recorded(LiveView):
        def __init__(self, console: Console) -> None:
            super().__init__(console)
            views.append(self)

    monkeypatch.setattr(main_module, "wants_live", lambda **_: True)
    monkeypatch.setattr(main_module, "LiveView", Recorded)
    result = CliRunner().invoke(cli, ["solve", "What is 2+2?", "-e", "echo", "-n", "3"])
    assert result.exit_code == 0, result.output
    [view] = views
    assert len(view.samples.samples) == 3 and view.samples.votes() == {"4": 3}
    assert "answer:  4" in result.stdout
    assert view.max_rows == live_module.MAX_ROWS
