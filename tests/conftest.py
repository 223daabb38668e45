"""Shared test fixtures.

Real data lives beside the project in ``../shared/data`` and is read in place. Tests
that need it skip with a clear message when it is absent, except under CI (``CI=true``),
where a missing folder is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("THYROMICS_SHARED_DATA", ROOT.parent / "shared" / "data"))
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def need_data(sub: str) -> Path:
    """``../shared/data/<sub>``: skips when absent (fails under ``CI=true``).

    The root itself counts as present only with its README: an empty folder given as
    THYROMICS_SHARED_DATA (the fresh-clone run of CI) is no data.
    """
    path = SHARED_DATA / sub
    if not path.exists() or (not sub and not (path / "README.md").exists()):
        msg = f"real data not found at {path} (set THYROMICS_SHARED_DATA)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def need_module(name: str):
    """Import an optional extra's module (torch, distributed ...): skips when it is not
    installed, fails under ``CI=true`` (CI installs every extra, so a broken install must
    not pass as a skip)."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as e:
        msg = f"{name} is not installed ({e}); install the extra that brings it"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg, allow_module_level=True)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of ../shared/data."""
    return need_data("")


@pytest.fixture(scope="session")
def ddti_dir() -> Path:
    return need_data("ddti")


@pytest.fixture(scope="session")
def lidc_dir() -> Path:
    return need_data("lidc")


@pytest.fixture(scope="session")
def ibsi_dir() -> Path:
    return need_data("ibsi")


@pytest.fixture(scope="session")
def pyradiomics_dir() -> Path:
    return need_data("pyradiomics")


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES
