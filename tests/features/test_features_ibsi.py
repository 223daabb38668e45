"""IBSI 1 conformance of the engine: digital phantom and CT phantom, configurations A-E.

For every IBSI feature the settings can compute (IBSI tag -> PyRadiomics feature in the
committed table ``tests/fixtures/ibsi/ibsi_to_pyradiomics.csv``), the engine's value is
compared with the IBSI consensus reference and its tolerance. A value passes when it is
within the tolerance, either as computed or rounded to the 3 significant digits the
references are given with. Features that match are asserted to match; features that do
not are listed by :func:`expected_reason` with the reason, and asserted NOT to match, so a
change in either direction fails.

Two conventions are measured: PyRadiomics' (``engine="pyradiomics"``, PyRadiomics'
feature classes; the native engine's ``pyradiomics`` convention equals it to 1e-9, see
``test_native_ibsi.py``) and IBSI's (``engine="native", convention="ibsi"``), with the
settings of :data:`CONFIGS` and, for the ``ibsi`` convention, :data:`IBSI_CHANGES`.

Regenerate the table in ``docs/ibsi_conformance.md`` with::

    .venv/bin/python tests/features/test_features_ibsi.py [path/to/shared/data/ibsi]
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import pandas as pd
import pytest

from thyromics.features.engine import extract_features
from thyromics.features.settings import ExtractionSettings

from test_features_ibsi2 import current_section  # the IBSI 2 section, kept as it is

HERE = Path(__file__).resolve().parents[1]
MAPPING = HERE / "fixtures" / "ibsi" / "ibsi_to_pyradiomics.csv"
#: IBSI tags -> the columns of the IBSI features PyRadiomics lacks (``ibsi_features=True``).
MAPPING_IBSI = HERE / "fixtures" / "ibsi" / "ibsi_to_native_ibsi.csv"
DOC = HERE.parent / "docs" / "ibsi_conformance.md"

# name -> (reference file stem, image folder, settings changes, IBSI texture suffix)
_BASE = dict(original=True, min_roi_dimensions=1, interpolator="sitkLinear")
CONFIGS: dict[str, tuple[str, str, dict, str]] = {
    "phantom-3D": ("digital_phantom", "phase1_digital_phantom",
                   dict(dimensionality="3d", bin_width=1.0), "3D"),
    "phantom-2.5D": ("digital_phantom", "phase1_digital_phantom",
                     dict(dimensionality="2d", bin_width=1.0), "2_5D"),
    "A": ("config_A", "phase1_ct_phantom",
          dict(dimensionality="2d", bin_width=25.0, resegment_range=(-500.0, 400.0)), "2_5D"),
    "B": ("config_B", "phase1_ct_phantom",
          dict(dimensionality="2d", bin_width=None, bin_count=32, resegment_range=(-500.0, 400.0),
               resampled_pixel_spacing=(2.0, 2.0, 0.0)), "2_5D"),
    "C": ("config_C", "phase1_ct_phantom",
          dict(dimensionality="3d", bin_width=25.0, resegment_range=(-1000.0, 400.0),
               resampled_pixel_spacing=(2.0, 2.0, 2.0)), "3D"),
    "D": ("config_D", "phase1_ct_phantom",
          dict(dimensionality="3d", bin_width=None, bin_count=32, resegment_range=(-3.0, 3.0),
               resegment_mode="sigma", resampled_pixel_spacing=(2.0, 2.0, 2.0)), "3D"),
    # E asks for range [-1000, 400] AND mean +- 3 SD; PyRadiomics applies one mode: sigma
    "E": ("config_E", "phase1_ct_phantom",
          dict(dimensionality="3d", bin_width=None, bin_count=32, resegment_range=(-3.0, 3.0),
               resegment_mode="sigma", resampled_pixel_spacing=(2.0, 2.0, 2.0),
               interpolator="sitkBSpline"), "3D"),
}
FAST = ("phantom-3D", "phantom-2.5D", "A")
#: ``pyradiomics``: PyRadiomics' feature classes; ``ibsi``: the native engine, IBSI's definitions.
CONVENTIONS = ("pyradiomics", "ibsi")
#: Settings of the ``ibsi`` convention that differ from :data:`CONFIGS`: the IBSI features
#: PyRadiomics lacks, the texture aggregation variants PyRadiomics lacks that the
#: configuration's references list, and configuration E's range [-1000, 400] HU followed by
#: outlier filtering at mean +- 3 SD.
_VARIANTS_2D = dict(texture_aggregations=("2D_avg", "2D_comb", "2_5D_comb"), ibsi_features=True)
_VARIANTS_3D = dict(texture_aggregations=("3D_comb",), ibsi_features=True)
#: The intensity-volume histogram's discretisation is IBSI's per configuration: none for
#: the phantom and A, B, D (intensities in steps of 1), 2.5 HU bins for C, 1000 bins for E.
IBSI_CHANGES: dict[str, dict] = {
    "phantom-3D": _VARIANTS_3D, "phantom-2.5D": _VARIANTS_2D, "A": _VARIANTS_2D,
    "B": _VARIANTS_2D, "C": dict(**_VARIANTS_3D, ivh_bin_width=2.5), "D": _VARIANTS_3D,
    "E": dict(resegment_range=(-1000.0, 400.0), resegment_mode="absolute",
              resegment_outlier_sd=3.0, **_VARIANTS_3D, ivh_bin_count=1000)}
#: Expected deviations of the ``ibsi`` convention: configuration -> IBSI tag -> reason
#: (none: every mapped feature of every configuration conforms).
IBSI_DEVIATIONS: dict[str, dict[str, str]] = {}

_KURT = "PyRadiomics reports kurtosis, not excess kurtosis (IBSI): ours = reference + 3"
_PCA = ("PyRadiomics takes the PCA axes from the population covariance (divide by N) of the "
        "voxel positions, the IBSI reference from the sample covariance (N - 1): a factor "
        "sqrt(73/74) = 0.9932 on the 74-voxel phantom")
_INTERP = ("interpolation differs: PyRadiomics resamples the mask by nearest neighbour (IBSI: "
           "linear + 0.5 threshold), aligns the new grid on the mask's bounding box (IBSI: "
           "grid centres) and does not round interpolated CT values to integers")
_FBS = ("fixed bin size: PyRadiomics starts the first bin at the ROI minimum floored to a "
        "multiple of the bin width, IBSI at the resegmentation lower bound (-1000 HU)")
_RESEG_E = ("configuration E needs range [-1000, 400] HU AND mean +- 3 SD; PyRadiomics applies "
            "one resegmentation mode (here mean +- 3 SD)")
_CONFIG_REASON = {"B": _INTERP, "C": f"{_INTERP}; {_FBS}", "D": _INTERP,
                  "E": f"{_INTERP}; {_RESEG_E}"}
# Interpolated configurations: the IBSI tags that DO match; every other mapped tag of
# that configuration is an expected deviation for the configuration's reason.
_MATCHING_INTERPOLATED: dict[str, tuple[str, ...]] = {
    "B": ("morph_volume", "morph_vol_approx", "morph_area_mesh", "morph_av", "morph_comp_1",
          "morph_sph_dispr", "morph_sphericity", "morph_diam", "morph_pca_maj_axis",
          "morph_pca_min_axis", "morph_pca_least_axis", "morph_pca_elongation", "stat_mean",
          "stat_var", "stat_skew", "stat_median", "stat_min", "stat_p10", "stat_max",
          "stat_iqr", "stat_range", "stat_mad", "stat_rmad", "stat_energy", "stat_rms",
          "cm_joint_avg_2_5D_avg", "cm_sum_avg_2_5D_avg", "cm_inv_diff_norm_2_5D_avg",
          "cm_inv_diff_mom_norm_2_5D_avg", "cm_inv_var_2_5D_avg", "cm_auto_corr_2_5D_avg",
          "cm_info_corr1_2_5D_avg", "rlm_hgre_2_5D_avg", "rlm_srhge_2_5D_avg",
          "rlm_lrhge_2_5D_avg", "szm_sze_2_5D", "szm_lze_2_5D", "szm_hgze_2_5D",
          "szm_szhge_2_5D", "szm_lzlge_2_5D", "szm_lzhge_2_5D", "szm_glnu_norm_2_5D",
          "szm_zsnu_norm_2_5D", "szm_zs_var_2_5D", "szm_zs_entr_2_5D", "ngt_busyness_2_5D",
          "ngt_complexity_2_5D", "ngt_strength_2_5D", "ngl_hgce_2_5D", "ngl_ldhge_2_5D",
          "ngl_hdlge_2_5D", "ngl_hdhge_2_5D"),
    "C": ("morph_diam", "morph_pca_maj_axis", "morph_pca_min_axis", "morph_pca_elongation",
          "stat_p90", "cm_joint_max_3D_avg", "cm_diff_var_3D_avg", "cm_contrast_3D_avg",
          "cm_inv_diff_norm_3D_avg", "cm_inv_diff_mom_norm_3D_avg", "rlm_sre_3D_avg",
          "rlm_lre_3D_avg", "rlm_rlnu_norm_3D_avg", "rlm_r_perc_3D_avg", "rlm_rl_var_3D_avg",
          "szm_glnu_3D", "szm_zsnu_3D", "szm_gl_var_3D", "ngt_coarseness_3D", "ngl_lde_3D",
          "ngl_hde_3D"),
    "D": ("morph_diam", "morph_pca_maj_axis", "morph_pca_min_axis", "morph_pca_elongation",
          "stat_iqr", "stat_range", "cm_inv_diff_mom_norm_3D_avg", "rlm_lre_3D_avg",
          "rlm_lgre_3D_avg", "rlm_srlge_3D_avg", "rlm_lrlge_3D_avg", "rlm_r_perc_3D_avg",
          "szm_glnu_3D", "ngt_complexity_3D", "ngt_strength_3D", "ngl_hde_3D", "ngl_lgce_3D",
          "ngl_hdlge_3D", "ngl_glnu_3D"),
    "E": ("morph_diam", "morph_pca_maj_axis", "morph_pca_min_axis", "morph_pca_elongation",
          "stat_p90", "stat_iqr", "cm_inv_var_3D_avg", "cm_info_corr1_3D_avg",
          "ngt_coarseness_3D", "ngl_lgce_3D"),
}
# Not computable with PyRadiomics (no equivalent feature), listed in the docs.
NOT_COMPUTED_IBSI = (
    "The oriented minimum bounding box and minimum volume enclosing ellipsoid densities and "
    "the area under the intensity-volume histogram have no IBSI 1 reference value (not "
    "standardised): the first two are not computed, the area is (`IntensityVolumeAUC`) but is "
    "not compared; NGLDM normalised grey level non-uniformity and dependence count percentage "
    "are PyRadiomics' deprecated columns, which both engines leave empty (they equal the "
    "intensity histogram's uniformity and 1); the IBSI features PyRadiomics lacks have no "
    "texture aggregation variants, except the GLDZM (NGLDM dependence count energy comes with "
    "the usual aggregation only)")
NOT_COMPUTED = (
    "morphology: centre of mass shift, bounding-box / ellipsoid / convex-hull densities, "
    "integrated intensity, Moran's I, Geary's C; local and global intensity peak; "
    "intensity histogram features other than entropy and uniformity (PyRadiomics' "
    "first-order statistics use the raw, not the discretised, intensities); intensity-"
    "volume histogram; GLCM/GLRLM per-slice (2D) and merged variants (PyRadiomics averages "
    "per-direction features of matrices merged over slices = IBSI 2.5D direction-merged, or "
    "3D averaged); distance zone matrix; NGLDM dependence count energy; NGLDM normalised grey "
    "level non-uniformity and dependence count percentage (deprecated in PyRadiomics, which "
    "returns NaN for them)")


def expected_reason(config: str, tag: str, convention: str = "pyradiomics") -> str:
    """Why a mapped feature is expected NOT to match ('' = expected to match)."""
    if convention == "ibsi":
        return IBSI_DEVIATIONS.get(config, {}).get(tag, "")
    reasons = []
    if tag == "stat_kurt":
        reasons.append(_KURT)
    if config == "phantom-3D" and tag in ("morph_pca_min_axis", "morph_pca_least_axis"):
        reasons.append(_PCA)
    if config in _MATCHING_INTERPOLATED and tag not in _MATCHING_INTERPOLATED[config]:
        reasons.append(_CONFIG_REASON[config])
    return "; ".join(dict.fromkeys(reasons))


def _mapping(convention: str = "pyradiomics") -> pd.DataFrame:
    """IBSI tag -> column (``source``: ``pyradiomics`` for PyRadiomics' features, ``ibsi``
    for the IBSI features PyRadiomics lacks, mapped under the ``ibsi`` convention only)."""
    table = pd.read_csv(MAPPING).assign(source="pyradiomics")
    if convention == "ibsi":
        table = pd.concat([table, pd.read_csv(MAPPING_IBSI).assign(source="ibsi")],
                          ignore_index=True)
    return table


def _settings(changes: dict, convention: str = "pyradiomics") -> ExtractionSettings:
    """The settings of a configuration: PyRadiomics' engine, or the native engine's ``ibsi``
    convention (named explicitly: the default engine is the native one)."""
    from radiomics import getFeatureClasses

    fc = getFeatureClasses()
    engine = (dict(engine="pyradiomics") if convention == "pyradiomics"
              else dict(engine="native", convention=convention))
    return ExtractionSettings(**{**_BASE, **changes}, **engine, feature_subsets={
        "shape": tuple(fc["shape"].getFeatureNames()), "gldm": tuple(fc["gldm"].getFeatureNames())})


def config_changes(name: str, convention: str = "pyradiomics") -> dict:
    """The settings changes of a configuration under a convention."""
    changes = CONFIGS[name][2]
    return {**changes, **IBSI_CHANGES.get(name, {})} if convention == "ibsi" else changes


from _helpers import read_image as _read, round_sig as _round_sig  # noqa: E402


@functools.lru_cache(maxsize=32)
def run_config(ibsi_dir: Path, name: str, convention: str = "pyradiomics") -> pd.DataFrame:
    """Conformance rows of one configuration under a convention (cached: do not modify)."""
    ref_stem, folder, _, suffix = CONFIGS[name]
    changes = config_changes(name, convention)
    refs = pd.read_csv(ibsi_dir / "reference_values" / f"ibsi_1_reference_values_{ref_stem}.csv",
                       encoding="utf-8-sig").set_index("tag")
    image = _read(ibsi_dir / folder / "image" / "phantom.nii.gz")
    mask = _read(ibsi_dir / folder / "mask" / "mask.nii.gz")
    result = extract_features(image, mask, _settings(changes, convention), case_id=f"ibsi-{name}")
    variants = changes.get("texture_aggregations", ())
    rows, seen = [], set()
    for _, m in _mapping(convention).iterrows():
        stem, feature = m["ibsi_feature"], m["pyradiomics_feature"]
        family = stem.split("_", 1)[0]
        if family in ("morph", "stat", "ih", "loc") and name == "phantom-2.5D":
            continue  # identical to phantom-3D
        # the texture variants are columns of PyRadiomics' features and of the GLDZM
        varied = m["source"] == "pyradiomics" or family == "dzm"
        for tag, column in _tags(stem, feature, suffix, variants if varied else ()):
            if tag in seen or tag not in refs.index or pd.isna(refs.loc[tag, "reference value"]):
                continue
            seen.add(tag)
            ref = float(refs.loc[tag, "reference value"])
            tol = float(refs.loc[tag, "tolerance"])
            ours = result.values[f"original_{column}"]
            ok = bool(abs(ours - ref) <= tol + 1e-12 * abs(ref)
                      or abs(_round_sig(ours) - ref) <= tol + 1e-9 * abs(ref))
            reason = expected_reason(name, tag, convention)
            rows.append(dict(config=name, convention=convention, ibsi_tag=tag,
                             ibsi_name=f"{refs.loc[tag, 'family']}: {refs.loc[tag, 'feature']}",
                             pyradiomics=column, ours=ours, reference=ref, tolerance=tol,
                             passed=ok, expected="deviation" if reason else "match",
                             reason=reason or ""))
    return pd.DataFrame(rows)


def _tags(stem: str, feature: str, suffix: str, variants: tuple[str, ...]) -> list[tuple[str, str]]:
    """``(IBSI tag, column without the image type)`` of one mapped feature: the usual
    column, then the columns of the texture aggregation ``variants``
    (:mod:`thyromics.features.native._aggregate`)."""
    family = stem.split("_", 1)[0]
    if family in ("cm", "rlm"):
        return [(f"{stem}_{suffix}_avg", feature)] + [(f"{stem}_{v}", f"{feature}_{v}")
                                                      for v in variants]
    if family in ("szm", "ngt", "ngl", "dzm"):
        dims = dict.fromkeys(v.rsplit("_", 1)[0] for v in variants)
        return [(f"{stem}_{suffix}", feature)] + [(f"{stem}_{d}", f"{feature}_{d}") for d in dims]
    return [(stem, feature)]


def _check(table: pd.DataFrame) -> None:
    wrong = table[table["passed"] != (table["expected"] == "match")]
    lines = [f"{r.config} [{r.convention}] {r.ibsi_tag} ({r.pyradiomics}): ours {r.ours:.6g}, "
             f"reference "
             f"{r.reference:.6g} +- {r.tolerance:g}, passed={r.passed}, expected {r.expected}"
             for r in wrong.itertuples()]
    assert not lines, "IBSI conformance changed:\n" + "\n".join(lines)


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("name", FAST)
def test_ibsi_fast(name: str, convention: str, ibsi_dir: Path) -> None:
    _conforms(ibsi_dir, name, convention)


def _conforms(ibsi_dir: Path, name: str, convention: str) -> None:
    table = run_config(ibsi_dir, name, convention)
    assert len(table) >= 60
    _check(table)
    assert summary_row(name, convention, table) in DOC.read_text(encoding="utf-8"), (
        "docs/ibsi_conformance.md is out of date: run .venv/bin/python tests/features/test_features_ibsi.py")


@pytest.mark.slow
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("name", [c for c in CONFIGS if c not in FAST])
def test_ibsi_interpolated(name: str, convention: str, ibsi_dir: Path) -> None:
    _conforms(ibsi_dir, name, convention)


@pytest.mark.slow
def test_doc_is_current(ibsi_dir: Path) -> None:
    """docs/ibsi_conformance.md is exactly what the generator writes (both conventions)."""
    text = DOC.read_text(encoding="utf-8")
    assert text == render_markdown(_full(ibsi_dir), current_section(text)), (
        "docs/ibsi_conformance.md is out of date: run .venv/bin/python tests/features/test_features_ibsi.py")


def test_mapping_names_exist() -> None:
    """Every mapped PyRadiomics feature exists (a typo would silently drop a row)."""
    from radiomics import getFeatureClasses

    from thyromics.features.native._ibsi_features import ibsi_columns

    fc = getFeatureClasses()
    for feature in _mapping()["pyradiomics_feature"]:
        cls, name = feature.split("_", 1)
        assert name in fc[cls].getFeatureNames(), feature
    extra = _mapping("ibsi").query("source == 'ibsi'")["pyradiomics_feature"]
    # every IBSI feature the native engine adds has an IBSI tag, and no other
    assert sorted(extra) == sorted(n for c in fc for n in ibsi_columns(c))


NATIVE_BLOCK = """<!-- native-engine: begin (kept true by tests/features/test_native_ibsi.py) -->
## The native engine

