"""Strategy parameters: conversion from strings, validation, descriptions, lookup by name."""

from __future__ import annotations

import dataclasses
from typing import Literal

import pytest

import ponder
from ponder.core.errors import InvalidInputError, UnknownNameError
from ponder.core.params import NoParams, build_params, describe, param
from ponder.registry import get_strategy
from ponder.scorers import ExactChecker
from ponder.strategies.adaptive import AdaptiveParams, AdaptiveSelfConsistency
from ponder.strategies.scored import BestOfN, ScorerParams, WeightedMajority, WeightParams
from ponder.strategies.self_consistency import SelfConsistency, SelfConsistencyParams


@dataclasses.dataclass(frozen=True)
class Sample:
    count: int = param(1, "a count")
    ratio: float = param(0.5, "a ratio")
    flag: bool = param(False, "a flag")
    mode: Literal["fast", "slow"] = param("fast", "a mode")
    name: str = param("x", "free text")


# -- build_params: conversion ----------------------------------------------------------------


def test_strings_are_converted_to_the_field_types() -> None:
    built = build_params(Sample, {"count": "7", "ratio": "0.25", "flag": "true", "mode": "slow", "name": "abc"})
    assert built == Sample(count=7, ratio=0.25, flag=True, mode="slow", name="abc")
    assert isinstance(built.count, int) and isinstance(built.ratio, float) and built.flag is True


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("true", True),
        ("True", True),
        ("1", True),
        ("yes", True),
        ("false", False),
        ("FALSE", False),
        ("0", False),
        ("no", False),
    ],
)
def test_bool_strings(raw: str, value: bool) -> None:
    assert build_params(Sample, {"flag": raw}).flag is value


def test_int_string_converts_to_float() -> None:
    assert build_params(Sample, {"ratio": "2"}).ratio == 2.0


def test_non_strings_pass_through() -> None:
    assert build_params(Sample, {"count": 3, "flag": True, "ratio": 0.75}) == Sample(count=3, ratio=0.75, flag=True)


def test_no_options_gives_the_defaults() -> None:
    assert build_params(Sample, None) == Sample()
    assert build_params(Sample, {}) == Sample()
    assert build_params(AdaptiveParams, None) == AdaptiveParams()


# -- build_params: rejection -----------------------------------------------------------------


def test_unknown_key_names_the_valid_options() -> None:
    with pytest.raises(InvalidInputError) as caught:
        build_params(AdaptiveParams, {"batch": "2", "bogus": "1"})
    message = str(caught.value)
    assert "'bogus'" in message
    for name in ("batch", "threshold", "stop_rule", "min_samples", "prune_tokens", "prune_keep"):
        assert name in message


def test_unknown_key_for_a_strategy_without_params() -> None:
    with pytest.raises(InvalidInputError, match="valid options: none"):
        build_params(NoParams, {"batch": "2"})


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"count": "seven"}, "expected int"),
        ({"count": "1.5"}, "expected int"),
        ({"ratio": "half"}, "expected float"),
        ({"flag": "maybe"}, "expected bool"),
    ],
)
def test_bad_types_are_rejected(options: dict[str, str], expected: str) -> None:
    with pytest.raises(InvalidInputError, match=expected):
        build_params(Sample, options)


def test_bad_literal_is_rejected_with_the_choices() -> None:
    with pytest.raises(InvalidInputError, match="choose one of fast, slow"):
        build_params(Sample, {"mode": "medium"})
    with pytest.raises(InvalidInputError, match="beta, dirichlet, self-eval"):
        build_params(AdaptiveParams, {"stop_rule": "coin"})


def test_adaptive_params_from_strings() -> None:
    built = build_params(
        AdaptiveParams,
        {
            "batch": "3",
            "threshold": "0.9",
            "stop_rule": "dirichlet",
            "min_samples": "5",
            "prune_tokens": "16",
            "prune_keep": "0.25",
        },
    )
    assert built == AdaptiveParams(
        batch=3, threshold=0.9, stop_rule="dirichlet", min_samples=5, prune_tokens=16, prune_keep=0.25
    )


# -- range checks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"threshold": 1.5},
        {"threshold": 1.0},
        {"threshold": 0.0},
        {"threshold": -0.1},
        {"batch": 0},
        {"batch": -2},
        {"min_samples": 0},
        {"prune_tokens": -1},
        {"prune_keep": 0.0},
        {"prune_keep": 1.5},
    ],
)
def test_adaptive_params_range_checks(options: dict[str, float]) -> None:
    with pytest.raises(InvalidInputError, match=next(iter(options))):
        AdaptiveParams(**options)  # type: ignore[arg-type]


def test_adaptive_params_range_checks_apply_to_strings_too() -> None:
    with pytest.raises(InvalidInputError, match="threshold"):
        build_params(AdaptiveParams, {"threshold": "1.5"})
    with pytest.raises(InvalidInputError, match="batch"):
        build_params(AdaptiveParams, {"batch": "0"})


def test_adaptive_params_edges_are_accepted() -> None:
    assert AdaptiveParams(prune_keep=1.0, prune_tokens=0, batch=1, min_samples=1, threshold=0.999).prune_keep == 1.0


def test_self_consistency_params_range_check() -> None:
    with pytest.raises(InvalidInputError, match="batch"):
        SelfConsistencyParams(batch=-1)
    with pytest.raises(InvalidInputError, match="batch"):
        build_params(SelfConsistencyParams, {"batch": "-1"})
    assert SelfConsistencyParams(batch=0).batch == 0


def test_plans_reject_unknown_scorers_and_accept_given_ones() -> None:
    with pytest.raises(InvalidInputError, match=r"unknown scorer 'nope'.*probability.*restart.*self-eval"):
        ponder.plan("q", strategy="best-of-n", options={"scorer": "nope"})
    with pytest.raises(InvalidInputError, match="nope"):
        ponder.plan("q", strategy="weighted-majority", options={"scorer": "nope"})
    given = ponder.plan("q", strategy="best-of-n", options={"scorer": "gold"}, scorers={"gold": ExactChecker("4")})
    assert given.algorithm.params.scorer == "gold"
    assert ScorerParams().scorer == "self-eval"
    assert WeightParams().scorer == "probability"
    assert ScorerParams(scorer="restart").scorer == "restart"


# -- describe --------------------------------------------------------------------------------


def test_describe_adaptive_params() -> None:
    rows = describe(AdaptiveParams)
    assert [row[0] for row in rows] == [
        "batch",
        "threshold",
        "stop_rule",
        "min_samples",
        "prune_tokens",
        "prune_keep",
        "prune_by",
        "weight_by",
        "self_eval_select",
    ]
    by_name = {name: (kind, default, text) for name, kind, default, text in rows}
    assert by_name["batch"][:2] == ("int", 4)
    assert by_name["threshold"][:2] == ("float", 0.95)
    assert by_name["stop_rule"][:2] == ("beta|dirichlet|self-eval", "beta")
    assert by_name["prune_keep"][:2] == ("float", 0.5)
    assert all(isinstance(text, str) and text for _, _, _, text in rows)


def test_describe_other_params() -> None:
    assert describe(NoParams) == []
    assert describe(SelfConsistencyParams) == [
        ("batch", "int", 0, "samples per step; 0 draws the whole budget in one step"),
        ("program", "bool", False, "program of thought: samples are Python programs; their printout is the answer"),
    ]
    [(name, kind, default, text), program] = describe(ScorerParams)
    assert (name, kind, default) == ("scorer", "str", "self-eval")
    assert program[:3] == ("program", "bool", False)
    assert "restart" in text
    assert describe(Sample)[3][:3] == ("mode", "fast|slow", "fast")
    assert describe(Sample)[2][:3] == ("flag", "bool", False)


# -- get_strategy ----------------------------------------------------------------------------


def test_get_strategy_sets_params() -> None:
    strategy = get_strategy("adaptive-self-consistency", {"batch": "2", "stop_rule": "dirichlet"})
    assert isinstance(strategy, AdaptiveSelfConsistency)
    assert strategy.params == AdaptiveParams(batch=2, stop_rule="dirichlet")

    sc = get_strategy("self-consistency", {"batch": 3})
    assert isinstance(sc, SelfConsistency)
    assert sc.params.batch == 3

    bon = get_strategy("best-of-n", {"scorer": "restart"})
    assert isinstance(bon, BestOfN)
    assert bon.params == ScorerParams(scorer="restart")

    wm = get_strategy("weighted-majority")
    assert isinstance(wm, WeightedMajority)
    assert wm.params == WeightParams()


def test_get_strategy_validates_options() -> None:
    with pytest.raises(InvalidInputError, match="valid options: none"):
        get_strategy("greedy", {"batch": 1})
    with pytest.raises(InvalidInputError, match="threshold"):
        get_strategy("adaptive-self-consistency", {"threshold": "2"})
    with pytest.raises(InvalidInputError, match="scorer"):
        get_strategy("weighted-best-of-n", {"scorer": 3})
    with pytest.raises(UnknownNameError, match="no-such"):
        get_strategy("no-such")


def test_plan_validates_options_before_any_engine() -> None:
    with pytest.raises(InvalidInputError, match="bogus"):
        ponder.plan("What is 1 + 1?", strategy="self-consistency", options={"bogus": "1"})
    planned = ponder.plan("What is 1 + 1?", strategy="adaptive-self-consistency", options={"batch": "3"})
    assert planned.algorithm.params.batch == 3
