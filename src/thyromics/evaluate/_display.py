"""Readable console tables of an evaluation result (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["print_result", "result_tables", "result_notes"]


def _fmt(v: Any, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _ci(block: dict[str, Any] | None, key: str = "ci") -> str:
    if not block:
        return "-"
    lo, hi = block.get(key, [None, None])
    return f"{_fmt(block.get('value'))} ({_fmt(lo)}-{_fmt(hi)})"


def result_tables(result: dict[str, Any]) -> list[Table]:
    """One table of the scores, one of the comparisons, one per subgroup column."""
    tables = []

    def scores_table(title: str, scores: dict[str, Any]) -> Table:
        t = Table(title=title)
        t.add_column("metric (95% CI)")
        for name in scores:
            t.add_column(name, overflow="fold")
        rows: list[tuple[str, Any]] = [
            ("n (positives)", lambda b: f"{b['n']} ({b['n_pos']})"),
            ("AUC", lambda b: f"{_fmt(b['auc'])} ({_fmt(b['auc_ci'][0])}-{_fmt(b['auc_ci'][1])})"),
            ("threshold", lambda b: ("none: all negative" if b["threshold"] is None
                                     else f"{b['threshold']:.4g}") + f" ({b['threshold_rule']}; "
                                    f"positive when {b.get('positive_when', 'score >= threshold')})"),
        ]
        rows += [(label, (lambda key: lambda b: _ci(b[key]))(key)) for label, key in (
            ("sensitivity", "sensitivity"), ("specificity", "specificity"), ("PPV", "ppv"), ("NPV", "npv"),
            ("accuracy", "accuracy"), ("F1", "f1"))]
        rows += [("Brier", lambda b: _fmt(b.get("brier"))),
                 ("calibration-in-the-large", lambda b: _fmt(b.get("calibration_in_the_large"))),
                 ("Intercept (rms val.prob)", lambda b: _fmt(b.get("val_prob_intercept"))),
                 ("Slope (rms val.prob)", lambda b: _fmt(b.get("calibration_slope")))]
        for label, get in rows:
            t.add_row(label, *[get(b) for b in scores.values()])
        return t

    tables.append(scores_table(f"truth: {result['truth']} (AUC CI: "
                               f"{next(iter(result['scores'].values()))['auc_ci_method']})", result["scores"]))
    if result["comparisons"]:
        t = Table(title="paired DeLong tests")
        for col in ("a", "b", "AUC a - b (95% CI)", "z", "p"):
            t.add_column(col)
        for c in result["comparisons"]:
            lo, hi = c["auc_diff_ci"]
            t.add_row(c["a"], c["b"], f"{_fmt(c['auc_diff'])} ({_fmt(lo)} to {_fmt(hi)})", _fmt(c["z"], 2),
                      "-" if c["p"] is None else f"{c['p']:.3g}")
        tables.append(t)
    for col, groups in result.get("subgroups", {}).items():
        for value, g in groups.items():
            tables.append(scores_table(f"subgroup {col} = {value}", g["scores"]))
    return tables


def result_notes(result: dict[str, Any]) -> list[str]:
    """Lines saying what was left out or is undefined (unlabelled rows, missing CIs)."""
    notes = []
    for key, where in (("n_unlabelled_excluded", result.get("input")),
                       ("threshold_from_n_unlabelled_excluded", result.get("threshold_from"))):
        if result.get(key):
            notes.append(f"left out {result[key]} row(s) of {where} with no {result['truth']!r} "
                         f"value ({key} in the JSON)")
    for name, b in result["scores"].items():
        for key in ("auc_ci_note", "direction_note", "threshold_note"):
            if b.get(key):
                notes.append(f"{name}: {b[key]}")
    return notes


def print_result(result: dict[str, Any], console: Console | None = None) -> None:
    """Print :func:`result_tables` and :func:`result_notes` to the console."""
    console = console or Console()
    for t in result_tables(result):
        console.print(t)
    for line in result_notes(result):
        console.print(f"note: {line}", markup=False)