`ExtractionSettings(engine="native")` (`thyromics extract --engine native`, the default)
computes every feature with the compiled kernels of `thyromics.features.native` instead of
PyRadiomics' feature classes, with PyRadiomics' conventions (the `pyradiomics` convention:
per-direction averaging, numpy percentiles, PyRadiomics' bin edges, PyRadiomics' own filter
functions and marching-cubes triangulation). `tests/features/test_native_ibsi.py` runs both engines on
every configuration above and asserts every column equal within 1e-9 relative, so each row
of the first set of tables holds for both engines. One difference is by design: PyRadiomics
takes MCC from a general (non-symmetric) eigen-solver, which returns the square root of
rounding noise (up to sqrt(eps) = 1.5e-8 per direction) where the second eigenvalue of Q is
0; the native engine uses the symmetric form (Q is similar to B B^T, B = D^-1/2 P D^-1/2)
and the exact first-order effect of PyRadiomics' eps, so there it gives the exact value and
the comparison allows 3e-8 absolute on MCC. Where the second eigenvalue lies within
1e3 x eps / (p_x p_y) of another (a GLCM of two sets of grey levels that never meet has
the eigenvalue 1 twice, and eps splits the pair), first-order theory does not hold: the
native engine solves the block of those eigenvalues exactly in the basis of the
eigenvectors of B B^T (quasi-degenerate perturbation theory). On DDTI the first-order
value was 2.7e-8 off there (PyRadiomics was right to 4e-16 against 50-digit arithmetic);
the block agrees with PyRadiomics' general solver within 4.4e-15 on 9,750 LIDC matrices.

