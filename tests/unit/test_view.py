"""The trace viewer (issue #19 item 3): one self-contained HTML page per run, checked as a DOM
(Python's HTML parser, no browser): samples with answers, votes and scores; the particle
filter's tree (weights, resampling ancestry, pruned and finished particles); beam search and
A* trees; pipeline layers; usage per step; escaping of model text; the bench database's index.
Scripted engine and PRM, no model."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.support.view_dom import Element, parse
from tests.support.view_runs import HOSTILE, QUESTION, bench_db, solve, solve_pipeline

import ponder
from ponder.cli.main import cli
from ponder.core.errors import InvalidInputError
from ponder.core.result import Candidate, SolveResult
from ponder.core.usage import Usage
from ponder.view import write_bench_page, write_result_page
from ponder.view.html import SCRIPT
from ponder.view.page import render_result_page


def page_of(result: SolveResult, tmp_path: Path) -> tuple[str, Element]:
    path = tmp_path / "run.html"
    write_result_page(result, path)
    text = path.read_text(encoding="utf-8")
    return text, parse(text)


def rows_of(table: Element) -> list[list[Element]]:
    return [row.find_all("td") for row in table.find("tbody").find_all("tr")]


def softmax(values: list[float]) -> list[float]:
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    return [e / sum(exps) for e in exps]


# -- self-contained and safe ---------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["self-consistency", "particle-filtering", "beam-search"])
def test_the_page_needs_no_server_or_cdn(strategy: str, tmp_path: Path) -> None:
    """Nothing is fetched: no external src/href, no stylesheet link, the only script inline; a
    Content-Security-Policy forbids network access and any other script."""
    text, dom = page_of(solve(strategy), tmp_path)
    for element in dom.iter():
        for name in ("src", "href", "action", "data"):
            value = element.attrs.get(name)
            assert value is None or value.startswith("#"), f"<{element.tag} {name}={value!r}>"
    assert not dom.find_all("link") and not dom.find_all("img") and not dom.find_all("iframe")
    [script] = dom.find_all("script")
    assert script.text == SCRIPT and "src" not in script.attrs
    policy = dom.find("meta", http_equiv="Content-Security-Policy").attrs["content"]
    assert "default-src 'none'" in policy and "script-src 'sha256-" in policy and "unsafe-inline'; img" in policy
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")  # the SVG namespace is a name, not a fetch
    assert "https://" not in text


def test_model_text_with_a_script_is_shown_as_text(tmp_path: Path) -> None:
    """A sample containing ``<script>`` (and a question with markup) is escaped: the page's one
    script element is its own, and the hostile text appears verbatim as text."""
    result = solve("self-consistency")
    assert any(HOSTILE in c.text for c in result.candidates)
    text, dom = page_of(result, tmp_path)
    assert HOSTILE not in text  # never raw
    assert len(dom.find_all("script")) == 1 and not dom.find_all("i") and not dom.find_all("b")
    shown = [row[-1].text for row in rows_of(dom.find("table", cls="candidates"))]
    assert all(HOSTILE in t for t in shown)
    assert QUESTION in dom.find("dl", cls="kv").text


def test_hostile_text_in_every_place_stays_text(tmp_path: Path) -> None:
    """Answers, votes, evidence, parameters, the engine and a trace value all escaped, including
    attribute-breaking quotes."""
    nasty = '"><img src=x onerror=alert(1)>' + HOSTILE
    result = SolveResult(
        question=nasty,
        answer=nasty,
        strategy="best-of-n",
        candidates=[Candidate(nasty, nasty, "stop", 3, index=0, score=0.5, evidence=nasty)],
        votes={nasty: 1.0},
        usage=Usage(completion_tokens=3),
        trace=[{"step": 1, "action": nasty, "note": nasty * 10, "usage": {"completion_tokens": 3}}],
        params={"k": nasty},
        engine={"name": nasty},
    )
    text, dom = page_of(result, tmp_path)
    assert "<img" not in text and HOSTILE not in text
    assert not dom.find_all("img") and len(dom.find_all("script")) == 1
    assert all("onerror" not in key for e in dom.iter() for key in e.attrs)
    assert nasty in dom.find("table", cls="candidates").text


def test_text_that_is_not_unicode_is_refused(tmp_path: Path) -> None:
    """A lone surrogate (as JSON may carry) cannot be written as UTF-8: InvalidInputError, no file."""
    result = SolveResult("q", "a", "greedy", [Candidate("bad \ud800", "a", "stop", 1)], {"a": 1.0}, Usage())
    with pytest.raises(InvalidInputError, match="not valid UTF-8"):
        write_result_page(result, tmp_path / "x.html")
    assert not (tmp_path / "x.html").exists()


def test_an_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"cannot write the page .*missing"):
        write_result_page(solve("greedy", budget=1), tmp_path / "missing" / "x.html")


# -- sampling strategies ---------------------------------------------------------------------------


def test_samples_with_answers_votes_and_scores(tmp_path: Path) -> None:
    result = solve("best-of-n", scorer="p")
    _, dom = page_of(result, tmp_path)
    rows = rows_of(dom.find("table", cls="candidates"))
    assert len(rows) == len(result.candidates)
    for row, candidate in zip(rows, result.candidates, strict=True):
        index, answer, votes, score = (cell.text for cell in row[:4])
        assert (int(index), answer) == (candidate.index, candidate.answer) and candidate.answer is not None
        assert float(votes) == pytest.approx(result.votes[candidate.answer], rel=1e-3)
        assert float(score) == pytest.approx(candidate.score, rel=1e-3)
        chosen = "chosen" in row[0].parent.classes  # type: ignore[union-attr]
        assert chosen == (candidate.answer == result.answer)
    bars = dom.find("div", cls="bars")
    assert [s.text for s in bars.find_all("span")][0::2] == sorted(result.votes, key=lambda a: -result.votes[a])


def test_usage_per_step_and_total(tmp_path: Path) -> None:
    result = solve("adaptive-self-consistency", budget=8)
    _, dom = page_of(result, tmp_path)
    rows = rows_of(dom.find("table", cls="usage"))
    assert len(rows) == len(result.trace) + 1
    for row, entry in zip(rows[:-1], result.trace, strict=True):
        assert (int(row[0].text), row[1].text) == (entry["step"], entry["action"])
        assert int(row[4].text) == entry["usage"]["completion_tokens"]
    total = rows[-1]
    assert int(total[3].text) == result.usage.completion_tokens  # the total row's label spans 2 columns
    assert int(total[1].text) == result.usage.prompt_tokens


# -- particle filtering: the tree ------------------------------------------------------------------


def test_particle_filtering_trace_records_the_tree() -> None:
    """Each step records the particle in every slot, its finish, and what grew (parent, score,
    text): a child in slot j grew from the particle the resampling before put in slot j."""
    result = solve("particle-filtering")
    steps = result.trace
    assert all({"ids", "finishes", "grown"} <= set(e) for e in steps)
    for before, entry in itertools.pairwise(steps):
        grown = {g["id"]: g for g in entry["grown"]}
        for slot, identity in enumerate(entry["ids"]):
            source = before["ids"][before["ancestors"][slot]]
            if identity in grown:
                assert grown[identity]["parent"] == source
                assert grown[identity]["text"].startswith("Step")
            else:  # a finished particle is frozen: carried as it is
                assert identity == source and entry["finishes"][slot] is not None


def test_particle_filtering_tree_in_the_dom(tmp_path: Path) -> None:
    """The picture has a node per slot per step and an edge from each to the slot it was
    resampled from; the table gives each particle its normalised weight and copies drawn; a
    particle drawn by no slot is pruned; a finished one is marked; the answer's is ringed."""
    result = solve("particle-filtering")
    _, dom = page_of(result, tmp_path)
    svg = dom.find("svg", cls="tree-svg")
    steps = result.trace
    n = len(steps[0]["ids"])
    pruned = finished = 0
    for t, entry in enumerate(steps, start=1):
        weights = softmax(entry["log_weights"])
        for slot in range(n):
            key = f"run-s-0-t-{t}-i-{slot}"
            node = svg.find("g", data_key=key)
            edge = svg.find("path", data_key=key + "-e")
            expected = "root" if t == 1 else f"run-s-0-t-{t - 1}-i-{steps[t - 2]['ancestors'][slot]}"
            assert edge.attrs["data-from"] == expected
            cells = {
                h.text: c.text
                for h, c in zip(
                    dom.find("table", cls="nodes").find_all("th"), dom.by_id(key + "-row").find_all("td"), strict=False
                )
            }
            assert float(cells["weight"]) == pytest.approx(weights[slot], rel=1e-2)
            assert cells["particle"] == f"#{entry['ids'][slot]}"
            copies = entry["ancestors"].count(slot) if "ancestors" in entry else None
            assert cells["copies"] == ("—" if copies is None else str(copies))
            if copies == 0:
                assert "pruned" in node.classes
                pruned += 1
            elif entry["finishes"][slot] is not None:
                assert node.classes & {"finished", "frozen"}
                finished += 1
            assert key in node.attrs["data-lineage"].split()
    assert pruned > 0 and finished > 0  # the script makes both happen
    winners = {c.text for c in result.candidates if c.answer == result.answer}
    assert winners and svg.find_all("g", cls="answer")


