"""The deep-learning step of a study: train, score, threshold, evaluate, explain, embed.

:func:`run_deep_stage` is what ``deep.enabled`` of the study YAML runs (``thyromics run``
only builds its settings and calls it). It trains one lesion classifier on the manifest's
training rows, scores every case, carries a threshold chosen on the validation rows to the
held-out cohorts, evaluates there, draws the Grad-CAM cases, writes the deep features, and
lays the network's results out as a model block (``models/network``) so that the report
reads it like any other block. Every file name comes from :mod:`thyromics.layout`
(:data:`~thyromics.layout.DEEP`, :data:`~thyromics.layout.DEEP_MODEL`,
:data:`~thyromics.layout.MODEL`).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from thyromics.deep.settings import TrainSettings
from thyromics.errors import ThyromicsWarning
from thyromics.layout import DEEP, DEEP_MODEL, MODEL
from thyromics.provenance import atomic_write_json, atomic_write_text

if TYPE_CHECKING:  # pandas is imported when the stage runs
    import pandas as pd

__all__ = ["DeepStageResult", "run_deep_stage", "carried_threshold", "NETWORK_BLOCK",
           "RULE_YOUDEN", "RULE_ONE_CLASS", "FALLBACK_THRESHOLD"]

#: The model block that holds the network's held-out results.
NETWORK_BLOCK = "network"
#: The threshold when the validation rows hold one class (Youden's J is undefined).
FALLBACK_THRESHOLD = 0.5
#: The rule words written to ``run.json`` and ``metrics.json``, by the rule used.
RULE_YOUDEN = "Youden on the validation rows, carried"
RULE_ONE_CLASS = (f"{FALLBACK_THRESHOLD}: the validation rows hold one class (Youden undefined), "
                  "carried")

Log = Callable[[str], None]


@dataclass(frozen=True)
class DeepStageResult:
    """What :func:`run_deep_stage` wrote, and its numbers.

    Attributes
    ----------
    model_dir : Path
        The trained network (``deep/model``).
    predictions, metrics_path, features : Path
        The deep step's predictions, held-out metrics and deep feature table.
    block : Path
        The network's model block (``models/network``).
    gradcam : Path or None
        The Grad-CAM overlays, when any were asked for.
    threshold : float
        The threshold carried to the held-out cohorts.
    threshold_rule : str
        How it was chosen (:data:`RULE_YOUDEN` or :data:`RULE_ONE_CLASS`).
    metrics : dict
        :func:`~thyromics.evaluate.api.evaluate_scores` output per held-out cohort (only
        cohorts holding both classes).
    skipped : list of (case_id, reason)
        Cases the network could not read.
    """

    model_dir: Path
    predictions: Path
    metrics_path: Path
    features: Path
    block: Path
    gradcam: Path | None
    threshold: float
    threshold_rule: str
    metrics: dict[str, Any] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def carried_threshold(val: pd.DataFrame) -> tuple[float, str]:
    """The threshold chosen on the validation rows and the rule that gave it.

    Parameters
    ----------
    val : pandas.DataFrame
        The labelled validation rows, columns ``label`` (0/1) and ``probability``.

    Returns
    -------
    (float, str)
        Youden's cut-point (:func:`~thyromics.evaluate.thresholds.choose_threshold`) and
        :data:`RULE_YOUDEN` when both classes are present; otherwise
        :data:`FALLBACK_THRESHOLD` and :data:`RULE_ONE_CLASS`, with a
        :class:`~thyromics.errors.ThyromicsWarning` naming the fix.
    """
    from thyromics.evaluate.thresholds import choose_threshold

    if val["label"].nunique() == 2:
        return (float(choose_threshold(val["label"].to_numpy(int), val["probability"].to_numpy())),
                RULE_YOUDEN)
    found = sorted(int(v) for v in val["label"].dropna().unique())
    warnings.warn(
        f"deep: the network's {len(val)} labelled validation row(s) hold "
        f"{'no class' if not found else 'only label ' + str(found[0])}, so Youden's threshold "
        f"is undefined; {FALLBACK_THRESHOLD} is carried to the held-out cohorts instead (the "
        "rule is recorded in the network block's run.json). Give more validation cases, or a "
        "manifest split column whose val rows hold both classes.",
        ThyromicsWarning, stacklevel=3)
    return FALLBACK_THRESHOLD, RULE_ONE_CLASS


def run_deep_stage(cases: str | Path, settings: TrainSettings, out: str | Path, *,
                   gradcam: int, log: Log = print) -> DeepStageResult:
    """Train a lesion classifier and write the deep step of the study folder ``out``.

    The network trains on the manifest's training rows and stops early on its
    validation rows (the manifest's ``split`` column, else a seeded patient-grouped
    share, :func:`~thyromics.deep.train.fit_classifier`). It has seen both, so only the
    *other* rows (role ``unused``: the test and external cohorts) are honest: the
    threshold is chosen on the validation rows (:func:`carried_threshold`) and carried
    unchanged to them, and every metric is computed on them alone, per cohort of the
    manifest's ``split`` (``held-out`` without one; cohorts of one class are left out).

    Parameters
    ----------
    cases : path
        The case manifest (``case_id, patient_id, image, mask, label``, optional ``split``).
    settings : TrainSettings
        Network, training and data settings (the seed included).
    out : path
        The study folder; the files below go into its ``deep/`` and ``models/network/``.
    gradcam : int
        Grad-CAM overlays for this many held-out cases (any cases when none is
        held out); 0 writes none.
    log : callable
        Receives one line per event (``"[deep] ..."``).

    Returns
    -------
    DeepStageResult

    Notes
    -----
    Written through :mod:`thyromics.layout`:

    * ``DEEP_MODEL`` (``deep/model/``): the trained network, its settings, history,
      split and skipped cases (:func:`~thyromics.deep.train.fit_classifier`);
    * ``DEEP`` (``deep/``): ``predictions`` (every case with its ``role`` -- train, val
      or unused -- and cohort), ``metrics`` (held-out metrics per cohort, the carried
      threshold's rule in each score's ``threshold_rule``), ``gradcam_cases`` and
      ``gradcam`` (when ``gradcam > 0``), ``features`` (deep features, the model block
      ``deep``);
    * ``MODEL`` block ``network`` (``models/network/``): ``comparison`` (one row per
      held-out cohort), an empty ``delong`` (one network), ``predictions`` (held-out
      rows) and ``run`` (the network, the threshold and its rule), for the report.
    """
    import pandas as pd

    from thyromics.deep.embed import embed_manifest
    from thyromics.deep.gradcam import gradcam_manifest
    from thyromics.deep.train import fit_classifier, predict_classifier
    from thyromics.evaluate.api import evaluate_scores

    cases, out = Path(cases), Path(out)
    deep = DEEP.dir(out)
    model_dir = DEEP_MODEL.dir(out)
    log(f"[deep] training {settings.network} ({settings.data.spatial_dims}D, at most "
        f"{settings.epochs} epochs)")
    fit_classifier(cases, settings, model_dir, progress=False)
    deep.mkdir(parents=True, exist_ok=True)
    pred, skipped = predict_classifier(model_dir, cases, progress=False)
    split = pd.read_csv(DEEP_MODEL.at(model_dir, "split"))[["case_id", "split"]]
    manifest = pd.read_csv(cases, usecols=lambda c: c in ("case_id", "split"))
    pred = pred.merge(split.rename(columns={"split": "role"}), on="case_id", how="left")
    if "split" in manifest:
        pred = pred.merge(manifest, on="case_id", how="left")
    pred.to_csv(DEEP.at(deep, "predictions"), index=False)

    # The network saw the training and validation rows: only the other cohorts are honest.
    val = pred[pred["role"].eq("val") & pred["label"].notna()]
    threshold, rule = carried_threshold(val)
    held_out = pred[pred["role"].fillna("unused").eq("unused") & pred["label"].notna()]
    cohort_of = (held_out["split"] if "split" in held_out
                 else pd.Series("held-out", index=held_out.index))
    metrics = {str(c): evaluate_scores(rows, truth="label", scores=["probability"],
                                       threshold=threshold)
               for c, rows in held_out.groupby(cohort_of) if rows["label"].nunique() == 2}
    for m in metrics.values():
        m["scores"]["probability"]["threshold_rule"] = rule
    atomic_write_text(DEEP.at(deep, "metrics"), json.dumps(metrics, indent=1, default=str))
    block = MODEL.dir(out, block=NETWORK_BLOCK)
    _write_network_block(settings.network, held_out.assign(cohort=cohort_of), metrics, block,
                         threshold=threshold, rule=rule)
    log("[deep] held-out AUC: " + (", ".join(
        f"{k} {v['scores']['probability']['auc']:.3f}" for k, v in metrics.items()) or "none"))

    gradcam_dir = None
    if gradcam:
        picks = (held_out if len(held_out) else pred).head(gradcam)["case_id"]
        sub = DEEP.at(deep, "gradcam_cases")
        full = pd.read_csv(cases)
        chosen = full[full["case_id"].isin(set(picks))].copy()
        for col in ("image", "mask"):  # paths stay valid from the new folder
            chosen[col] = [str((cases.parent / p).resolve()) for p in chosen[col]]
        chosen.to_csv(sub, index=False)
        gradcam_dir = DEEP.at(deep, "gradcam")
        gradcam_manifest(model_dir, sub, gradcam_dir, progress=False)
    table, _ = embed_manifest(model_dir, cases, progress=False)
    table.to_parquet(DEEP.at(deep, "features"))
    if skipped:
        log(f"[deep] {len(skipped)} case(s) skipped: see {DEEP_MODEL.at(model_dir, 'errors')}")
    return DeepStageResult(model_dir=model_dir, predictions=DEEP.at(deep, "predictions"),
                           metrics_path=DEEP.at(deep, "metrics"),
                           features=DEEP.at(deep, "features"), block=block, gradcam=gradcam_dir,
                           threshold=threshold, threshold_rule=rule, metrics=metrics,
                           skipped=list(skipped))


def _write_network_block(network: str, held_out: pd.DataFrame, metrics: dict, out: Path, *,
                         threshold: float, rule: str) -> None:
    """The network's held-out results in the model stage's layout, for the report."""
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for cohort, m in metrics.items():
        s = m["scores"]["probability"]
        rows.append({"model": network, "cohort": cohort, "n": s["n"], "auc": s["auc"],
                     "auc_ci_low": s["auc_ci"][0], "auc_ci_high": s["auc_ci"][1],
                     **{k: s[k]["value"] for k in ("accuracy", "sensitivity", "specificity",
                                                   "ppv", "npv", "f1")},
                     "threshold": s["threshold"]})
    pd.DataFrame(rows).to_csv(MODEL.at(out, "comparison"), index=False)
    # one network: no DeLong comparison inside the block; its explanation is Grad-CAM
    pd.DataFrame(columns=list(MODEL.columns("delong"))).to_csv(MODEL.at(out, "delong"),
                                                               index=False)
    # The report shows "threshold" (the rule, in words) as the block's threshold rule.
    atomic_write_json(MODEL.at(out, "run"), {"stage": "deep", "network": network,
                                             "threshold": rule, "threshold_value": threshold})
    pd.DataFrame({"case_id": held_out["case_id"], "patient_id": held_out["patient_id"],
                  "model": network, "cohort": held_out["cohort"], "fold": -1, "repeat": -1,
                  "y_true": held_out["label"].astype(int), "score": held_out["probability"]}
                 ).to_parquet(MODEL.at(out, "predictions"), index=False)
