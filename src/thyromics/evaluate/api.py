"""The single entry point for evaluation numbers: :func:`evaluate_scores`.

``thyromics evaluate``, the model stage and the report all call it, so every AUC,
CI, threshold and metric of a study comes from here.

Output (JSON types only; undefined numbers are ``null``)::

    {"truth": "<col>", "alpha": 0.05, "seed": 0, "bootstrap": null,
     "scores": {"<score>": {"n", "n_pos", "auc", "auc_ci": [lo, hi], "auc_ci_method", "auc_se",
                "auc_ci_note", "direction", "direction_note", "threshold", "threshold_rule",
                "positive_when", "threshold_note",
                "accuracy"|"sensitivity"|"specificity"|"ppv"|"npv"|"f1": {"value", "ci", "method"},
                "counts": {"tp", "fp", "tn", "fn"},
                "brier", "calibration_in_the_large", "val_prob_intercept", "calibration_slope",
                "hosmer_lemeshow", "calibration_note"}},
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
* perfect separation: AUC 1 (or 0) with a ``null`` CI ("not estimable", the reason in
  ``auc_ci_note``) and an ``UndefinedMetricWarning``; proportions keep their Wilson
  intervals, which are never zero-width;
* direction: ``"higher"`` (default) means higher scores are positive and warns when the
  AUC is below 0.5; ``"lower"`` means lower scores are positive (every number as for the
  negated score, thresholds on the score's own scale, positive when ``score <=
  threshold``); ``"auto"`` follows pROC (``"lower"`` when the controls' median exceeds the
  cases' median) and warns, since a direction chosen on the evaluation data makes the
  AUC at least 0.5 by construction;
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
from thyromics.evaluate.thresholds import RULES, TIE_RULES, choose_threshold, youden_ties
from thyromics.io.tables import read_table

#: Accepted values of ``direction=``.
DIRECTIONS = ("higher", "lower", "auto")

__all__ = ["evaluate_scores", "evaluate_file", "thresholds_from", "choose_thresholds", "parse_threshold",
           "read_table", "resolve_directions", "DIRECTIONS", "UndefinedMetricWarning"]

ThresholdSpec = str | float | Mapping[str, Any]


def _is_rule_dict(threshold: Mapping[str, Any], scores: list[str]) -> bool:
    keys = set(threshold)
    return len(keys) == 1 and keys <= set(RULES[1:]) and not keys & set(scores)


def resolve_directions(y: np.ndarray, svals: Mapping[str, np.ndarray], direction: str | Mapping[str, str]
                       ) -> tuple[dict[str, int], dict[str, str | None]]:
    """``(sign, note)`` per score: +1 when higher means positive, -1 when lower does.

    ``direction`` is one of :data:`DIRECTIONS` or a dict naming one per score. ``"auto"``
    is pROC's rule (``direction = ">"`` when ``median(controls) > median(cases)``), with a
    warning.
    """
    signs: dict[str, int] = {}
    notes: dict[str, str | None] = {}
    for name, s in svals.items():
        d = direction.get(name, "higher") if isinstance(direction, Mapping) else direction
        if d not in DIRECTIONS:
            raise InputError(f"direction must be one of {', '.join(DIRECTIONS)}, found {d!r}.")
        notes[name] = None
        if d == "auto":
            lower = bool(np.median(s[y == 0]) > np.median(s[y == 1])) if 0 < y.sum() < y.size else False
            d = "lower" if lower else "higher"
            notes[name] = (f"direction chosen on these data (pROC 'auto': controls' median "
                           f"{'>' if lower else '<='} cases' median): {d} scores are positive; "
                           "the AUC is then at least 0.5 by construction, which is optimistic")
            warnings.warn(f"score {name!r}: {notes[name]}. Give --direction higher or lower "
                          "when it is known in advance.", ThyromicsWarning, stacklevel=3)
        signs[name] = 1 if d == "higher" else -1
    return signs, notes


def choose_thresholds(frame: pd.DataFrame, *, truth: str, scores: list[str],
                      threshold: ThresholdSpec = "youden",
                      direction: str | Mapping[str, str] = "higher") -> tuple[dict[str, float], dict[str, Any]]:
    """Threshold of each score and the rule that gave it.

    ``threshold`` is ``"youden"``, a number (same for every score), a rule dict
    ``{"sensitivity": x}`` / ``{"specificity": x}``, or a dict ``{score: number or
    rule}`` naming every score (e.g. :func:`thresholds_from` of another set).
    ``direction``: see :func:`evaluate_scores`; thresholds are returned on each score's
    own scale (for ``"lower"`` a case is positive when ``score <= threshold``).
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
    svals = {name: as_scores(frame[name].to_numpy(), n=y.size, name=f"score column {name!r}",
                             index=list(frame.index)) for name in scores}
    signs, _ = resolve_directions(y, svals, direction)
    for name in scores:
        s = signs[name] * svals[name]
        rule = per[name]
        fixed = _fixed(rule)
        if fixed is not None:
            out[name] = choose_threshold(y, s, fixed)  # on the score's own scale already
        else:
            out[name] = signs[name] * choose_threshold(y, s, rule)
        rules[name] = dict(rule) if isinstance(rule, Mapping) else (
            rule if isinstance(rule, str) and rule.strip().lower() == "youden" else "fixed")
    return out, rules


