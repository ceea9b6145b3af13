"""Does Thresholdout keep the reported score of a tuned configuration honest? A synthetic check, no model.

Each configuration has a known true accuracy ``p`` and answers every problem right with
probability ``p``, independently (pure noise around ``p``), on a train, a holdout and a test split.
Over many seeds, an "optimiser" chooses and reports a score in two scenarios, three ways each
((a) naive holdout, (b) Thresholdout with ponder's defaults, (c) train only, for reference), and we
measure the bias of the reported score against the chosen configuration's true accuracy:

1. best of K: query every configuration and pick the highest score; report that score. This is
   ``ponder tune``'s final choice among its trials.
2. adaptive ensemble (the paper's experiment, transposed): keep the configurations whose train and
   holdout scores both say "better than chance", fuse the best of them (by train accuracy) into a
   majority-vote ensemble, and report the ensemble's score. Later configurations are built from
   earlier holdout answers: the adaptive reuse Thresholdout is designed for (Archon's searches
   build ensembles of the top configurations the same way).

Fairness: within a seed all three methods see the same configurations, the same per-problem draws
and the same query order, and differ only in the holdout signal (raw holdout accuracy, Thresholdout's
answer, nothing). When Thresholdout's budget runs out the optimiser stops querying, and the naive
and train-only optimisers are restricted to the same configurations. The ensemble analyst keeps one
unit of budget for the final report. The bias is measured against the true accuracy (known by
construction), not against another sample; the test split (touched once) is reported as a check.

    python benchmarks/holdout_validity.py            # writes benchmarks/results/holdout_validity.{md,json}
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ponder.core.seeding import derive_seed
from ponder.tune.thresholdout import DEFAULT_BUDGET, DEFAULT_SIGMA, DEFAULT_THRESHOLD, Thresholdout

RESULTS = Path(__file__).parent / "results"
METHODS = ("naive", "thresholdout", "train")
CHANCE = 0.5
ENSEMBLE = 25  # most members of the majority-vote ensemble (odd)


@dataclass(frozen=True)
class Setting:
    name: str
    n_train: int
    n_holdout: int
    n_test: int
    configs: int
    better: int = 0  # how many configurations are genuinely better
    better_p: float = 0.6


SETTINGS = (
    Setting("MAWPS SingleOp sized, 100 configurations", 225, 169, 168, 100),
    Setting("MAWPS SingleOp sized, 100 configurations, 5 truly better (p = 0.6)", 225, 169, 168, 100, better=5),
    Setting("MAWPS SingleOp sized, 200 configurations", 225, 169, 168, 200),
    Setting("small (100 problems), 30 configurations", 40, 30, 30, 30),
)


def majority_accuracy(ps: np.ndarray) -> float:
    """P(more than half of independent members with accuracies ``ps`` are right): the ensemble's
    true accuracy (a Poisson-binomial tail, by dynamic programming)."""
    dist = np.zeros(len(ps) + 1)
    dist[0] = 1.0
    for p in ps:
        dist[1:] = dist[1:] * (1 - p) + dist[:-1] * p
        dist[0] *= 1 - p
    return float(dist[len(ps) // 2 + 1 :].sum())


def ask(thresholdout: Thresholdout, train: np.ndarray, holdout: np.ndarray, reserve: int) -> np.ndarray:
    """Thresholdout's answers, in order, while more than ``reserve`` budget is left (NaN after)."""
    answers = np.full(len(train), np.nan)
    for i, (t, h) in enumerate(zip(train, holdout, strict=True)):
        if thresholdout.remaining <= reserve:
            break
        answers[i] = thresholdout.query(float(t), float(h))
    return answers


