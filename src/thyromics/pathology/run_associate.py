"""``thyromics associate``: read the tables, run :func:`~thyromics.pathology.associate.associate`,
write the tables, the figures and the provenance."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pandas as pd

from thyromics.errors import InputError
from thyromics.io import tables as table_io
from thyromics.layout import ASSOCIATE
from thyromics.pathology.associate import AssociationSettings, associate, compare_groups

__all__ = ["read_table", "run_associate", "check_units"]


def read_table(path: str | Path, what: str) -> pd.DataFrame:
    """A table (:func:`thyromics.io.tables.read_table`) with a ``patient_id`` column, read as text."""
    frame = table_io.read_table(path, what=what, text=["patient_id"])
    if "patient_id" not in frame.columns:
        raise InputError(f"file {path}: {what} has no patient_id column; found {list(frame.columns)[:12]}. "
                         "Pathology tables come from `thyromics pathology features` (patient_features.csv).")
    return frame.assign(patient_id=frame["patient_id"].astype(str))


def check_units(tables: dict[str, pd.DataFrame], paths: dict[str, str | Path]) -> str | None:
    """The one size unit of the pathology tables (their ``size_unit`` column), or an ``InputError``.

    A table whose rows have several units, or tables whose units differ, cannot be pooled:
    an area in pixels and one in square micrometres differ by the square of the resolution.
    """
    units: dict[str, set[str]] = {}
    for name, frame in tables.items():
        if "size_unit" in frame.columns:
            found = set(frame["size_unit"].dropna().astype(str))
            if len(found) > 1:
                raise InputError(f"file {paths[name]}: the size_unit column holds {sorted(found)}; rows in "
                                 "different units cannot be pooled. Recompute every slide with a trusted mpp "
                                 "(`thyromics pathology tiles` ... `features`).")
            units[name] = found
    all_units = set().union(*units.values()) if units else set()
    if len(all_units) > 1:
        raise InputError("the --with tables are in different size units "
                         f"({ {str(paths[k]): sorted(v) for k, v in units.items()} }); they cannot be pooled. "
                         "Recompute them all with a trusted mpp.")
    return next(iter(all_units)) if all_units else None


def run_associate(imaging: str | Path, with_tables: list[str | Path], settings: AssociationSettings,
                  out: str | Path, *, threshold_from: str | Path | None = None,
                  composite: str | None = None, split: str | None = None) -> dict[str, Any]:
    """Run the association analysis and write ``OUT/associations.csv``, ``OUT/correlations.csv``,
    ``OUT/figures/*.png`` and ``OUT/associate.provenance.json`` (plus ``composite.json`` and
    ``composite_test.csv`` with ``composite``).

    ``threshold_from``: the ``-o`` JSON of ``thyromics evaluate``; the threshold of the score
    ``by`` is carried unchanged. ``composite``: the imaging-table outcome column on which a
    composite pathology score is chosen -- only on the patients whose ``split`` is ``train``,
    then tested between the phenotype groups on the others (refused without ``split``).
    """
    from thyromics.pathology import figures
    from thyromics.pathology.composite import composite_split
    from thyromics.provenance import atomic_write, atomic_write_json, file_sha256, now_iso, package_versions

    if not with_tables:
        raise InputError("give at least one --with table (pathology or protein).")
    if composite is not None and not split:
        composite_split(pd.DataFrame(), [], composite, None)  # raises: the circularity guard
    if threshold_from is not None:
        from thyromics.evaluate.api import thresholds_from

        thr = thresholds_from(threshold_from)
        if settings.by not in thr:
            raise InputError(f"file {threshold_from}: no threshold for {settings.by!r}; it has {sorted(thr)}.")
        settings = replace(settings, threshold=thr[settings.by])
    out = Path(out)
    img = read_table(imaging, "the imaging table")
    tables: dict[str, pd.DataFrame] = {}
    for p in with_tables:
        name = Path(p).stem
        while name in tables:
            name += "_2"
        tables[name] = read_table(p, "the --with table")
    check_units(tables, dict(zip(tables, with_tables)))
    res = associate(img, tables, settings)
    outputs: dict[str, Path] = {}
    groups, corr = res["groups"], res["correlations"]
    if len(groups):
        outputs["associations"] = atomic_write(ASSOCIATE.at(out, "associations"), lambda p: groups.to_csv(p, index=False))
    if len(corr):
        outputs["correlations"] = atomic_write(ASSOCIATE.at(out, "correlations"), lambda p: corr.to_csv(p, index=False))
    if len(groups) and groups["p"].notna().any():
        outputs["volcano"] = figures.volcano(groups, ASSOCIATE.at(out, "volcano"), alpha=settings.alpha)
        outputs["boxplots"] = figures.boxplots(res["joined"], groups,
                                                ASSOCIATE.at(out, "boxplots"))
        for source, feats in res["ordinal"].items():
            if feats:
                outputs[f"grades_{source}"] = figures.stacked_bars(res["joined"][source], feats,
                                                                   ASSOCIATE.at(out, "grades", source=source))
    if len(corr) and corr["rho"].notna().any():
        outputs["heatmap"] = figures.heatmap(corr, ASSOCIATE.at(out, "heatmap"), alpha=settings.alpha)
    comp_info = None
    if composite is not None:
        if res["phenotype"] is None:
            raise InputError("--composite is tested between phenotype groups: give a two-level --by or --threshold.")
        first = next(iter(res["joined"]))
        j = res["joined"][first].merge(img[["patient_id", composite, split]], on="patient_id", how="left")
        feats = [c for c in tables[first].columns if c in j.columns and c not in
                 ("patient_id", "_group", settings.by, composite, split, *res["scores"])
                 and pd.api.types.is_numeric_dtype(j[c])]
        comp, test = composite_split(j, feats, composite, split)
        row = {"source": first, "feature": "composite", **compare_groups(test["composite"], test["_group"],
                                                                         test=settings.test)}
        comp_info = {**asdict(comp), "test_on_other_patients": row, "n_test": len(test)}
        outputs["composite"] = atomic_write_json(ASSOCIATE.at(out, "composite"), comp_info)
        outputs["composite_test"] = atomic_write(
            ASSOCIATE.at(out, "composite_test"), lambda p: test[["patient_id", "_group", "composite"]]
            .rename(columns={"_group": "phenotype"}).to_csv(p, index=False))
    prov = {"stage": "associate", "created": now_iso(), "settings": asdict(settings),
            "imaging": {"path": str(imaging), "sha256": file_sha256(imaging)},
            "with": {k: {"path": str(p), "sha256": file_sha256(p)} for k, p in zip(tables, with_tables)},
            "threshold_from": str(threshold_from) if threshold_from else None,
            "n_patients": {k: len(v) for k, v in res["joined"].items()},
            "n_high_low": ({k: v["_group"].value_counts().to_dict() for k, v in res["joined"].items()}
                           if res["phenotype"] is not None else None),
            "fdr": "Benjamini-Hochberg within each source table and analysis",
            "composite": {"outcome": composite, "split": split} if composite else None,
            "versions": package_versions(("thyromics", "numpy", "scipy", "pandas", "statsmodels", "matplotlib"))}
    outputs["provenance"] = atomic_write_json(ASSOCIATE.at(out, "provenance"), prov)
    n_sig = int(groups["significant"].sum()) if len(groups) else 0
    n_sig_corr = int((corr["q"] < settings.alpha).sum()) if len(corr) else 0
    n_tested = int(groups["p"].notna().sum()) if len(groups) else int(corr["p"].notna().sum())
    return {"outputs": outputs, "n_tested": n_tested, "groups": groups, "correlations": corr, "n_significant": n_sig,
            "n_significant_correlations": n_sig_corr, "composite": comp_info, "settings": settings,
            "n_features": len(groups) if len(groups) else int(corr[["source", "feature"]].drop_duplicates().shape[0])}
