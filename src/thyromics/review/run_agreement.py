"""``thyromics agreement``: agreement between readers' masks over a cohort.

Each mask source is a column of the manifest, or ``FILE.csv:COLUMN`` for a column of
another table joined on ``case_id`` (a reader's ``review/NAME/cases.csv`` and its
``reviewed_mask`` column, for instance); paths are relative to their own CSV's folder.
Every pair of sources is compared (first vs second, ...).

Masks are read by :func:`thyromics.io.read_mask` on the case's image (and its
``series_uid``), so RTSTRUCT, DICOM SEG and Slicer masks work as in extraction: the
structure is the source's own ``roi`` cell (a ``FILE.csv`` with a ``roi`` column, else
the manifest's), or ``roi=`` (``--roi``) where that is empty; it is applied to the masks
that name structures, not to voxel label images (one case may compare an RTSTRUCT
proposal with its NIfTI correction).

Outputs in the folder ``OUT``:

``per_case.csv``        one row per case and comparison (:func:`~thyromics.review.agreement.compare_masks`)
``summary.csv``         one row per comparison (:func:`~thyromics.review.agreement.summarize`)
``group_tests.csv``     computed tests (:func:`~thyromics.review.agreement.group_tests`)
``feature_icc.csv``     ICC(2,1) with 95% CI of every radiomics feature across all sources
``errors.csv``          ``case_id, source, stage, error`` of every case that failed
``agreement.png``       Dice box plots and modification classes per comparison
``bland_altman_<i>.png`` the volume Bland-Altman plot of comparison ``i``
``summary.json``        the key numbers and the features that are not reproducible
``provenance.json``     versions, settings, and the hash of every mask file

Text cells that a spreadsheet would run as a formula get a leading ``'`` in every CSV
(:func:`thyromics.csvsafe.safe_frame`); a ``FILE.csv`` source is read back without it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from thyromics.batch import write_errors
from thyromics.csvsafe import restore_frame, safe_frame
from thyromics.errors import CaseError, InputError
from thyromics.layout import AGREEMENT

__all__ = ["MaskSource", "AgreementResult", "resolve_source", "resolve_sources", "run_agreement"]


@dataclass(frozen=True)
class MaskSource:
    """A set of masks: ``name`` shown in tables, ``paths`` case_id -> file (None: empty cell),
    ``rois`` case_id -> the structure / segment of that mask (None: none named)."""

    name: str
    spec: str
    paths: dict[str, Path | None]
    rois: dict[str, str | None] = field(default_factory=dict)


@dataclass
class AgreementResult:
    """What :func:`run_agreement` wrote and its key numbers."""

    output: Path
    n_cases: int
    n_ok: int
    summary: Any
    feature_icc: Any | None
    not_reproducible: list[str] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        out = [f"{self.n_ok} of {self.n_cases} cases compared; {len(self.errors)} problem(s); "
               f"{self.seconds:.1f} s."]
        for r in self.summary.to_dict("records"):
            out.append(f"  {r['comparison']}: Dice {r['dice_mean']:.3f} ± {r['dice_sd']:.3f} "
                       f"(95% CI {r['dice_ci_low']:.3f}-{r['dice_ci_high']:.3f}), median "
                       f"{r['dice_median']:.3f} (IQR {r['dice_q1']:.3f}-{r['dice_q3']:.3f}); "
                       f"acceptable {r['pct_acceptable']:.1f}%, unmodified {r['pct_unmodified']:.1f}%")
        if self.feature_icc is not None:
            n = int(self.feature_icc["icc"].notna().sum())
            out.append(f"  feature ICC(2,1): {n} features, {len(self.not_reproducible)} not "
                       f"reproducible (ICC below the threshold)")
        out.append(f"  outputs: {self.output}")
        return out


def _cell_path(value: Any, base: Path) -> Path | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return (base / text).resolve() if text else None


def resolve_source(manifest: Any, spec: str) -> MaskSource:
    """One mask source: a manifest column, or ``FILE.csv:COLUMN`` joined on ``case_id``.

    Raises
    ------
    InputError
        No such column or file, or a CSV without ``case_id``.
    """
    import pandas as pd

    frame = manifest.frame
    file, sep, col = spec.rpartition(":")
    if sep and file.lower().endswith(".csv"):
        path = Path(file).expanduser().resolve()
        if not path.is_file():
            raise InputError(f"mask source {spec}: no such file {path}.")
        other = restore_frame(pd.read_csv(path, dtype=str, keep_default_na=False))
        if "case_id" not in other.columns or col not in other.columns:
            raise InputError(f"mask source {spec}: {path} needs columns case_id and {col!r}; "
                             f"found {', '.join(other.columns)}.")
        cells = dict(zip(other["case_id"].astype(str), other[col]))
        paths = {str(cid): _cell_path(cells.get(str(cid)), path.parent) for cid in frame["case_id"]}
        if "roi" in other.columns:  # the table names its own masks' structures
            own = dict(zip(other["case_id"].astype(str), other["roi"]))
            rois = {c.case_id: str(own.get(c.case_id, "")).strip() or None for c in manifest.cases}
        else:
            rois = {c.case_id: c.roi for c in manifest.cases}
        return MaskSource(f"{path.parent.name}:{col}", spec, paths, rois)
    if spec not in frame.columns:
        shown = ", ".join(c for c in frame.columns if c not in ("row", "image_path", "mask_path"))
        raise InputError(f"mask source {spec}: no such column in {manifest.path}; columns: {shown}. "
                         "A column of another CSV is written FILE.csv:COLUMN.")
    base = manifest.path.parent
    return MaskSource(spec, spec, {str(c): _cell_path(v, base) for c, v in zip(frame["case_id"], frame[spec])},
                      {c.case_id: c.roi for c in manifest.cases})


def resolve_sources(manifest: Any, specs: list[str]) -> list[MaskSource]:
    """The mask sources of ``--masks`` (at least two; see :func:`resolve_source`)."""
    if len(specs) < 2:
        raise InputError(f"--masks needs at least two mask sources, got {len(specs)}: {specs}.")
    out = [resolve_source(manifest, spec) for spec in specs]
    names = [s.name for s in out]
    if len(set(names)) < len(names):
        out = [replace(s, name=s.spec) for s in out]
    return out


def _settings(preset: str, ndim: int, original_only: bool) -> Any:
    from thyromics.features.presets import get_preset

    name = ("us" if ndim == 2 else "ct") if preset == "auto" else preset
    settings = get_preset(name)
    if original_only:
        settings = settings.replace(log_sigmas=(), wavelet=False, image_types=())
    return settings


def _feature_icc(values: dict[str, list[dict[str, float]]], names: list[str], threshold: float) -> Any:
    """ICC(2,1) per feature over the cases whose every source gave that feature."""
    import pandas as pd

    from thyromics.review.icc import icc2_1

    cases = list(values)
    columns = list(values[cases[0]][0]) if cases else []
    cube = np.array([[[vals.get(c, np.nan) for c in columns] for vals in values[cid]]
                     for cid in cases], dtype=float)  # (n, k, m)
    rows = []
    complete = np.isfinite(cube).all(axis=(0, 1))
    res_all = icc2_1(cube[:, :, complete]) if complete.any() and len(cases) >= 2 else None
    index = {j: i for i, j in enumerate(np.flatnonzero(complete))}
    for j, col in enumerate(columns):
        if j in index and res_all is not None:
            res = {k: (v[index[j]] if isinstance(v, np.ndarray) else v) for k, v in res_all.items()}
            n = len(cases)
        else:
            ok = np.isfinite(cube[:, :, j]).all(axis=1)
            n = int(ok.sum())
            res = icc2_1(cube[ok, :, j]) if n >= 2 else None
        row = {"feature": col, "n_cases": n, "icc": math.nan, "ci_low": math.nan,
               "ci_high": math.nan, "f": math.nan, "df1": math.nan, "df2": math.nan, "p": math.nan}
        if res is not None:
            row.update(icc=res["icc"], ci_low=res["lower"], ci_high=res["upper"], f=res["f"],
                       df1=res["df1"], df2=res["df2"], p=res["p"])
        icc = row["icc"]
        row["reproducible"] = bool(icc >= threshold) if np.isfinite(icc) else None
        row["note"] = ("" if np.isfinite(icc) else
                       "undefined: fewer than 2 cases" if n < 2 else "undefined: no variance")
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class _CaseTask:
    case_id: str
    image: Path
    paths: tuple[tuple[str, str, Path | None, str | None], ...]  # (name, spec, path, roi)
    label: int | None
    group_value: Any
    group: str | None
    settings: Any  # FeatureSettings or None (no feature ICC)
    series_uid: str | None = None


def _agree_case(task: _CaseTask) -> dict[str, Any]:
    """One case: pairwise agreement rows, the masks' hashes, features per source, errors."""
    from thyromics.io import check_geometry, read_image, read_mask
    from thyromics.io._masks import applicable_roi
    from thyromics.provenance import file_sha256
    from thyromics.review.agreement import compare_masks

    cid = task.case_id
    out: dict[str, Any] = {"rows": [], "hashes": {}, "features": None, "errors": []}
    current = task.paths[0][0]
    try:
        read = []
        for name, spec, path, roi in task.paths:
            current = name
            if path is None:
                raise CaseError(f"no mask in {spec!r} (empty cell).", case_id=cid)
            read.append(read_mask(path, label=task.label, roi=applicable_roi(path, roi),
                                  image=task.image, image_series_uid=task.series_uid))
            out["hashes"][name] = file_sha256(path) if path.is_file() else ""
        for (name, *_), m in zip(task.paths[1:], read[1:]):
            current = name
            check_geometry(read[0], m, case_id=cid)
        current = "all"
        for (i, a), (j, b) in combinations(enumerate(read), 2):
            na, nb = task.paths[i][0], task.paths[j][0]
            row = {"case_id": cid, "comparison": f"{na} vs {nb}", "a": na, "b": nb}
            if task.group:
                row[task.group] = task.group_value
            row.update(compare_masks(a.array, b.array, read[0].spacing))
            out["rows"].append(row)
    except CaseError as e:
        out["errors"].append({"case_id": cid, "source": current, "stage": e.stage,
                              "error": e.reason, "file": e.file or ""})
        out["ok"] = False
        return out
    out["ok"] = True
    if task.settings is not None:
        try:
            from thyromics.features.engine import extract_features

            image = read_image(task.image, series_uid=task.series_uid)
            check_geometry(image, read[0], case_id=cid)
            out["features"] = [extract_features(image, m, task.settings, case_id=cid).values
                               for m in read]
        except CaseError as e:
            out["errors"].append({"case_id": cid, "source": "image", "stage": "features",
                                  "error": e.reason, "file": e.file or ""})
    return out


