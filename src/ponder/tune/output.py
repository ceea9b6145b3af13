"""The chosen configuration as a pipeline config file that ``ponder solve --pipeline FILE`` and
``ponder serve --pipeline FILE`` run as it is.

The file is YAML: a header of comments (what was tuned, on which engine, the chosen
configuration's train / Thresholdout / naive-holdout / test accuracies, the commands that use it)
above the pipeline config itself. The config is loaded with :func:`ponder.registry.load_pipeline`
before the file is written and the file is read back before this returns (removed if it would
not load), so a file that would not load is never left behind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ponder.core.errors import InvalidInputError
from ponder.registry import load_pipeline
from ponder.tune.outcome import ChosenScores, Trial

CONFIG_NAME = "chosen.yaml"


def header(dataset: str, trial: Trial, scores: ChosenScores | None, *, engine: str, path: Path) -> list[str]:
    """The comment lines above the config (without the ``#``)."""
    lines = [
        f"ponder tune: the configuration chosen for {dataset} (trial {trial.number}), on {engine}",
        f"train {trial.train_accuracy:.1%} (n={trial.train_n}); {trial.tokens_per_problem:.0f} completion tokens "
        f"and {trial.seconds_per_problem:.2f} s per problem",
    ]
    if scores is not None:
        lines.append(
            f"Thresholdout {scores.thresholdout:.1%}, naive holdout {scores.naive_holdout:.1%} (n={scores.n_holdout}), "
            f"test {scores.test:.1%} (n={scores.n_test})"
        )
    lines += [
        "use it:",
        f'  ponder solve "QUESTION" --pipeline {path}',
        f"  ponder serve --pipeline {path}",
    ]
    return lines


def write_config(pipeline: Mapping[str, Any], path: str | Path, comments: Sequence[str] = ()) -> Path:
    """Write ``pipeline`` (a pipeline config's data) as YAML under ``comments`` and check it loads."""
    target = Path(path)
    load_pipeline(dict(pipeline))  # a config that would not load is refused before any file is touched
    body = yaml.safe_dump(dict(pipeline), sort_keys=False, allow_unicode=True, width=100)
    text = "".join(f"# {line}\n" for line in comments) + body
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"cannot write the chosen configuration to {target}: {exc.strerror or exc}") from None
    try:
        load_pipeline(target)  # what `ponder solve --pipeline` will do with it (the YAML round trip included)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target
