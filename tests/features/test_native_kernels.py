"""Native engine: hand-counted matrices, the MCC without a general eigen-solver, the
``--engine`` switch from the command line to the table, and a LIDC sample on all 1,316
CT columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_native_property import _compare as _compare_engines
from typer.testing import CliRunner

from thyromics.errors import CaseError, InputError
from thyromics.features.engine import extract_features
from thyromics.features.extract import read_features
from thyromics.features.maps._glcm import glcm_mcc
from thyromics.features.presets import get_preset
from thyromics.features.settings import ExtractionSettings
from thyromics.io.image import Image


def _native(arr, mask, **kw):
    s = ExtractionSettings(engine="native", min_roi_dimensions=1, **kw)
    arr, mask = np.asarray(arr, float), np.asarray(mask, np.uint8)
    sp = (1.0,) * arr.ndim
    return extract_features(Image(arr, sp), Image(mask, sp), s).values


def test_glcm_hand_counted_2x2():
    # levels [[1, 2], [1, 2]] (bin width 1 from 1): the four 2D angles see
    # (0, 1): 1-2 twice -> P = [[0, .5], [.5, 0]]; (1, 0): 1-1, 2-2 -> [[.5, 0], [0, .5]];
    # (1, 1): 1-2 once and (1, -1): 2-1 once -> [[0, .5], [.5, 0]]
    v = _native([[1.0, 2.0], [1.0, 2.0]], [[1, 1], [1, 1]], bin_width=1.0,
                feature_classes=("glcm",))
    assert v["original_glcm_Contrast"] == pytest.approx(3 / 4, rel=1e-15)
    assert v["original_glcm_JointEnergy"] == pytest.approx(0.5, rel=1e-15)
    assert v["original_glcm_JointAverage"] == pytest.approx(1.5, rel=1e-15)
    assert v["original_glcm_DifferenceAverage"] == pytest.approx(3 / 4, rel=1e-15)
    assert v["original_glcm_Idm"] == pytest.approx((1 / 4) * 1 + (3 / 4) * 0.5, rel=1e-15)
    # MCC: every matrix has two levels and a second eigenvalue of Q equal to 1
    assert v["original_glcm_MCC"] == pytest.approx(1.0, rel=1e-12)


def test_run_zone_dependence_hand_counted_1d_line():
    # one row 1 1 2 2 2 (2D image 1 x 5): runs (1, 2), (2, 3) along x; zones the same;
    # nothing along the other angles (one row), so they are dropped
    v = _native([[1.0, 1.0, 2.0, 2.0, 2.0]], [[1] * 5], bin_width=1.0,
                feature_classes=("glrlm", "glszm", "gldm", "ngtdm"))
    assert v["original_glrlm_ShortRunEmphasis"] == pytest.approx((1 / 4 + 1 / 9) / 2)
    assert v["original_glrlm_RunPercentage"] == pytest.approx(2 / 5)
    assert v["original_glszm_LargeAreaEmphasis"] == pytest.approx((4 + 9) / 2)
    # dependence (alpha 0): voxels with 1, 1, 1, 2, 1 equal neighbours -> sizes 2, 2, 2, 3, 2
    assert v["original_gldm_LargeDependenceEmphasis"] == pytest.approx((4 * 4 + 9) / 5)
    # NGTDM: s_1 = |1 - 1| + |1 - 1.5| = .5, s_2 = |2 - 1.5| + 0 + 0 = .5; p = (.4, .6)
    assert v["original_ngtdm_Coarseness"] == pytest.approx(1 / (0.4 * 0.5 + 0.6 * 0.5))


def _pyradiomics_mcc(P: np.ndarray) -> float:
    px, py, eps = P.sum(1), P.sum(0), np.spacing(1)
    Q = np.zeros_like(P)
    for k in range(P.shape[0]):
        Q += np.outer(P[:, k], P[:, k]) / (px * py[k] + eps)[:, None]
    ev = np.sort(np.linalg.eigvals(Q))
    return float(np.sqrt(ev[-2]).real)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("symmetric", [True, False])
def test_mcc_equals_the_general_eigen_solver(seed: int, symmetric: bool):
    rng = np.random.default_rng(seed)
    n = 3 + 7 * seed
    counts = rng.poisson(3.0, (n, n)).astype(float)
    counts[rng.random((n, n)) < 0.3] = 0
    if symmetric:
        counts = counts + counts.T
    counts[0, :] = counts[:, 0] = 0  # a level of the ROI that this angle never sees
    counts[1, 1] += 1  # one rare pair: a large eps / (p_x p_y) term
    P = counts / counts.sum()
    ours = glcm_mcc(P, P.sum(1), P.sum(0), n, n, symmetric)
    assert ours == pytest.approx(_pyradiomics_mcc(P), rel=1e-10)


def test_mcc_flat_and_independent():
    assert glcm_mcc(np.ones((1, 1)), np.ones(1), np.ones(1), 1, 1, True) == 1.0
    p = np.array([0.3, 0.7])
    P = np.outer(p, p)  # independent rows: Q has rank 1, the second eigenvalue is 0
    assert glcm_mcc(P, p, p, 2, 2, True) == pytest.approx(0.0, abs=1e-7)


def test_engine_setting_is_checked():
    with pytest.raises(InputError, match="engine"):
        get_preset("ct").replace(engine="fast")
    assert get_preset("ct").engine == "native"  # the default
    assert get_preset("ct").replace(engine="pyradiomics").to_dict()["engine"] == "pyradiomics"


@pytest.mark.realdata
@pytest.mark.slow
def test_lidc_sample_all_ct_columns(lidc_dir, tmp_path):
    """``thyromics extract --engine native`` on LIDC: the 1,316 columns of the ct preset
    equal the PyRadiomics engine's within 1e-9, case by case."""
    from thyromics.cli import app
    from thyromics.io import load_case
    from thyromics.io.manifest import read_manifest

    frame = pd.read_csv(lidc_dir / "cases.csv").iloc[[0, 7, 40]]
    for col in ("image", "mask"):
        frame[col] = [str(lidc_dir / p) for p in frame[col]]
    manifest = tmp_path / "cases.csv"
    frame.to_csv(manifest, index=False)
    res = CliRunner().invoke(app, ["extract", str(manifest), "--preset", "ct", "--engine",
                                   "native", "-o", str(tmp_path / "f.parquet"), "--jobs", "1"])
    assert res.exit_code == 0, res.output
    table, prov = read_features(tmp_path / "f.parquet")
    assert prov["settings"]["engine"] == "native"
    settings = get_preset("ct")
    for i, case in enumerate(read_manifest(manifest).cases):
        image, mask = load_case(case)
        ref = extract_features(image, mask, settings)
        nat = extract_features(image, mask, settings.replace(engine="native"))
        assert len(ref.values) == 1316
        assert not _compare_engines(ref, nat)
        row = table.iloc[i]
        for c, v in nat.values.items():
            assert row[c] == v or (np.isnan(v) and np.isnan(row[c])), c