def run_agreement(cases: str | Path, masks: list[str], output: str | Path, *,
                  preset: str | None = "auto", original_only: bool = False,
                  icc_threshold: float = 0.75, group: str | None = None, label: int | None = None,
                  on_case: Callable[[str, bool], None] | None = None,
                  jobs: int = 1, roi: str | None = None) -> AgreementResult:
    """Compare every pair of mask sources on every case; write the outputs (see the module).

    Parameters
    ----------
    cases : str or Path
        The manifest (its ``image`` column is used for the feature ICC).
    masks : list of str
        Two or more sources: manifest columns or ``FILE.csv:COLUMN``.
    output : str or Path
        Output folder.
    preset : str or None
        Radiomics preset of the feature ICC (``auto``: ``us`` for 2D, ``ct`` for 3D);
        None skips it.
    original_only : bool
        Drop the filtered images (LoG, wavelet ...) from the preset.
    icc_threshold : float
        Features with ICC(2,1) below it are listed as not reproducible (0.75: "good"
        reliability, Koo & Li 2016, J Chiropr Med 15:155).
    group : str, optional
        Manifest column whose groups are compared.
    label : int, optional
        Lesion value in multi-label masks.
    roi : str, optional
        RTSTRUCT structure / SEG or Slicer segment name for cases whose source has no
        ``roi`` cell (see the module notes).
    on_case : callable, optional
        ``on_case(case_id, ok)`` after each case (progress bars).
    jobs : int
        Local worker processes (cases in parallel; 1 runs in this process).
    """
    import pandas as pd

    from thyromics.io import read_image, read_manifest
    from thyromics.parallel import run_tasks
    from thyromics.provenance import atomic_write, atomic_write_json, package_versions
    from thyromics.review.agreement import group_tests, summarize

    t0 = time.perf_counter()
    manifest = read_manifest(cases, check_files=False)
    if group is not None and group not in manifest.frame.columns:
        raise InputError(f"--group {group}: no such column in {manifest.path}.")
    sources = resolve_sources(manifest, masks)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    groups = manifest.frame.set_index("case_id")[group].to_dict() if group else {}
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    features: dict[str, list[dict[str, float]]] = {}
    hashes: dict[str, dict[str, str]] = {}
    settings = None
    for case in manifest.cases if preset is not None else []:
        try:  # the preset's 2D/3D variant follows the first readable image
            settings = _settings(preset, read_image(case.image, series_uid=case.series_uid).ndim,
                                 original_only)
            break
        except CaseError:
            continue  # that case's own task reports the unreadable image
    tasks = [(case.case_id, _CaseTask(
        case.case_id, Path(case.image),
        tuple((s.name, s.spec, s.paths.get(case.case_id), s.rois.get(case.case_id) or roi)
              for s in sources), label, groups.get(case.case_id), group, settings,
        case.series_uid)) for case in manifest.cases]
    order = {cid: i for i, (cid, _) in enumerate(tasks)}
    done: dict[str, dict[str, Any]] = {}
    for outcome in run_tasks(_agree_case, tasks, jobs=jobs):
        res = outcome.result if outcome.ok else {
            "ok": False, "rows": [], "hashes": {}, "features": None,
            "errors": [{"case_id": outcome.key, "source": "all", "stage": "agreement",
                        "error": f"{type(outcome.error).__name__}: {outcome.error}", "file": ""}]}
        done[outcome.key] = res
        if on_case:
            on_case(outcome.key, res["ok"])
    for cid in sorted(done, key=order.get):  # manifest order, whatever finished first
        res = done[cid]
        rows += res["rows"]
        errors += res["errors"]
        if res["hashes"]:
            hashes[cid] = res["hashes"]
        if res["features"] is not None:
            features[cid] = res["features"]

    per_case = pd.DataFrame(rows)
    n_ok = int(per_case["case_id"].nunique()) if len(per_case) else 0
    if n_ok == 0:
        summary = pd.DataFrame(columns=["comparison"])
    else:
        summary = summarize(per_case)
        safe_frame(per_case).to_csv(AGREEMENT.at(out, "per_case"), index=False)
        safe_frame(summary).to_csv(AGREEMENT.at(out, "summary"), index=False)
        safe_frame(group_tests(per_case, group)).to_csv(AGREEMENT.at(out, "group_tests"),
                                                              index=False)
        from thyromics.review.figures import agreement_figure, bland_altman_figure

        agreement_figure(per_case, AGREEMENT.at(out, "figure"))
        for i, comp in enumerate(dict.fromkeys(per_case["comparison"]), start=1):
            bland_altman_figure(per_case[per_case["comparison"] == comp], comp,
                                AGREEMENT.at(out, "bland_altman", i=i))
    write_errors(AGREEMENT, out, errors, safe=True)
    icc_table, bad = None, []
    if preset is not None and len(features) >= 2:
        icc_table = _feature_icc(features, [s.name for s in sources], icc_threshold)
        atomic_write(AGREEMENT.at(out, "feature_icc"), lambda p: safe_frame(icc_table).to_csv(p, index=False))
        bad = icc_table.loc[icc_table["reproducible"] == False, "feature"].tolist()  # noqa: E712
    settings_json = settings.to_dict() if settings is not None else None
    atomic_write_json(AGREEMENT.at(out, "summary_json"), {
        "sources": [s.spec for s in sources], "n_cases": len(manifest.cases), "n_compared": n_ok,
        "comparisons": summary.to_dict("records"), "icc_threshold": icc_threshold,
        "n_features": None if icc_table is None else int(len(icc_table)),
        "n_feature_cases": len(features), "not_reproducible": bad, "errors": len(errors)})
    atomic_write_json(AGREEMENT.at(out, "provenance"), {
        "command": "agreement", "manifest": str(manifest.path), "sources": [s.spec for s in sources],
        "preset": preset, "original_only": original_only, "label": label, "roi": roi,
        "feature_settings": settings_json, "versions": package_versions(), "mask_sha256": hashes})
    return AgreementResult(out, len(manifest.cases), n_ok, summary, icc_table, bad, errors,
                           time.perf_counter() - t0)
