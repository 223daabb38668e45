"""The review tool keeps every decision and answers hostile input with clear refusals.

File names of corrected masks, torn decision logs, deeply nested JSON, silent
connections, formula-like CSV cells, and the Host / Origin / token guards.
"""

from __future__ import annotations

import csv
import http.client
import socket
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image as PILImage

from thyromics.errors import ThyromicsWarning
from thyromics.io import read_mask
from thyromics.review.run_agreement import run_agreement
from thyromics.review.server import make_server
from thyromics.review.state import LOG_COLUMNS, ReaderState
from thyromics.review.cases import case_file_name, case_id_from_file_name, load_study

from test_review_server import Client, _disk, pack  # noqa: E402  (same tests folder)

SHAPE = (32, 40)
IDS = ("x/1", "x_1", "A1", "a1", "=1+1", "-0.5", "CON", "..")


def make_study(root: Path, ids=IDS) -> Path:
    """One 2D case per id: PNG image, GIF 0/255 proposed mask, GIF reference."""
    for sub in ("images", "masks", "refs"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    rows = []
    for i, cid in enumerate(ids):
        PILImage.fromarray(np.full(SHAPE, 60 + i, np.uint8)).save(root / f"images/{i}.png")
        PILImage.fromarray(_disk(SHAPE, 16, 20, 6) * 255).save(root / f"masks/{i}.gif")
        PILImage.fromarray(_disk(SHAPE, 16, 21, 6) * 255).save(root / f"refs/{i}.gif")
        rows.append({"case_id": cid, "image": f"images/{i}.png", "mask": f"masks/{i}.gif",
                     "reference": f"refs/{i}.gif"})
    pd.DataFrame(rows).to_csv(root / "cases.csv", index=False)
    return root / "cases.csv"


@contextmanager
def serving(manifest: Path, out: Path, host: str = "127.0.0.1", **kw):
    state = ReaderState(load_study(manifest, reference="reference"), out, "alice")
    httpd, url = make_server(state, host, 0, **kw)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Client(httpd.server_address[1]), state, url
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _path(cid: str) -> str:
    return "/api/cases/" + "".join(c if c.isalnum() else f"%{ord(c):02X}" for c in cid)


@pytest.fixture()
def study(tmp_path) -> Path:
    return make_study(tmp_path / "study")


# ---------------------------------------------------------------- corrected-mask file names
def test_ids_that_sanitise_alike_keep_separate_masks(study, tmp_path):
    masks = {}
    with serving(study, tmp_path / "review") as (c, state, _):
        for k, cid in enumerate(IDS):
            mask = np.zeros(SHAPE, np.uint8)
            mask[k : k + 3, 2:5] = 1  # a different mask per case
            masks[cid] = mask
            status, body = c.post(_path(cid) + "/decision", {"decision": "correct", "mask": pack(mask)})
            assert status == 200, (cid, body)
        files = sorted(p.name for p in (state.folder / "masks").iterdir())
    assert len(files) == len(IDS)  # nothing overwritten
    assert len({f.casefold() for f in files}) == len(IDS)  # distinct on Windows / macOS disks too
    by_id = {case_id_from_file_name(f.removesuffix(".gif")): f for f in files}
    assert set(by_id) == set(IDS)  # every name reads back to its id
    assert by_id["x/1"] == "x%2F1.gif" and by_id["x_1"] == "x_1.gif"
    assert by_id[".."] == "%2E%2E.gif" and by_id["CON"] == "%43ON.gif"
    for cid, name in by_id.items():
        assert np.array_equal(read_mask(state.folder / "masks" / name).array, masks[cid]), cid
    log = pd.read_csv(state.log_path, dtype=str, keep_default_na=False)
    assert sorted(log["mask"].str.removeprefix("masks/")) == files


def test_file_names_round_trip_and_stay_short():
    for cid in ("x/1", "a b", "ü", "50%", "~x", "a.", ".a", "nul.txt", "1(2)", "A1"):
        assert case_id_from_file_name(case_file_name(cid)) == cid
        assert case_id_from_file_name(case_file_name(cid, fold_case=True)) == cid
    long_a, long_b = "a" * 200, "a" * 199 + "b"
    assert len(case_file_name(long_a)) <= 150 and case_file_name(long_a) != case_file_name(long_b)
    assert case_id_from_file_name(case_file_name(long_a)) is None  # the log maps it back


# ---------------------------------------------------------------- torn decision log
def _state(study, out) -> ReaderState:
    return ReaderState(load_study(study, reference="reference"), out, "alice")


def test_a_torn_last_line_is_quarantined_and_the_next_decision_survives(study, tmp_path):
    out = tmp_path / "review"
    _state(study, out).record("x_1", "accept")
    state = _state(study, out)
    torn = "2026-01-01T00:00:00+00:00,A1,alice,rejec"
    with open(state.log_path, "a", newline="") as f:
        f.write(torn)  # the crash
    with pytest.warns(ThyromicsWarning, match="incomplete.*decisions.torn.txt"):
        state = _state(study, out)
    assert state.torn_path.read_text() == torn + "\n"
    state.record("a1", "reject", "blurred")
    again = _state(study, out)  # restart: nothing glued, nothing lost
    assert (again.status("x_1"), again.status("a1"), again.status("A1")) == ("accepted", "rejected", "to review")
    with open(again.log_path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(LOG_COLUMNS) and all(len(r) == len(LOG_COLUMNS) for r in rows)


def test_a_row_glued_by_an_older_version_is_read_back(study, tmp_path):
    out = tmp_path / "review"
    state = _state(study, out)
    state.record("x_1", "accept")
    good = state.log_path.read_text().splitlines()[1]
    glued = "2026-01-01T00:00:00+00:00,A1,alice,corr" + good.replace("x_1", "a1", 1)
    with open(state.log_path, "a", newline="") as f:
        f.write(glued + "\r\n")
    with pytest.warns(ThyromicsWarning, match="'a1' was written onto an incomplete line"):
        state = _state(study, out)
    assert (state.status("a1"), state.status("A1")) == ("accepted", "to review")


@pytest.mark.parametrize("content", [b"", b"time,case_id,rea"])
def test_a_log_cut_before_its_first_row_starts_afresh(study, tmp_path, content):
    out = tmp_path / "review"
    (out / "alice").mkdir(parents=True)
    (out / "alice" / "decisions.csv").write_bytes(content)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ThyromicsWarning)  # the cut header is quarantined
        state = _state(study, out)
    state.record("x_1", "accept")
    assert _state(study, out).status("x_1") == "accepted"


# ---------------------------------------------------------------- hostile HTTP input
def test_deeply_nested_json_is_a_400(study, tmp_path):
    with serving(study, tmp_path / "review") as (c, state, _):
        for raw in (b"[" * 100_000, b'{"decision": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"):
            status, body = c.post(_path("x_1") + "/decision", raw=raw)
            assert status == 400 and "nested too deeply" in body["error"], body
        assert c.get("/api/info")[0] == 200 and not state.log_path.exists()


def test_silent_connections_are_closed(study, tmp_path):
    with serving(study, tmp_path / "review", read_timeout=0.5) as (c, _, _url):
        idle = socket.create_connection(("127.0.0.1", c.port), timeout=10)
        t0 = time.monotonic()
        assert idle.recv(100) == b""  # the server hung up on a connection that sent nothing
        assert time.monotonic() - t0 < 5
        stalled = http.client.HTTPConnection("127.0.0.1", c.port, timeout=10)
        stalled.putrequest("POST", _path("x_1") + "/decision")
        for k, v in (("Content-Type", "application/json"), ("Content-Length", "100")):
            stalled.putheader(k, v)
        stalled.endheaders(b'{"decision": ')  # the rest never comes
        res = stalled.getresponse()
        assert res.status == 408 and b"stopped arriving" in res.read()
        assert c.get("/api/info")[0] == 200


# ---------------------------------------------------------------- formula-like CSV cells
def test_csv_cells_are_neutralised_and_read_back(study, tmp_path):
    out = tmp_path / "review"
    reason = '=HYPERLINK("http://evil.example","click")'
    with serving(study, out) as (c, state, _):
        assert c.post(_path("=1+1") + "/decision", {"decision": "reject", "reason": reason})[0] == 200
        assert c.post(_path("-0.5") + "/decision", {"decision": "reject", "reason": "@SUM(A1)"})[0] == 200
        assert c.post(_path("x_1") + "/decision", {"decision": "accept"})[0] == 200
    raw = state.log_path.read_text()
    assert "'=1+1" in raw and "'=HYPERLINK" in raw and "'@SUM(A1)" in raw
    assert ",-0.5," in raw  # a number is not touched
    for path in (state.log_path, state.manifest_path):
        with open(path, newline="") as f:
            cells = [v for row in csv.reader(f) for v in row]
        assert not [v for v in cells if v.startswith(("=", "+", "@")) or (v.startswith("-") and v != "-0.5")], path
    with serving(study, out) as (c, _, _url):  # restart: the original text is back
        rows = {r["case_id"]: r for r in c.get("/api/cases")[1]["cases"]}
    assert rows["=1+1"]["reason"] == reason and rows["-0.5"]["reason"] == "@SUM(A1)"
    assert rows["=1+1"]["status"] == "rejected"
    res = run_agreement(study, ["mask", f"{state.manifest_path}:reviewed_mask"], tmp_path / "agr",
                        preset=None)
    assert res.n_ok == 1  # x_1 joined on its id; the rejected cases have no mask
    errors = (tmp_path / "agr" / "errors.csv").read_text()
    assert "'=1+1" in errors and not any(line.startswith("=") for line in errors.splitlines())


# ---------------------------------------------------------------- Host, Origin and token
def test_origin_and_cross_site_requests_are_refused_on_loopback(study, tmp_path):
    with serving(study, tmp_path / "review") as (c, state, url):
        assert "token" not in url
        body = {"decision": "accept"}
        status, res = c.post(_path("x_1") + "/decision", body, headers={"Origin": "http://evil.example"})
        assert status == 403 and "evil.example" in res["error"]
        status, _ = c.request("GET", _path("x_1") + "/slice/0", headers={"Sec-Fetch-Site": "cross-site",
                                                                       "Sec-Fetch-Mode": "no-cors"})
        assert status == 403  # another site's page embedding a slice
        link = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
        assert c.request("GET", "/", headers=link)[0] == 200  # the user following a link
        assert c.request("POST", _path("x_1") + "/decision", {"decision": "accept"}, headers=link)[0] == 403
        assert not state.log_path.exists()
        own = f"http://127.0.0.1:{c.port}"
        assert c.post(_path("x_1") + "/decision", body, headers={"Origin": own,
                                                               "Sec-Fetch-Site": "same-origin"})[0] == 200


def test_any_other_bind_needs_the_token_and_keeps_the_host_check(study, tmp_path):
    with serving(study, tmp_path / "review", host="0.0.0.0") as (c, state, url):
        token = url.split("?token=")[1]
        assert len(token) >= 24 and url.endswith(f":{c.port}/?token={token}")
        status, body = c.get("/api/info")
        assert status == 401 and "token" in body["error"]
        assert c.get("/api/info?token=wrong")[0] == 401
        assert c.request("GET", f"/api/info?token={token}", headers={"Host": f"evil.example:{c.port}"})[0] == 403
        conn = http.client.HTTPConnection("127.0.0.1", c.port, timeout=10)
        conn.request("GET", f"/?token={token}")
        res = conn.getresponse()
        res.read()
        cookie = res.getheader("Set-Cookie")
        assert res.status == 200 and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        jar = cookie.split(";")[0]
        assert c.request("GET", "/api/info", headers={"Cookie": jar})[0] == 200
        assert c.request("GET", "/api/info", headers={"X-Review-Token": token})[0] == 200
        assert c.post(_path("x_1") + "/decision", {"decision": "accept"}, headers={"Cookie": jar})[0] == 200
        assert state.status("x_1") == "accepted"