def test_particle_gibbs_draws_one_picture_per_sweep_with_the_reference(tmp_path: Path) -> None:
    result = solve("particle-gibbs", sweeps=2)
    _, dom = page_of(result, tmp_path)
    assert len(dom.find_all("svg", cls="tree-svg")) == 2
    assert "reference" in dom.find("g", data_key="run-s-1-t-1-i-0").classes


def test_older_particle_traces_still_draw(tmp_path: Path) -> None:
    """A trace stored before the tree keys existed (scores, weights, ancestors only) is drawn
    by slot, without identities."""
    result = solve("particle-filtering")
    for entry in result.trace:
        for key in ("ids", "finishes", "grown", "reference"):
            entry.pop(key)
    _, dom = page_of(result, tmp_path)
    assert dom.find_all("g", data_key="run-s-0-t-2-i-0")
    assert dom.find_all("g", cls="pruned")


# -- beam search, A* -------------------------------------------------------------------------------


def test_beam_search_tree_marks_kept_pruned_and_finished(tmp_path: Path) -> None:
    result = solve("beam-search", width=4)
    _, dom = page_of(result, tmp_path)
    svg = dom.find("svg", cls="tree-svg")
    parents = {g["parent"] for e in result.trace for g in e["grown"]}
    for entry in result.trace:
        kept = {k[0] for k in entry["kept"]}
        for record in entry["grown"]:
            node = svg.find("g", data_key=f"run-tree-n-{record['id']}")
            edge = svg.find("path", data_key=f"run-tree-n-{record['id']}-e")
            assert edge.attrs["data-from"] == ("root" if record["parent"] is None else f"run-tree-n-{record['parent']}")
            if record["finish"] is not None:
                assert "finished" in node.classes
            elif record["id"] in parents:
                assert "extended" in node.classes and record["id"] in kept
            else:
                assert node.classes & {"pruned", "kept"}
                assert ("kept" in node.classes) == (record["id"] in kept)
    assert svg.find_all("g", cls="pruned") and svg.find_all("g", cls="finished")