def _exact_mcc(P: np.ndarray) -> float:
    """PyRadiomics' definition (its eps included) in 60-digit arithmetic (mpmath)."""
    import mpmath

    mpmath.mp.dps = 60
    px, py, n = P.sum(1), P.sum(0), P.shape[0]
    eps = mpmath.mpf(np.spacing(1))
    Q = mpmath.matrix(n, n)
    for i in range(n):
        for j in range(n):
            Q[i, j] = mpmath.fsum(mpmath.mpf(P[i, k]) * mpmath.mpf(P[j, k])
                                  / (mpmath.mpf(px[i]) * mpmath.mpf(py[k]) + eps) for k in range(n))
    ev = sorted(mpmath.re(e) for e in mpmath.eig(Q, left=False, right=False))
    return float(mpmath.sqrt(ev[-2]))


@pytest.mark.parametrize("symmetric", [True, False])
def test_mcc_of_two_disconnected_sets_of_levels(symmetric: bool):
    """Levels {0, 1, 2} and a rare pair {3, 4} never side by side: the eigenvalue 1 twice,
    split by PyRadiomics' eps by about 1e-7 (a wavelet band of a DDTI image): first-order
    perturbation theory does not apply, the value must still be PyRadiomics' own."""
    counts = np.zeros((5, 5))
    rng = np.random.default_rng(3)
    a = rng.integers(2000, 9000, (3, 3)).astype(float)
    counts[:3, :3] = a + a.T if symmetric else a
    counts[3:, 3:] = [[1.0, 2.0], [2.0, 1.0]] if symmetric else [[1.0, 2.0], [1.0, 1.0]]
    P = counts / counts.sum()
    exact = _exact_mcc(P)
    assert 1 - exact > 1e-9  # eps did split the pair
    ours = glcm_mcc(P, P.sum(1), P.sum(0), 5, 5, symmetric)
    assert ours == pytest.approx(exact, abs=1e-13)
    assert _pyradiomics_mcc(P) == pytest.approx(exact, abs=1e-13)


