"""The study report in a real browser: headless Chromium (Debian's ``chromium``).

Chromium is driven from the command line only (no Python browser packages): with
``?thyromics-check`` in the address, a small script at the end of the report writes
what the page saw (sections, images and their natural width, errors caught on the page,
network resources) into ``<pre id="thyromics-check">``, and ``--dump-dom`` returns the
page after loading. Console messages are also read from Chromium's own log
(``--enable-logging=stderr``), a second channel independent of that script.

Skipped with a message when no Chromium is found, except under ``CI=true``, where it
must run. The screenshot goes to ``tmp_path`` and, when ``THYROMICS_ARTIFACTS`` names a
folder, is copied there.
"""

from __future__ import annotations

import html as htmllib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image as PILImage

from thyromics.report.sections import SECTIONS

from report_study import report_study, steps_study  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]


def _browser() -> str:
    for name in (os.environ.get("THYROMICS_CHROMIUM", ""), "chromium", "chromium-browser",
                 "google-chrome", "google-chrome-stable"):
        if name and (path := shutil.which(name)):
            return path
    msg = ("no Chromium found for the report's browser test: install Debian's `chromium` "
           "package (apt-get install -y chromium) or set THYROMICS_CHROMIUM")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg)
    pytest.skip(msg)


def _run(browser: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"  # fresh each run
    return subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=90, check=False)


def _check(browser: str, tmp: Path, report: Path, *extra: str) -> tuple[dict, list[str]]:
    """The page's own check and the console lines of Chromium's log."""
    res = _run(browser, tmp, *extra, "--dump-dom", report.resolve().as_uri() + "?thyromics-check=1")
    match = re.search(r'<pre id="thyromics-check">(.*?)</pre>', res.stdout, re.S)
    assert match, f"the check script did not run (rc={res.returncode}): {res.stderr[-2000:]}"
    console = [line for line in res.stderr.splitlines() if ":CONSOLE" in line]
    return json.loads(htmllib.unescape(match.group(1))), console


@pytest.fixture(scope="module")
def browser() -> str:
    return _browser()


@pytest.fixture(scope="module")
def report(report_study) -> Path:  # noqa: F811
    """The report `thyromics run` wrote for the small synthetic study."""
    return report_study / "report.html"


def test_report_in_chromium(browser, report, tmp_path):
    seen, console = _check(browser, tmp_path, report)
    assert [s["id"] for s in seen["sections"]] == [sid for sid, _, _ in SECTIONS]
    # the robustness and ComBat steps are not run by this study (see test_steps_report_in_chromium)
    assert all(s["status"] == ("not run" if s["id"] in ("robustness", "harmonization") else "ok")
               and s["height"] > 0 for s in seen["sections"])
    assert len(seen["images"]) == report.read_text().count("<img ") > 10
    bad = [im for im in seen["images"] if not (im["complete"] and im["naturalWidth"] > 0)]
    assert not bad, bad
    assert seen["errors"] == [] and console == []
    assert seen["resources"] == []  # nothing fetched: the file is self-contained

    shot = tmp_path / "report.png"
    height = int(sum(s["height"] for s in seen["sections"])) + 900
    res = _run(browser, tmp_path, f"--window-size=1000,{min(height, 16000)}", f"--screenshot={shot}",
               report.resolve().as_uri())
    assert shot.is_file(), res.stderr[-2000:]
    with PILImage.open(shot) as im:
        assert im.width == 1000
        colours = im.convert("RGB").resize((100, 400)).getcolors(maxcolors=100_000)
        assert colours is not None and len(colours) > 50  # not a blank page
    if folder := os.environ.get("THYROMICS_ARTIFACTS"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(folder) / "report_screenshot.png")


def test_report_prints_on_a4_without_breaking_numbers(browser, report, tmp_path):
    """Printed (A4, the width of a portrait page): a PDF of several pages, and no number
    in a table broken over two lines (the check also runs at that width on screen)."""
    seen, _ = _check(browser, tmp_path, report, "--window-size=700,3000")
    assert seen["wrapped_numbers"] == []
    narrow, _ = _check(browser, tmp_path, report, "--window-size=260,3000")
    assert narrow["wrapped_numbers"] == []  # even on a very narrow page: columns widen instead
    pdf = tmp_path / "report.pdf"
    res = _run(browser, tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer",
               report.resolve().as_uri())
    assert pdf.is_file(), res.stderr[-2000:]
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
    assert pages >= 4, pages
    if folder := os.environ.get("THYROMICS_ARTIFACTS"):
        shutil.copy(pdf, Path(folder) / "report.pdf")


def test_checks_catch_a_broken_page(browser, report, tmp_path):
    """The same checks fail on a page with a broken image, a remote one and a foreign
    inline script, which the page's script policy blocks (only its own scripts run)."""
    broken = tmp_path / "broken.html"
    text = report.read_text(encoding="utf-8").replace(
        "</main>", '<img src="data:image/png;base64,AAAA" alt="broken">'
                   "<img src=\"https://example.invalid/x.png\" alt=\"remote\">"
                   "<script>console.error('deliberate');</script></main>")
    broken.write_text(text, encoding="utf-8")
    seen, console = _check(browser, tmp_path, broken)
    assert [im for im in seen["images"] if im["naturalWidth"] == 0] != []
    assert not any("deliberate" in e for e in seen["errors"])  # the injected script never ran
    assert not any("deliberate" in line for line in console)
    # the violation is reported asynchronously, so it is read from Chromium's log, which
    # covers the whole run, not from the page's check, which may be written before it
    assert any("Content Security Policy" in line and "inline" in line for line in console), console
    assert any("CSP blocked https://example.invalid" in e for e in seen["errors"])


def test_steps_report_in_chromium(browser, steps_study, tmp_path):  # noqa: F811
    """The two-centre study's report: the stage figures it embeds (ICC, ComBat) load."""
    report = steps_study / "report.html"
    seen, console = _check(browser, tmp_path, report)
    status = {s["id"]: s["status"] for s in seen["sections"]}
    assert status["robustness"] == status["harmonization"] == "ok"
    assert len(seen["images"]) == report.read_text().count("<img ") >= 3
    assert all(im["complete"] and im["naturalWidth"] > 0 for im in seen["images"])
    assert seen["errors"] == [] and console == [] and seen["resources"] == []

