"""LINC's 8-shot prompt: the shipped worked problems parse, prove to their labels, ship in the
wheel, and make up a prompt in LINC's format."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import ponder.strategies
from ponder.logic import decide, parse
from ponder.strategies.linc import FEWSHOT_FILE, INSTRUCTIONS, SYSTEM, fewshot_examples, prompt_for

ROOT = Path(__file__).resolve().parents[2]
# LINC's 8 FOLIO-train stories (indices 125, 23, 60, 275, 148, 261, 263, 683) have these labels.
LINC_LABELS = ["Uncertain", "True", "False", "Uncertain", "False", "True", "True", "Uncertain"]


def test_eight_examples_with_lincs_labels_in_lincs_order() -> None:
    examples = fewshot_examples()
    assert [e.label for e in examples] == LINC_LABELS
    for e in examples:
        assert len(e.premises) == len(e.premise_formulas) >= 1
        assert all(p.strip() for p in e.premises) and e.conclusion.strip()


def test_every_formula_parses_and_the_prover_gives_each_example_its_label() -> None:
    for i, e in enumerate(fewshot_examples()):
        for formula in (*e.premise_formulas, e.conclusion_formula):
            parse(formula)  # FOLParseError names the formula if not
        verdict = decide(e.premise_formulas, e.conclusion_formula)
        assert (i, verdict.label) == (i, e.label), verdict.reason
        assert not verdict.inconsistent


def test_the_examples_ship_in_the_wheel() -> None:
    package_dir = Path(ponder.strategies.__file__).parent
    assert (package_dir / FEWSHOT_FILE).is_file()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["ponder"]
    shipped = f"strategies/{FEWSHOT_FILE}"
    assert any(fnmatch.fnmatch(shipped, pattern) for pattern in patterns), patterns


def test_prompt_has_lincs_format() -> None:
    prompt = prompt_for(["Rex is a dog.", "All dogs bark."], "Rex barks.")
    assert prompt.startswith(INSTRUCTIONS + "\n<PREMISES>\n")
    assert prompt.count("<PREMISES>\n") == 9 and prompt.count("<EVALUATE>\n") == 8
    assert prompt.count("</EVALUATE>\n\n<PREMISES>") == 8  # worked problems, then the problem
    assert prompt.endswith(
        "<PREMISES>\nRex is a dog.\nAll dogs bark.\n</PREMISES>\n<CONCLUSION>\nRex barks.\n</CONCLUSION>\n"
    )
    first = fewshot_examples()[0]
    assert f"TEXT:\t{first.premises[0]}\nFOL:\t{first.premise_formulas[0]}\n" in prompt
    assert f"TEXT:\t{first.conclusion}\nFOL:\t{first.conclusion_formula}\n</EVALUATE>\n" in prompt
    assert "continuing from the example format" in SYSTEM