@pytest.mark.parametrize("symmetric", [True, False])
def test_mcc_of_a_cluster_of_eigenvalues(symmetric: bool):
    """Three sets of levels never side by side, one of them bipartite (levels 5, 6 only
    ever neighbour 7, 8): ``S`` has the eigenvalue 1 four times, which PyRadiomics' eps
    splits; the cluster is solved as one block and must give PyRadiomics' own value."""
    rng = np.random.default_rng(11)
    counts = np.zeros((9, 9))
    a = rng.integers(2000, 9000, (3, 3)).astype(float)
    counts[:3, :3] = a + a.T if symmetric else a
    counts[3:5, 3:5] = [[1.0, 3.0], [3.0, 2.0]]
    b = rng.integers(1, 4, (2, 2)).astype(float)
    counts[5:7, 7:9] = b
    counts[7:9, 5:7] = b.T if symmetric else b
    P = counts / counts.sum()
    exact = _exact_mcc(P)
    assert 1 - exact > 1e-9  # eps did split the cluster
    ours = glcm_mcc(P, P.sum(1), P.sum(0), 9, 9, symmetric)
    assert ours == pytest.approx(exact, abs=1e-13)


@pytest.mark.parametrize("seed", range(3))
def test_mcc_with_many_rare_levels_is_pyradiomics_value(seed: int):
    """A large common block and six levels seen once or twice (the tail of a CT's grey
    levels): PyRadiomics' eps is large for the rare levels, so a wide cluster of
    eigenvalues is solved together (from the tridiagonal form in the symmetric case);
    the value must be PyRadiomics' definition computed in 60 digits."""
    rng = np.random.default_rng(100 + seed)
    n = 14
    counts = np.zeros((n, n))
    a = rng.integers(500, 5000, (8, 8)).astype(float) * (rng.random((8, 8)) < 0.7)
    counts[:8, :8] = a + a.T + np.diag(rng.integers(1000, 3000, 8))
    for k in range(8, n):  # rare levels: one or two pairs each, with a neighbour
        j = int(rng.integers(0, k))
        counts[k, j] += 1.0
        counts[j, k] += 1.0
        if k % 2:
            counts[k, k] += 2.0
    P = counts / counts.sum()
    exact = _exact_mcc(P)
    ours = glcm_mcc(P, P.sum(1), P.sum(0), n, n, True)
    assert ours == pytest.approx(exact, rel=1e-11, abs=1e-13)


@pytest.mark.parametrize("total", [1e7, 1e8])
def test_mcc_of_a_level_seen_once_in_a_huge_matrix(total: float):
    """One pair of a level among ``total`` pairs: ``p_x p_y`` near 1e-15, so PyRadiomics'
    eps changes that cell's term of ``Q`` by a tenth; the value must still be its own
    definition (in 60 digits), not a first-order series in ``eps / (p_x p_y)``."""
    rng = np.random.default_rng(5)
    a = rng.random((5, 5)) + 0.2
    counts = np.zeros((6, 6))
    counts[:5, :5] = (a + a.T) * total / (2 * a.sum())
    counts[5, 5] = 1.0
    counts[5, 0] = counts[0, 5] = 1.0
    P = counts / counts.sum()
    exact = _exact_mcc(P)
    assert glcm_mcc(P, P.sum(1), P.sum(0), 6, 6, True) == pytest.approx(exact, rel=1e-11)


