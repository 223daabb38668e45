"""The single entry point for evaluation numbers: :func:`evaluate_scores`.

``thyromics evaluate``, the model stage and the report all call it, so every AUC,
CI, threshold and metric of a study comes from here.

Output (JSON types only; undefined numbers are ``null``)::

    {"truth": "<col>", "alpha": 0.05, "seed": 0, "bootstrap": null,
     "scores": {"<score>": {"n", "n_pos", "auc", "auc_ci": [lo, hi], "auc_ci_method", "auc_se",
                "auc_ci_note", "threshold", "threshold_rule", "threshold_note",
                "accuracy"|"sensitivity"|"specificity"|"ppv"|"npv"|"f1": {"value", "ci", "method"},
                "counts": {"tp", "fp", "tn", "fn"},
                "brier", "calibration_intercept", "calibration_slope", "hosmer_lemeshow",
                "calibration_note"}},
     "comparisons": [{"a", "b", "method": "delong", "paired": true, "auc_a", "auc_b",
                      "auc_diff", "auc_diff_ci": [lo, hi], "z", "p"}],
     "subgroups": {"<column>": {"<value>": {"n", "n_pos", "scores": {...}, "comparisons": [...]}}}}

Error policy
------------
* truth not binary, missing truth, NaN/inf scores, unknown columns: :class:`InputError`
  naming the rows (index labels) or the columns and the fix;
* one class only in the whole set: :class:`InputError` (nothing meaningful to report);
* one class only inside a subgroup: that subgroup's AUC/DeLong numbers are ``null``,
  with an :class:`~thyromics.evaluate._checks.UndefinedMetricWarning`;
* a constant score: AUC 0.5, its CI ``null`` and the threshold ``null`` (every case
  negative), each with its reason in ``auc_ci_note`` / ``threshold_note``;
* :func:`evaluate_file` only: rows with an empty truth are left out, counted in
  ``n_unlabelled_excluded`` and announced by a :class:`~thyromics.errors.ThyromicsWarning`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from thyromics.errors import InputError, ThyromicsWarning
from thyromics.evaluate._checks import UndefinedMetricWarning, as_binary, as_scores, need_both_classes
from thyromics.evaluate.subgroups import evaluate_subgroups
from thyromics.evaluate.summary import check_columns, comparisons, jsonable, score_block
from thyromics.evaluate.thresholds import RULES, choose_threshold

__all__ = ["evaluate_scores", "evaluate_file", "thresholds_from", "choose_thresholds", "parse_threshold",
           "read_table", "UndefinedMetricWarning"]

ThresholdSpec = str | float | Mapping[str, Any]


def _is_rule_dict(threshold: Mapping[str, Any], scores: list[str]) -> bool:
    keys = set(threshold)
    return len(keys) == 1 and keys <= set(RULES[1:]) and not keys & set(scores)


def choose_thresholds(frame: pd.DataFrame, *, truth: str, scores: list[str],
                      threshold: ThresholdSpec = "youden") -> tuple[dict[str, float], dict[str, Any]]:
    """Threshold of each score and the rule that gave it.

    ``threshold`` is ``"youden"``, a number (same for every score), a rule dict
    ``{"sensitivity": x}`` / ``{"specificity": x}``, or a dict ``{score: number or
    rule}`` naming every score (e.g. :func:`thresholds_from` of another set).
    Returns ``(thresholds, rules)`` keyed by score.
    """
    check_columns(list(frame.columns), [truth, *scores], what="evaluate:")
    y = as_binary(frame[truth].to_numpy(), name=f"truth column {truth!r}", index=list(frame.index))
    if isinstance(threshold, Mapping) and not _is_rule_dict(threshold, scores):
        missing = [s for s in scores if s not in threshold]
        if missing:
            raise InputError(f"threshold dict has no entry for score(s) {missing}; it names "
                             f"{sorted(threshold)}. Give one threshold per score.")
        per = {s: threshold[s] for s in scores}
    else:
        per = {s: threshold for s in scores}
    out: dict[str, float] = {}
    rules: dict[str, Any] = {}
    for name in scores:
        s = as_scores(frame[name].to_numpy(), n=y.size, name=f"score column {name!r}", index=list(frame.index))
        rule = per[name]
        out[name] = choose_threshold(y, s, rule)
        rules[name] = dict(rule) if isinstance(rule, Mapping) else (
            rule if isinstance(rule, str) and rule.strip().lower() == "youden" else "fixed")
    return out, rules


def evaluate_scores(frame: pd.DataFrame, *, truth: str, scores: list[str],
                    threshold: ThresholdSpec = "youden", subgroup: str | None = None,
                    bootstrap: int | None = None, seed: int = 0, alpha: float = 0.05) -> dict[str, Any]:
    """Discrimination, thresholds, metrics and calibration of one or more scores.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per case: the truth column, the score columns and optionally a
        subgroup column.
    truth : str
        Binary outcome column (0/1 or booleans; 1 = positive).
    scores : list of str
        Score columns (any scale; higher = positive). Calibration is reported only for
        scores within [0, 1].
    threshold : "youden" | float | dict
        How each score's threshold is chosen on ``frame`` (see
        :func:`choose_thresholds`); a number or ``{score: number}`` is applied
        unchanged. Positive when ``score >= threshold``.
    subgroup : str, optional
        Column whose values define subgroups; each subgroup reuses the thresholds
        chosen on the whole ``frame``.
    bootstrap : int, optional
        If given, the AUC CI is a stratified percentile bootstrap with this many
        resamples (DeLong is kept as ``auc_ci_delong``) and the F1 CI uses as many.
    seed : int
        Seed of every bootstrap.
    alpha : float
        1 - confidence level.

    Returns
    -------
    dict
        JSON-ready structure described in the module docstring.
    """
    if not scores:
        raise InputError("evaluate: give at least one score column.")
    if len(set(scores)) != len(scores):
        raise InputError(f"evaluate: score columns repeated in {scores}.")
    cols = [truth, *scores] + ([subgroup] if subgroup else [])
    check_columns(list(frame.columns), cols, what="evaluate:")
    index = list(frame.index)
    y = as_binary(frame[truth].to_numpy(), name=f"truth column {truth!r}", index=index)
    need_both_classes(y, what=f"evaluate (truth column {truth!r})")
    svals = {name: as_scores(frame[name].to_numpy(), n=y.size, name=f"score column {name!r}", index=index)
             for name in scores}
    thresholds, rules = choose_thresholds(frame, truth=truth, scores=scores, threshold=threshold)
    result: dict[str, Any] = {
        "truth": truth,
        "alpha": alpha,
        "seed": seed,
        "bootstrap": bootstrap,
        "positive_when": "score >= threshold",
        "scores": {name: score_block(y, s, thresholds[name], threshold_rule=rules[name],
                                     bootstrap=bootstrap, seed=seed, alpha=alpha)
                   for name, s in svals.items()},
        "comparisons": comparisons(y, svals, alpha=alpha),
        "subgroups": {},
    }
    if subgroup:
        result["subgroups"][subgroup] = evaluate_subgroups(
            y, svals, frame[subgroup].to_numpy(), thresholds, threshold_rules=rules,
            bootstrap=bootstrap, seed=seed, alpha=alpha)
    return jsonable(result)


def thresholds_from(metrics_json: Mapping[str, Any] | str | Path) -> dict[str, float]:
    """Thresholds per score from an :func:`evaluate_scores` result (dict or JSON file).

    Use them as ``threshold=`` on another set so the cut-points chosen on one set are
    applied unchanged to the other.
    """
    if isinstance(metrics_json, (str, Path)):
        path = Path(metrics_json)
        try:
            metrics_json = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise InputError(f"file {path}: cannot read evaluation JSON ({e}). Give the -o output "
                             "of `thyromics evaluate`.") from e
    try:
        block = metrics_json["scores"]
        out = {name: float(v["threshold"]) for name, v in block.items()}
    except (KeyError, TypeError, ValueError) as e:
        raise InputError("evaluation JSON has no 'scores' -> '<score>' -> 'threshold' entries; "
                         "give the -o output of `thyromics evaluate`.") from e
    bad = [k for k, v in out.items() if not np.isfinite(v)]
    if bad:
        raise InputError(f"evaluation JSON holds non-finite thresholds for {bad}.")
    return out


def parse_threshold(text: str) -> ThresholdSpec:
    """Parse a command-line threshold: ``youden``, a number, ``sensitivity=0.9`` or ``specificity=0.9``."""
    t = text.strip()
    try:
        return float(t)
    except ValueError:
        pass
    if t.lower() == "youden":
        return "youden"
    if "=" in t or ":" in t:
        key, _, val = t.replace(":", "=").partition("=")
        key = key.strip().lower()
        key = {"sens": "sensitivity", "spec": "specificity"}.get(key, key)
        if key in RULES[1:]:
            try:
                return {key: float(val)}
            except ValueError:
                pass
    raise InputError(f"--threshold {text!r} not understood: use 'youden', a number, "
                     "'sensitivity=0.9' or 'specificity=0.9'.")


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a predictions table (``.csv``, ``.tsv`` or ``.parquet``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"file {path}: not found. Predictions come from `thyromics model` or "
                         "`thyromics predict`, or any CSV with a truth and score columns.")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    except Exception as e:  # noqa: BLE001 - re-raised with the file named
        raise InputError(f"file {path}: cannot read as a table ({e}).") from e


def evaluate_file(pred: str | Path, *, truth: str, scores: list[str], threshold: str = "youden",
                  threshold_from: str | Path | None = None, subgroup: str | None = None,
                  bootstrap: int | None = None, seed: int = 0, alpha: float = 0.05) -> dict[str, Any]:
    """:func:`evaluate_scores` on a predictions file (what ``thyromics evaluate`` runs).

    Rows with an empty truth (unlabelled cases) are left out, counted in
    ``n_unlabelled_excluded`` (``threshold_from_n_unlabelled_excluded`` for a
    ``threshold_from`` table) and named in a :class:`~thyromics.errors.ThyromicsWarning`.
    ``threshold_from``: an evaluation JSON (thresholds taken as they are) or another
    predictions table on which the thresholds are chosen by ``threshold`` (e.g. the
    training or cross-validation predictions); either way they are then applied
    unchanged to ``pred``.
    """
    frame, n_unlabelled = _labelled(read_table(pred), truth, pred)
    spec: ThresholdSpec = parse_threshold(threshold)
    source, n_from = None, None
    if threshold_from is not None:
        tf = Path(threshold_from)
        if tf.suffix.lower() == ".json":
            spec = thresholds_from(tf)
        else:
            known, n_from = _labelled(read_table(tf), truth, tf)
            spec, _ = choose_thresholds(known, truth=truth, scores=scores, threshold=spec)
        source = str(tf)
    result = evaluate_scores(frame, truth=truth, scores=scores, threshold=spec, subgroup=subgroup,
                             bootstrap=bootstrap, seed=seed, alpha=alpha)
    result["input"] = str(pred)
    result["threshold_from"] = source
    result["n_unlabelled_excluded"] = n_unlabelled
    result["threshold_from_n_unlabelled_excluded"] = n_from
    return result


def _labelled(frame: pd.DataFrame, truth: str, path: str | Path) -> tuple[pd.DataFrame, int]:
    """Rows whose truth is known, and how many were left out (unlabelled cases, with a warning)."""
    if truth not in frame.columns:
        return frame, 0  # evaluate_scores names the missing column
    known = frame[truth].notna()
    n = int((~known).sum())
    if n:
        has_id = "case_id" in frame.columns
        ids = frame["case_id"] if has_id else pd.Series(frame.index, index=frame.index)
        names = ", ".join(str(v) for v in ids[~known].head(5))
        warnings.warn(f"file {path}: {n} of {len(frame)} row(s) have no {truth!r} value and are left "
                      f"out of the evaluation (e.g. {'case_id' if has_id else 'row (0-based)'} "
                      f"{names}); fill the truth to include them",
                      ThyromicsWarning, stacklevel=3)
    return frame[known], n
