"""IBSI 1 phantoms through the native engine (``pyradiomics`` convention).

The native engine gives PyRadiomics' values, so its IBSI conformance is the PyRadiomics
engine's, row for row (``docs/ibsi_conformance.md``): asserted here by running both
engines on the digital phantom and the CT phantom configurations A-E with the settings of
:mod:`test_features_ibsi`, every column within 1e-9 relative. (The ``ibsi`` convention,
with IBSI's definitions where they differ from PyRadiomics', is measured against the IBSI
references in :mod:`test_features_ibsi`, its definitions in
:mod:`test_native_ibsi_convention`.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_features_ibsi import CONFIGS, FAST, _read, _settings  # same folder
from test_native_property import _compare

from thyromics.features.engine import extract_features


def _both(ibsi_dir: Path, name: str):
    _, folder, changes, _ = CONFIGS[name]
    image = _read(ibsi_dir / folder / "image" / "phantom.nii.gz")
    mask = _read(ibsi_dir / folder / "mask" / "mask.nii.gz")
    settings = _settings(changes)  # engine="pyradiomics"
    assert settings.engine == "pyradiomics" and settings.convention == "pyradiomics"
    ref = extract_features(image, mask, settings, case_id=f"ibsi-{name}")
    ours = extract_features(image, mask, settings.replace(engine="native"), case_id=f"ibsi-{name}")
    return ref, ours


@pytest.mark.parametrize("name", FAST)
def test_native_ibsi_fast(name: str, ibsi_dir: Path) -> None:
    ref, ours = _both(ibsi_dir, name)
    assert list(ours.values) == list(ref.values)
    problems = _compare(ref, ours)
    assert not problems, "\n".join(problems)


# Config D (2 mm, mean +- 3 SD, 32 bins): MCC 0.8207006195 vs PyRadiomics' 0.8207005480
# (8.7e-8). Large ROI with rare levels: eps / (p_x p_y) reaches ~1e-4, where the first-order
# eps term of glcm_mcc was not enough (near-degenerate eigenvalues are now solved as a block).
#: Configurations where the native engine is known to differ from PyRadiomics (none now;
#: config D's MCC was 8.7e-8 off in one working tree, see the closing note of 2026-12-01).
_KNOWN: dict[str, str] = {}


@pytest.mark.slow
@pytest.mark.parametrize("name", [pytest.param(c, marks=pytest.mark.xfail(
    strict=True, reason=_KNOWN[c])) if c in _KNOWN else c for c in CONFIGS if c not in FAST])
def test_native_ibsi_interpolated(name: str, ibsi_dir: Path) -> None:
    ref, ours = _both(ibsi_dir, name)
    problems = _compare(ref, ours)
    assert not problems, "\n".join(problems)