The `ibsi` convention (`ExtractionSettings(engine="native", convention="ibsi")`; PyRadiomics'
engine refuses it) keeps the same columns and computes IBSI 1's definitions where they
differ from PyRadiomics': excess kurtosis (kurtosis - 3); fixed bin size starting at the
lower bound of an absolute resegmentation range (`floor((x - lower) / w) + 1`); IBSI's
fixed-bin-number formula; principal axes from the sample covariance (N - 1) of the voxel
centres, and shape on the whole morphological mask; resampling on the IBSI grid (grid
centres aligned, mask interpolated linearly and thresholded at 0.5, integer-valued
intensities rounded after interpolation), in `thyromics.features._prepare`; and a range
resegmentation followed by outlier filtering (`resegment_outlier_sd`, configuration E).
Percentiles stay numpy's linear ones: they match every reference.

On request it adds columns PyRadiomics has no equivalent for:

- `texture_aggregations`: the IBSI texture aggregation variants, GLCM and GLRLM `2D_avg`,
  `2D_comb`, `2_5D_comb`, `3D_comb` (e.g. `original_glcm_JointAverage_2D_comb`), GLSZM,
  GLDM, NGTDM and GLDZM `2D` (`original_glszm_ZoneEntropy_2D`);
- `ibsi_features=True`: asphericity, centre of mass shift, integrated intensity, the AABB,
  approximate-enclosing-ellipsoid and convex-hull densities, Moran's I and Geary's C (exact
  sums over every voxel pair, by FFT) in `shape`; the local and global intensity peaks,
  median absolute deviation, coefficient of variation, quartile coefficient of dispersion,
  the 21 intensity-histogram statistics (`Histogram*`) and the intensity-volume histogram
  (`IntensityVolume*`, discretised as `ivh_bin_width` / `ivh_bin_count` say) in
  `firstorder`; the NGLDM dependence count energy in `gldm`; and, with GLSZM, the grey level
  distance zone matrix (family `gldzm`).

Its tables are the second set below (IBSI tags of the added columns in
`tests/fixtures/ibsi/ibsi_to_native_ibsi.csv`): every compared feature of every
configuration conforms. Not built yet: the few features listed under "Not computed under
the ibsi convention" below. The image types (`log_sigmas`, `wavelet` ...) are PyRadiomics'
own filter functions under both conventions; IBSI 2's filters are the `ibsi_filters`
setting (`convention="ibsi"`), measured in "IBSI 2 phase 2" at the end of this page.
<!-- native-engine: end -->"""


def summary_row(name: str, convention: str, grp: pd.DataFrame) -> str:
    """One configuration's line of a summary table."""
    changes = ", ".join(f"{k}={v}" for k, v in config_changes(name, convention).items())
    return (f"| {name} | {changes} | {len(grp)} | {int(grp['passed'].sum())} | "
            f"{int((grp['expected'] == 'deviation').sum())} |")


def _summary(table: pd.DataFrame, convention: str) -> list[str]:
    out = ["| configuration | settings | compared | pass | expected deviations |",
           "|---|---|---|---|---|"]
    for name, grp in table.groupby("config", sort=False):
        out.append(summary_row(name, convention, grp))
    return out


def _reasons(table: pd.DataFrame) -> list[str]:
    reasons = sorted({r for r in table["reason"] if r})
    return ([f"- ({int((table['reason'] == r).sum())} rows) {r}" for r in reasons]
            or ["None: every compared feature is within the IBSI tolerance."])


def _details(table: pd.DataFrame, title: str) -> list[str]:
    out = []
    for name, grp in table.groupby("config", sort=False):
        out += [f"## Configuration {name}{title}", "",
                "| IBSI tag | IBSI feature | PyRadiomics | ours | reference | tolerance | pass | "
                "expected |", "|---|---|---|---|---|---|---|---|"]
        for r in grp.itertuples():
            out.append(f"| {r.ibsi_tag} | {r.ibsi_name} | {r.pyradiomics} | {r.ours:.5g} | "
                       f"{r.reference:.5g} | {r.tolerance:.3g} | {'yes' if r.passed else 'no'} | "
                       f"{r.expected} |")
        out.append("")
    return out


def render_markdown(table: pd.DataFrame, ibsi2_section: str = "") -> str:
    """The conformance tables as Markdown (the content of docs/ibsi_conformance.md).

    ``table``: the rows of :func:`run_config` for every configuration and convention;
    ``ibsi2_section``: the IBSI 2 section, generated and asserted by
    ``tests/features/test_features_ibsi2.py``, appended as it is.
    """
    import radiomics

    pyr = table[table["convention"] == "pyradiomics"]
    ibsi = table[table["convention"] == "ibsi"]
    out = ["# IBSI 1 conformance of the thyromics radiomics engine", "",
           "Generated by `.venv/bin/python tests/features/test_features_ibsi.py` (the same code that "
           "`tests/features/test_features_ibsi.py` asserts); do not edit by hand. First set of tables: "
           f"PyRadiomics {radiomics.__version__} through "
           "`thyromics.features.engine.extract_features` with `engine=\"pyradiomics\"`; second "
           "set: the native engine's `ibsi` convention (`engine=\"native\", "
           "convention=\"ibsi\"`).", "",
           "Reference values: IBSI 1 consensus (`../shared/data/ibsi/reference_values`). A value "
           "passes when |ours - reference| <= tolerance, as computed or rounded to the 3 "
           "significant digits of the reference. IBSI names map to PyRadiomics features through "
           "`tests/fixtures/ibsi/ibsi_to_pyradiomics.csv`. PyRadiomics' 3D texture features "
           "match IBSI '3D, averaged' (`_3D_avg`); with `dimensionality='2d'` (force2D) they "
           "match IBSI '2.5D, direction-merged' (`_2_5D_avg`, and `_2_5D` for zone/"
           "neighbourhood matrices).", "",
           *_summary(pyr, "pyradiomics"), "", NATIVE_BLOCK, "",
           "## Reasons for the expected deviations", "", *_reasons(pyr), "",
           "## Not computable with PyRadiomics", "", NOT_COMPUTED + ".", "",
           *_details(pyr, ""),
           "## The ibsi convention: engine=\"native\", convention=\"ibsi\"", "",
           "The same configurations and feature mapping with IBSI's definitions (see \"The "
           "native engine\" above), plus the texture aggregation variants and the IBSI "
           "features PyRadiomics lacks that the configuration's references list; "
           "configuration E with its IBSI resegmentation, range [-1000, 400] HU then mean "
           "+- 3 SD (`resegment_outlier_sd=3.0`).", "",
           *_summary(ibsi, "ibsi"), "",
           "### Reasons for the remaining deviations", "", *_reasons(ibsi), "",
           "### Not computed under the ibsi convention", "", NOT_COMPUTED_IBSI + ".", "",
           *_details(ibsi, ", ibsi convention")]
    text = "\n".join(out)
    return text.rstrip("\n") + "\n\n" + ibsi2_section + "\n" if ibsi2_section else text


def _full(ibsi_dir: Path) -> pd.DataFrame:
    return pd.concat([run_config(ibsi_dir, c, conv) for conv in CONVENTIONS for c in CONFIGS],
                     ignore_index=True)


if __name__ == "__main__":  # pragma: no cover - regenerates the docs table
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[1] / "shared" / "data" / "ibsi"
    full = _full(root)
    bad = full[full["passed"] != (full["expected"] == "match")]
    if len(bad):
        print(bad[["config", "convention", "ibsi_tag", "pyradiomics", "ours", "reference"]]
              .to_string())
    DOC.parent.mkdir(exist_ok=True)
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    DOC.write_text(render_markdown(full, current_section(text)), encoding="utf-8")
    print(f"wrote {DOC}: {len(full)} rows, {int(full['passed'].sum())} pass, {len(bad)} unexpected")