def best_of_k(rng: np.random.Generator, s: Setting, p: np.ndarray, to_seed: int) -> dict[str, Any]:
    acc = {split: rng.binomial(n, p) / n for split, n in (("train", s.n_train), ("holdout", s.n_holdout))}
    test = rng.binomial(s.n_test, p) / s.n_test
    thresholdout = Thresholdout(seed=to_seed)
    answers = ask(thresholdout, acc["train"], acc["holdout"], reserve=0)
    asked = int(np.sum(~np.isnan(answers)))  # a prefix: the optimiser stops when the budget is spent
    signals = {"naive": acc["holdout"][:asked], "thresholdout": answers[:asked], "train": acc["train"][:asked]}
    out: dict[str, Any] = {"ran_out": asked < s.configs, "spent": thresholdout.spent}
    for method, signal in signals.items():
        k = int(np.argmax(signal))
        out[method] = (float(signal[k]) - p[k], test[k] - p[k], bool(p[k] > CHANCE))
    return out


def ensemble(rng: np.random.Generator, s: Setting, p: np.ndarray, to_seed: int) -> dict[str, Any]:
    bits = {
        split: rng.random((s.configs, n)) < p[:, None]
        for split, n in (("train", s.n_train), ("holdout", s.n_holdout), ("test", s.n_test))
    }
    acc = {split: b.mean(axis=1) for split, b in bits.items()}
    thresholdout = Thresholdout(seed=to_seed)
    answers = ask(thresholdout, acc["train"], acc["holdout"], reserve=1)  # one unit kept for the report
    asked = int(np.sum(~np.isnan(answers)))
    signals: dict[str, np.ndarray | None] = {
        "naive": acc["holdout"][:asked],
        "thresholdout": answers[:asked],
        "train": None,
    }
    out: dict[str, Any] = {"ran_out": asked < s.configs}
    for method, signal in signals.items():
        train = acc["train"][:asked]
        keep = (
            np.flatnonzero(train > CHANCE) if signal is None else np.flatnonzero((train > CHANCE) & (signal > CHANCE))
        )
        if len(keep) == 0:
            keep = np.array([int(np.argmax(train))])
        members = keep[np.argsort(-train[keep], kind="stable")][:ENSEMBLE]
        members = members[: len(members) - (1 - len(members) % 2)]  # an odd number: no ties in the vote

        def fused(split: str, members: np.ndarray = members) -> float:
            return float((2 * bits[split][members].sum(axis=0) > len(members)).mean())

        true = majority_accuracy(p[members])
        if method == "naive":
            reported = fused("holdout")
        elif method == "thresholdout":
            reported = thresholdout.query(fused("train"), fused("holdout"))
        else:
            reported = fused("train")
        out[method] = (reported - true, fused("test") - true, bool(true > CHANCE))
    out["spent"] = thresholdout.spent
    return out


def summarise(values: list[float]) -> dict[str, float]:
    a = np.asarray(values)
    half = 1.96 * float(a.std(ddof=1)) / math.sqrt(len(a))
    return {"mean": float(a.mean()), "low": float(a.mean()) - half, "high": float(a.mean()) + half}


def run_setting(
    s: Setting, scenario: Callable[..., dict[str, Any]], index: int, reps: int, seed: int
) -> dict[str, Any]:
    runs = []
    for rep in range(reps):
        rng = np.random.default_rng(derive_seed(seed, index, rep))
        p = np.full(s.configs, CHANCE)
        if s.better:
            p[rng.choice(s.configs, size=s.better, replace=False)] = s.better_p
        runs.append(scenario(rng, s, p, derive_seed(seed, index, rep, 1)))
    result: dict[str, Any] = {
        "ran_out": float(np.mean([r["ran_out"] for r in runs])),
        "spent": float(np.mean([r["spent"] for r in runs])),
    }
    for method in METHODS:
        result[method] = {
            "bias": summarise([r[method][0] for r in runs]),
            "test_bias": summarise([r[method][1] for r in runs]),
            "picked_better": float(np.mean([r[method][2] for r in runs])),
        }
    tolerance = DEFAULT_THRESHOLD + 6 * DEFAULT_SIGMA
    result["within_tolerance"] = result["thresholdout"]["bias"]["high"] <= tolerance
    result["naive_visibly_larger"] = result["naive"]["bias"]["low"] > result["thresholdout"]["bias"]["high"]
    return result


def pp(x: float) -> str:
    return f"{100 * x:+.1f}"


def interval(b: dict[str, float]) -> str:
    return f"{pp(b['mean'])} [{pp(b['low'])}, {pp(b['high'])}]"