def test_a_star_tree_marks_the_solution_found(tmp_path: Path) -> None:
    result = solve("a-star", budget=4)
    found = [e["index"] for e in result.trace if e["action"] == "found"]
    _, dom = page_of(result, tmp_path)
    if found:
        assert "answer" in dom.find("g", data_key=f"run-tree-n-{found[0]}").classes
    assert dom.find_all("g", cls="open")  # nodes left on the frontier


# -- pipelines -------------------------------------------------------------------------------------


def test_pipeline_layers_show_what_each_component_passed_on(tmp_path: Path) -> None:
    pipeline = {
        "name": "t",
        "layers": [
            [
                {"type": "strategy", "name": "particle-filtering", "budget": 4, "keep": "all", "options": {"prm": "p"}},
                {"type": "generator", "samples": 2},
            ],
            {"type": "critic"},
            {"type": "fuser"},
        ],
    }
    result = solve_pipeline(pipeline)
    _, dom = page_of(result, tmp_path)
    layers = dom.find_all("div", cls="layer")
    assert [layer.find("h4").text for layer in layers] == [
        f"Layer {e['layer']}: {e['name']}" for e in result.trace if e["action"] == "layer"
    ]
    ids = {c.index for c in result.candidates}
    for layer, entry in zip(layers, result.trace, strict=True):
        passed = [a for a in layer.find_all("a") if a.parent.tag == "p"]  # type: ignore[union-attr]
        assert [a.text for a in passed] == [f"#{i}" for i in entry["candidates"]]
        for a in passed:
            assert int(a.text[1:]) in ids and dom.by_id(a.attrs["href"][1:])
    assert layers[0].find_all("svg", cls="tree-svg")  # the nested particle filter's tree
    assert HOSTILE in layers[1].text  # the critic's input text, as text


