"""The review page in a real browser: headless Chromium (Debian's ``chromium``) driven by
Playwright (``executable_path``: Playwright's own browser downloads are never used).

Open the list, open a case, paint with the brush (real mouse events on the canvas), undo
and redo, save, then check on disk that the saved mask changed where it was painted and
only there, that the proposed mask is unchanged, and that the decision log has the row.

Skipped with a message when no Chromium (or no Playwright) is found, except under
``CI=true``, where it must run. Screenshots go to ``tmp_path`` and, when
``THYROMICS_ARTIFACTS`` names a folder, are copied there.
"""

from __future__ import annotations

import csv
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from thyromics.io import read_mask
from thyromics.review.server import make_server
from thyromics.review.state import ReaderState
from thyromics.review.cases import load_study

from test_review_server import make_study, sha  # noqa: E402  (same tests folder)

pytestmark = pytest.mark.slow

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _missing(msg: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def browser_path() -> str:
    for name in (os.environ.get("THYROMICS_CHROMIUM", ""), "chromium", "chromium-browser",
                 "google-chrome", "google-chrome-stable"):
        if name and (path := shutil.which(name)):
            break
    else:
        _missing("no Chromium found for the review page's browser test: install Debian's "
                 "`chromium` package (apt-get install -y chromium) or set THYROMICS_CHROMIUM")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("Playwright is not installed: pip install -e '.[test]'")
    return path


def _serve(manifest: Path, out: Path, reader: str, reference: str | None):
    state = ReaderState(load_study(manifest, reference=reference), out, reader)
    httpd, url = make_server(state, "127.0.0.1", 0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, url, state


def _paint_and_save(browser_path: str, url: str, case_id: str, stroke: list[tuple[int, int]],
                    tmp: Path, n_rows: int | None) -> list[str]:
    """Drive the page; returns the console errors seen."""
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp / "profile"), executable_path=browser_path, headless=True, args=FLAGS,
            viewport={"width": 1280, "height": 860})
        try:
            page = ctx.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(url)
            page.wait_for_selector('body[data-ready="list"]', timeout=20_000)
            rows = page.locator("#case-table tbody tr")
            if n_rows is not None:
                assert rows.count() == n_rows
            page.locator("#filters button[data-status='to review']").click()
            page.wait_for_selector('body[data-ready="list"]')
            page.locator(f'#case-table tr[data-case-id="{case_id}"] a').click()
            page.wait_for_selector(f'body[data-ready="{case_id}"]', timeout=20_000)
            page.keyboard.press("b")  # brush
            pts = [page.evaluate("([x, y]) => window.thyromicsReview.imageToClient(x, y)", list(q))
                   for q in stroke]
            page.mouse.move(pts[0]["x"], pts[0]["y"])
            page.mouse.down()
            for q in pts[1:]:
                page.mouse.move(q["x"], q["y"], steps=8)
            page.mouse.up()
            mid = stroke[len(stroke) // 2]
            at = f"window.thyromicsReview.maskAt({mid[0]}, {mid[1]})"
            assert page.evaluate(at) == 1
            page.keyboard.press("Control+z")
            assert page.evaluate(at) == 0
            page.keyboard.press("Control+y")
            assert page.evaluate(at) == 1
            page.screenshot(path=str(tmp / f"review_{case_id}.png"))
            page.locator("#save").click()
            page.wait_for_selector(f'body[data-last-decision="{case_id}:corrected"]', timeout=20_000)
        finally:
            ctx.close()
    if folder := os.environ.get("THYROMICS_ARTIFACTS"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp / f"review_{case_id}.png", Path(folder) / f"review_{case_id}.png")
    return problems


def _band(shape, stroke, radius) -> np.ndarray:
    """Pixels within ``radius`` of the polyline ``stroke`` ((x, y) image points)."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    out = np.zeros(shape, bool)
    for (x0, y0), (x1, y1) in zip(stroke, stroke[1:]):
        for t in np.linspace(0, 1, 50):
            cx, cy = x0 + (x1 - x0) * t + 0.5, y0 + (y1 - y0) * t + 0.5
            out |= (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 <= radius ** 2
    return out


def _check_saved(state: ReaderState, case_id: str, proposed: Path, before_hash: str,
                 stroke: list[tuple[int, int]]) -> None:
    assert sha(proposed) == before_hash  # the proposal is never written
    rows = list(csv.DictReader(open(state.log_path, newline="")))
    assert [(r["case_id"], r["decision"], r["reader"]) for r in rows] == [(case_id, "corrected", state.reader)]
    saved = read_mask(state.folder / rows[0]["mask"]).array
    prop = read_mask(proposed).array
    changed = saved != prop
    assert changed.any()
    for x, y in stroke:  # painted where the stroke went
        assert saved[y, x] == 1
    assert not changed[~_band(prop.shape, stroke, 4 + 1.5)].any()  # brush 8 px: nothing elsewhere
    assert int(rows[0]["changed_voxels"]) == int(changed.sum())


def test_paint_and_save_in_chromium(browser_path, tmp_path):
    manifest = make_study(tmp_path)
    proposed = manifest.parent / "masks" / "c1.gif"
    before = sha(proposed)
    httpd, url, state = _serve(manifest, tmp_path / "review", "alice", "reference")
    stroke = [(8, 8), (22, 8), (22, 16)]  # away from the lesion (a disk at x=40, y=30)
    try:
        problems = _paint_and_save(browser_path, url, "c1", stroke, tmp_path, n_rows=6)
    finally:
        httpd.shutdown()
        httpd.server_close()
    _check_saved(state, "c1", proposed, before, stroke)
    # the two cases outside the folder / with a missing file are not opened: no errors
    assert problems == [], problems


def test_3d_slices_and_fill_in_chromium(browser_path, tmp_path):
    """A volume: the page opens on the lesion's slice, keys change the slice, a ring drawn
    with the brush is filled with the fill tool, and only that slice changes on disk."""
    from playwright.sync_api import sync_playwright

    import SimpleITK as sitk

    manifest = make_study(tmp_path)
    httpd, url, state = _serve(manifest, tmp_path / "review", "alice", None)
    ring = [(4, 4), (16, 4), (16, 14), (4, 14), (4, 4)]  # x, y on slice 0 (the lesion is on 2-3)
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=browser_path, headless=True, args=FLAGS,
                viewport={"width": 1280, "height": 860})
            page = ctx.new_page()
            page.goto(url + "#/case/v3")
            page.wait_for_selector('body[data-ready="v3"]', timeout=20_000)
            state_js = "window.thyromicsReview.state()"
            assert page.evaluate(state_js)["z"] == 2  # the first slice with the most lesion
            for _ in range(3):
                page.keyboard.press("ArrowUp")
            assert page.evaluate(state_js)["z"] == 0
            page.keyboard.press("ArrowUp")  # stays at the first slice
            assert page.evaluate(state_js)["z"] == 0
            page.keyboard.press("[")
            page.keyboard.press("[")  # brush 6 px
            pts = [page.evaluate("([x, y]) => window.thyromicsReview.imageToClient(x, y)", [x, y]) for x, y in ring]
            page.mouse.move(pts[0]["x"], pts[0]["y"])
            page.mouse.down()
            for q in pts[1:]:
                page.mouse.move(q["x"], q["y"], steps=6)
            page.mouse.up()
            assert page.evaluate("window.thyromicsReview.maskAt(10, 9)") == 0  # inside the ring
            page.keyboard.press("f")
            inside = page.evaluate("window.thyromicsReview.imageToClient(10, 9)")
            page.mouse.click(inside["x"], inside["y"])
            assert page.evaluate("window.thyromicsReview.maskAt(10, 9)") == 1
            assert page.evaluate("window.thyromicsReview.maskAt(30, 25)") == 0  # outside: not filled
            page.keyboard.press("s")
            page.wait_for_selector('body[data-last-decision="v3:corrected"]', timeout=20_000)
            ctx.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
    prop = sitk.GetArrayFromImage(sitk.ReadImage(str(manifest.parent / "masks" / "v3.nii.gz")))
    saved = sitk.GetArrayFromImage(sitk.ReadImage(str(state.folder / "masks" / "v3.nii.gz")))
    changed = np.argwhere(saved != prop)
    assert set(changed[:, 0]) == {0}  # only the edited slice
    assert saved[0, 4:15, 4:17].all()  # the ring and its inside
    assert not saved[0, 20:, 20:].any()


@pytest.mark.realdata
def test_review_a_ddti_case_in_chromium(browser_path, ddti_dir, tmp_path):
    """A real DDTI ultrasound case and its mask, read in place (the output goes to tmp)."""
    case_id = "100_1(1)"
    proposed = ddti_dir / "masks" / f"{case_id}.gif"
    before = sha(proposed)
    httpd, url, state = _serve(ddti_dir / "cases.csv", tmp_path / "review", "ddti_reader", None)
    prop = read_mask(proposed).array
    ys, xs = np.nonzero(prop)
    y = max(10, int(ys.min()) - 12)  # a stroke above the nodule
    stroke = [(int(xs.min()), y), (int(xs.max()), y)]
    try:
        problems = _paint_and_save(browser_path, url, case_id, stroke, tmp_path, n_rows=None)
    finally:
        httpd.shutdown()
        httpd.server_close()
    _check_saved(state, case_id, proposed, before, stroke)
    assert problems == [], problems