def markdown(results: list[dict[str, Any]], reps: int, seconds: float) -> str:
    tolerance = DEFAULT_THRESHOLD + 6 * DEFAULT_SIGMA
    head = [
        "# Holdout validity: naive holdout against Thresholdout (synthetic, no model)",
        "",
        f"{reps} seeds per row; Thresholdout with ponder's defaults (T = {DEFAULT_THRESHOLD}, "
        f"sigma = {DEFAULT_SIGMA}, budget {DEFAULT_BUDGET}); ran in {seconds:.0f} s "
        "(`python benchmarks/holdout_validity.py`).",
        "",
        "Bias = reported score - the chosen configuration's true accuracy, in percentage points, mean "
        "over seeds with its 95% interval (normal approximation). 'test' is the chosen configuration's "
        "accuracy on the test split, touched once, minus its true accuracy.",
        "",
        f"Thresholdout's tolerance: when it answers the train score, that score is within T_hat + eta = "
        f"T + gamma + eta of the holdout score (gamma ~ Lap(2 sigma), eta ~ Lap(4 sigma), mean sizes "
        f"2 sigma and 4 sigma); when it answers the holdout, it is within |xi| ~ Lap(sigma). So its "
        f"answer is on average within T + 6 sigma = {100 * tolerance:.0f} points of the holdout score, and "
        "the holdout score is unbiased as long as the holdout itself has not been overfit. The check: "
        "the upper end of Thresholdout's bias interval is within T + 6 sigma, and the naive "
        "holdout's bias is 'visibly larger' when its interval lies wholly above Thresholdout's.",
        "",
    ]
    lines = head + DESIGN.splitlines() + [""]
    for scenario, title in (("best_of_k", "1. Best of K"), ("ensemble", "2. Adaptive ensemble")):
        lines += [
            f"## {title}",
            "",
            "| setting (train / holdout / test problems) | naive holdout bias | Thresholdout bias | "
            "train-only bias | test bias (Thresholdout's choice) | picked a truly better one "
            "(naive / Thresholdout / train) | budget spent (mean) | budget ran out | Thresholdout "
            "within tolerance | naive visibly larger |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in results:
            s, x = r["setting"], r[scenario]
            better = " / ".join(f"{100 * x[m]['picked_better']:.0f}%" for m in METHODS) if s["better"] else "— (none)"
            lines.append(
                f"| {s['name']} ({s['n_train']} / {s['n_holdout']} / {s['n_test']}) | "
                f"{interval(x['naive']['bias'])} | {interval(x['thresholdout']['bias'])} | "
                f"{interval(x['train']['bias'])} | {interval(x['thresholdout']['test_bias'])} | {better} | "
                f"{x['spent']:.1f} | {100 * x['ran_out']:.0f}% | {'yes' if x['within_tolerance'] else 'NO'} | "
                f"{'yes' if x['naive_visibly_larger'] else 'NO'} |"
            )
        lines.append("")
    return "\n".join(lines + reading(results)) + "\n"


DESIGN = """## Design

Each configuration has a known true accuracy p (0.5, chance, unless marked truly better) and answers
each problem right with probability p, independently, on three splits. The sizes mirror `ponder tune
mawps-singleop`: its 562 problems split 40/30/30 give 225 train, 169 holdout and 168 test problems;
100 configurations is a long search (the issue asks for 20+ trials), 200 a very long one. The small
row is `--limit 100` (40 / 30 / 30).

1. **Best of K** (`ponder tune`'s final choice): every configuration is scored, the highest score
   wins and is reported. (a) naive: the holdout accuracy; (b) Thresholdout: its answer to the
   configuration's (train, holdout) query; (c) train accuracy, for reference.
2. **Adaptive ensemble** (the paper's Fig. 1 experiment, transposed): keep the configurations whose
   train accuracy and holdout signal are both above chance, fuse the (up to 25, an odd number) best
   of them by train accuracy into a majority-vote ensemble (right when most members are right), and
   report the ensemble's score on the same signal (naive: its holdout accuracy; Thresholdout: its
   answer to the ensemble's query; train-only: members chosen and scored on train). The ensemble's
   true accuracy is exact (a Poisson-binomial tail). This is adaptive reuse: a new configuration is
   built from what the holdout said about earlier ones, as Archon builds ensembles of its best.

Fairness: within a seed the three methods see the same configurations, the same per-problem draws
and the same query order, and differ only in the holdout signal. When Thresholdout's budget runs
out the optimiser stops querying and the other two are restricted to the same configurations; the
ensemble analyst keeps one unit of budget for the final report. Bias is measured against the true
accuracy, not against another sample.
"""


def reading(results: list[dict[str, Any]]) -> list[str]:
    """What the tables say, with the first (MAWPS-sized, 100 configurations) row's numbers."""
    first = results[0]
    b, e = first["best_of_k"], first["ensemble"]
    small = results[-1]["ensemble"]
    crossing = b["spent"] / first["setting"]["configs"]
    return [
        "## Reading",
        "",
        f"- **Best of K: no method removes the winner's curse, Thresholdout included.** At MAWPS size the "
        f"naive holdout reports {pp(b['naive']['bias']['mean'])} points too much, Thresholdout "
        f"{pp(b['thresholdout']['bias']['mean'])}, train {pp(b['train']['bias']['mean'])}: each reports the "
        "maximum of K noisy estimates, and Thresholdout's answers (a train score, or a holdout score plus "
        "noise) are each as noisy as a holdout score. Thresholdout bounds how far the holdout is overfit "
        "by *adaptive* reuse; it does not make the largest of K numbers unbiased, and its per-answer "
        "accuracy cannot beat the holdout's own sampling error over K queries. The issue expected the "
        "naive holdout to be visibly worse here; it is not, and should not be. The test split, touched "
        f"once for the chosen configuration, is unbiased in every row ({interval(b['thresholdout']['test_bias'])} "
        "here): that is why the tune report shows the test accuracy as the one unbiased estimate, "
        "and uses Thresholdout only to choose.",
        f"- **Adaptive ensemble: Thresholdout does its job at MAWPS size.** The naive holdout, overfit by "
        f"the analyst's reuse, reports {interval(e['naive']['bias'])} points too much; Thresholdout "
        f"{interval(e['thresholdout']['bias'])}, {'within' if e['within_tolerance'] else 'OUTSIDE'} its "
        f"T + 6 sigma tolerance; train-only "
        f"{interval(e['train']['bias'])}.",
        f"- **Small holdouts are beyond it.** With 30 holdout problems the sampling spread of a train - "
        "holdout gap (about 0.12) is three times T, so most queries cross and Thresholdout reveals the "
        f"holdout nearly as often as the naive analyst reads it (ensemble: naive {pp(small['naive']['bias']['mean'])}, "
        f"Thresholdout {pp(small['thresholdout']['bias']['mean'])}). The paper's T and sigma were set for a "
        "10,000-point holdout (4 / sqrt(n) and 1 / sqrt(n)).",
        f"- **Budget.** At MAWPS size {100 * crossing:.0f}% of queries cross the threshold by noise alone "
        f"(T = {DEFAULT_THRESHOLD} is below the ~0.05 spread of a gap), so the default budget of "
        f"{DEFAULT_BUDGET} never ran out over 100 configurations and ran out in "
        f"{100 * results[2]['best_of_k']['ran_out']:.0f}% of the 200-configuration runs.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS / "holdout_validity"))
    args = parser.parse_args()
    started = time.perf_counter()
    results = []
    for index, s in enumerate(SETTINGS):
        results.append(
            {
                "setting": s.__dict__,
                "best_of_k": run_setting(s, best_of_k, 2 * index, args.reps, args.seed),
                "ensemble": run_setting(s, ensemble, 2 * index + 1, args.reps, args.seed),
            }
        )
    seconds = time.perf_counter() - started
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"reps": args.reps, "seed": args.seed, "threshold": DEFAULT_THRESHOLD, "sigma": DEFAULT_SIGMA}
    meta |= {"budget": DEFAULT_BUDGET, "tolerance": DEFAULT_THRESHOLD + 6 * DEFAULT_SIGMA, "seconds": seconds}
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    text = markdown(results, args.reps, seconds)
    out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