def evaluate_scores(frame: pd.DataFrame, *, truth: str, scores: list[str],
                    threshold: ThresholdSpec = "youden", subgroup: str | None = None,
                    bootstrap: int | None = None, seed: int = 0, alpha: float = 0.05,
                    direction: str | Mapping[str, str] = "higher",
                    calibration_sample: str = "development") -> dict[str, Any]:
    """Discrimination, thresholds, metrics and calibration of one or more scores.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per case: the truth column, the score columns and optionally a
        subgroup column.
    truth : str
        Binary outcome column (0/1 or booleans; 1 = positive).
    scores : list of str
        Score columns (any scale). Calibration is reported only for scores within
        [0, 1] whose higher values are positive.
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
    direction : {"higher", "lower", "auto"} or dict
        Which scores are positive (see the module notes); a dict gives one per score.
    calibration_sample : {"development", "validation"}
        Whether the model was fitted on these cases: Hosmer-Lemeshow df = groups - 2
        ("development"), or groups ("validation": out-of-fold or external predictions).

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
    raw = {name: as_scores(frame[name].to_numpy(), n=y.size, name=f"score column {name!r}", index=index)
           for name in scores}
    signs, dnotes = resolve_directions(y, raw, direction)
    thresholds, rules = choose_thresholds(frame, truth=truth, scores=scores, threshold=threshold,
                                          direction={k: "higher" if v > 0 else "lower"
                                                     for k, v in signs.items()})
    svals = {name: signs[name] * s for name, s in raw.items()}        # higher = positive
    eff = {name: signs[name] * thresholds[name] for name in scores}   # on that scale
    tnotes = {name: _tie_note(y, svals[name]) if rules[name] == "youden" else None for name in scores}
    blocks = {name: score_block(y, s, eff[name], threshold_rule=rules[name], bootstrap=bootstrap,
                                seed=seed, alpha=alpha, sign=signs[name],
                                calibration_sample=calibration_sample, threshold_note=tnotes[name])
              for name, s in svals.items()}
    for name, b in blocks.items():
        b["direction_note"] = dnotes[name]
        if signs[name] > 0 and b["auc"] is not None and b["auc"] < 0.5 and dnotes[name] is None:
            b["direction_note"] = (f"AUC {b['auc']:.3f} < 0.5 with higher scores positive: "
                                   "the score points the other way")
            warnings.warn(f"score {name!r}: AUC {b['auc']:.3f} is below 0.5 with higher scores "
                          "taken as positive; if lower values mean positive for this score, "
                          "give direction 'lower' (--direction lower). Not flipped silently.",
                          ThyromicsWarning, stacklevel=2)
    result: dict[str, Any] = {
        "truth": truth,
        "alpha": alpha,
        "seed": seed,
        "bootstrap": bootstrap,
        "positive_when": ("score >= threshold" if all(v > 0 for v in signs.values())
                          else {name: blocks[name]["positive_when"] for name in scores}),
        "scores": blocks,
        "comparisons": comparisons(y, svals, alpha=alpha),
        "subgroups": {},
    }
    if subgroup:
        result["subgroups"][subgroup] = evaluate_subgroups(
            y, svals, frame[subgroup].to_numpy(), eff, threshold_rules=rules,
            bootstrap=bootstrap, seed=seed, alpha=alpha, signs=signs,
            calibration_sample=calibration_sample)
    return jsonable(result)


def _fixed(rule: Any) -> float | None:
    """The number of a fixed-threshold rule (a number or numeric text), else None."""
    if isinstance(rule, bool):
        return None
    if isinstance(rule, (int, float, np.integer, np.floating)):
        return float(rule)
    if isinstance(rule, str):
        try:
            return float(rule)
        except ValueError:
            return None
    return None


def _tie_note(y: np.ndarray, s: np.ndarray) -> str | None:
    """How a tie between optimal Youden cut-points was broken, or None."""
    if not 0 < y.sum() < y.size or s.min() == s.max():
        return None
    cuts, jmax = youden_ties(y, s)
    if cuts.size < 2:
        return None
    return (f"{cuts.size} cut-points tie at the maximum Youden J = {jmax:.4g}; "
            f"rule: {TIE_RULES['middle']}")


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


_PREDICTIONS_HINT = ("Predictions come from `thyromics model` or `thyromics predict`, or any "
                     "table with a truth and score columns.")


def _read_predictions(path: str | Path) -> pd.DataFrame:
    return read_table(path, what="the predictions table", hint=_PREDICTIONS_HINT)


def evaluate_file(pred: str | Path, *, truth: str, scores: list[str], threshold: str = "youden",
                  threshold_from: str | Path | None = None, subgroup: str | None = None,
                  bootstrap: int | None = None, seed: int = 0, alpha: float = 0.05,
                  direction: str = "higher", calibration_sample: str = "development") -> dict[str, Any]:
    """:func:`evaluate_scores` on a predictions file (what ``thyromics evaluate`` runs).

    Rows with an empty truth (unlabelled cases) are left out, counted in
    ``n_unlabelled_excluded`` (``threshold_from_n_unlabelled_excluded`` for a
    ``threshold_from`` table) and named in a :class:`~thyromics.errors.ThyromicsWarning`.
    ``threshold_from``: an evaluation JSON (thresholds taken as they are) or another
    predictions table on which the thresholds are chosen by ``threshold`` (e.g. the
    training or cross-validation predictions); either way they are then applied
    unchanged to ``pred``.
    """
    frame, n_unlabelled = _labelled(_read_predictions(pred), truth, pred)
    spec: ThresholdSpec = parse_threshold(threshold)
    source, n_from = None, None
    if threshold_from is not None:
        tf = Path(threshold_from)
        if tf.suffix.lower() == ".json":
            spec = thresholds_from(tf)
        else:
            known, n_from = _labelled(_read_predictions(tf), truth, tf)
            spec, _ = choose_thresholds(known, truth=truth, scores=scores, threshold=spec,
                                        direction=direction)
        source = str(tf)
    result = evaluate_scores(frame, truth=truth, scores=scores, threshold=spec, subgroup=subgroup,
                             bootstrap=bootstrap, seed=seed, alpha=alpha, direction=direction,
                             calibration_sample=calibration_sample)
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