# -- the bench database ----------------------------------------------------------------------------


def test_bench_index_links_to_every_problem(tmp_path: Path) -> None:
    db = bench_db(tmp_path / "b.db")
    write_bench_page(db, tmp_path / "all.html")
    text = (tmp_path / "all.html").read_text(encoding="utf-8")
    dom = parse(text)
    assert HOSTILE not in text and len(dom.find_all("script")) == 1
    links = [a for ul in dom.find_all("ul", cls="problems") for a in ul.find_all("a")]
    assert len(links) == 4 and {a.text for a in links} == {"p1", "p<2>"}
    for link in links:
        target = dom.by_id(link.attrs["href"][1:])
        assert target.tag == "section" and link.text in target.find("h2").text
    labels = [a.text for a in dom.find("table").find_all("a")]
    assert any("note=<b>" in label for label in labels)
    assert dom.find_all("svg", cls="tree-svg")  # the particle filter's problems


def test_bench_page_of_one_configuration_and_problem(tmp_path: Path) -> None:
    db = bench_db(tmp_path / "b.db")
    write_bench_page(db, tmp_path / "one.html", config="2", problem="p<2>")
    dom = parse((tmp_path / "one.html").read_text(encoding="utf-8"))
    [section] = dom.find_all("section")
    assert "particle-filtering" in section.find("h2").text and "p<2>" in section.find("h2").text
    assert not dom.find_all("ul", cls="problems")  # one run: no index
    label = "self-consistency@8 seed=3"
    write_bench_page(db, tmp_path / "c.html", config=label)
    assert len(parse((tmp_path / "c.html").read_text(encoding="utf-8")).find_all("section")) == 2
    write_bench_page(db, tmp_path / "p.html", problem="p1")
    assert len(parse((tmp_path / "p.html").read_text(encoding="utf-8")).find_all("section")) == 2


def test_bench_page_refuses_what_is_not_there(tmp_path: Path) -> None:
    db = bench_db(tmp_path / "b.db")
    with pytest.raises(InvalidInputError, match=r"no configuration '9'.*1: self-consistency@8 seed=3"):
        write_bench_page(db, tmp_path / "x.html", config=9)
    with pytest.raises(InvalidInputError, match=r"no problem 'nope'.*p1, p<2>"):
        write_bench_page(db, tmp_path / "x.html", problem="nope")
    with pytest.raises(InvalidInputError, match="no benchmark database"):
        write_bench_page(tmp_path / "none.db", tmp_path / "x.html")
    assert not (tmp_path / "x.html").exists()


def test_ponder_view_command(tmp_path: Path) -> None:
    db = bench_db(tmp_path / "b.db")
    out = tmp_path / "v.html"
    done = CliRunner().invoke(cli, ["view", str(db), "--config", "1", "--problem", "p1", "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert f"wrote {out}" in done.output and parse(out.read_text(encoding="utf-8")).find_all("section")
    bad = CliRunner().invoke(cli, ["view", str(db), "--problem", "nope", "--out", str(out)])
    assert bad.exit_code == 1 and bad.output.startswith("error: no problem 'nope'") and "Traceback" not in bad.output


def test_result_page_round_trips_through_json(tmp_path: Path) -> None:
    """A result read back from ``--json`` output renders the same as the live one."""
    result = solve("dvts")
    data = json.loads(json.dumps(result.to_dict()))
    again = SolveResult(
        question=data["question"],
        answer=data["answer"],
        strategy=data["strategy"],
        candidates=[Candidate(**c) for c in data["candidates"]],
        votes=data["votes"],
        usage=result.usage,
        trace=data["trace"],
        params=data["params"],
        engine=data["engine"],
        stop_reason=data["stop_reason"],
    )
    assert render_result_page(again) == render_result_page(result)
    assert ponder.SolveResult is SolveResult


def test_a_run_with_no_candidates_or_trace_renders(tmp_path: Path) -> None:
    """A failed run (as the bench stores one: no answer, no candidates, no trace) still gets a page."""
    result = SolveResult("q", None, "greedy", [], {}, Usage(), stop_reason="error: the engine failed")
    _, dom = page_of(result, tmp_path)
    assert "error: the engine failed" in dom.find("dl", cls="kv").text
    assert "No candidates." in dom.text and not dom.find_all("svg")