@pytest.mark.parametrize("bounds, kept", [((26.0,), 1), ((30.0,), 0)])
def test_resegmentation_that_leaves_one_voxel_is_refused_as_by_pyradiomics(bounds, kept):
    """A resegmentation range that keeps one voxel or none: both engines refuse the case,
    naming it, with PyRadiomics' own message."""
    arr = np.arange(27.0).reshape(3, 3, 3)
    mask = Image(np.ones((3, 3, 3), np.uint8), (1.0,) * 3)
    for engine in ("native", "pyradiomics"):
        s = ExtractionSettings(engine=engine, min_roi_dimensions=1, bin_width=1.0,
                               resegment_range=bounds, feature_classes=("firstorder",))
        with pytest.raises(CaseError, match=rf"case 'c7'.*Resegmentation excluded too many "
                                            rf"voxels with label 1 \(retained {kept} voxel\(s\)\)"):
            extract_features(Image(arr, (1.0,) * 3), mask, s, case_id="c7")


def test_mcc_is_computed_only_when_asked_for(monkeypatch):
    """Without glcm MCC in the feature subset its eigen-solves are skipped; every other
    GLCM value stays the same to the bit (they never depended on it)."""
    import thyromics.features.maps._glcm as glcm

    rng = np.random.default_rng(3)
    arr = rng.normal(40.0, 30.0, (6, 9, 9))
    mask = np.zeros(arr.shape, np.uint8)
    mask[1:5, 2:8, 1:8] = 1
    others = [f for f in glcm.GLCM_ORDER if f not in ("MCC", "Dissimilarity", "Homogeneity1",
                                                      "Homogeneity2", "SumVariance")]
    full = _native(arr, mask, feature_classes=("glcm",))
    part = _native(arr, mask, feature_classes=("glcm",), feature_subsets={"glcm": others})
    assert "original_glcm_MCC" in full and "original_glcm_MCC" not in part
    assert np.isfinite(full["original_glcm_MCC"])
    for f in others:
        assert part[f"original_glcm_{f}"] == full[f"original_glcm_{f}"], f
    # and the kernel gives NaN for MCC (the solver is not entered) when told not to compute it
    f = np.empty(24)
    P = np.array([[0.2, 0.1], [0.1, 0.6]])
    glcm.angle_features(P, np.array([1.0, 2.0]), 2, 2, 2, True, f, False)
    assert np.isnan(f[glcm.GLCM_ORDER.index("MCC")])
    glcm.angle_features(P, np.array([1.0, 2.0]), 2, 2, 2, True, f, True)
    assert np.isfinite(f[glcm.GLCM_ORDER.index("MCC")])


def test_first_order_needs_only_the_order_ranks_in_place():
    """The compiled pass selects (``np.partition``) only the ranks ``order_ranks`` names:
    every first-order value that reads a rank equals the fully sorted array's."""
    import numba

    from thyromics.features.maps._firstorder import firstorder_values, order_ranks

    @numba.njit
    def both(x):
        hist = np.zeros(2)
        a, b = np.empty(19), np.empty(19)
        firstorder_values(np.sort(x), x.shape[0], hist, 1, 1.0, 0.0, a)
        firstorder_values(np.partition(x, order_ranks(x.shape[0])), x.shape[0], hist, 1, 1.0,
                          0.0, b)
        return a, b

    rng = np.random.default_rng(9)
    ranked = [3, 4, 5, 6, 8, 9, 10]  # Minimum, P10, P90, Maximum, Median, IQR, Range
    for n in [1, 2, 3, 4, 5, 7, 10, 11, 40, 101, 1000]:
        for x in (rng.normal(size=n), np.round(rng.normal(size=n) * 2)):
            a, b = both(x)
            assert a[ranked].tolist() == b[ranked].tolist(), n
            assert b[8] == np.median(x) and b[4] == np.percentile(x, 10)
