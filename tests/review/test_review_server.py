"""The review server through an HTTP client: list, decisions, saved masks, resume, errors."""

from __future__ import annotations

import base64
import csv
import hashlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image as PILImage

from thyromics.io import read_image, read_mask
from thyromics.review.render import apply_window, window_bounds
from thyromics.review.server import make_server
from thyromics.review.state import LOG_COLUMNS, ReaderState
from thyromics.review.cases import load_study

SHAPE_2D = (64, 80)
SPACING_3D = (0.7, 0.8, 2.5)  # ITK order x, y, z
ORIGIN_3D = (-10.0, 4.0, 30.0)
DIRECTION_3D = (1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, -1.0, 0.0)


def _disk(shape, cy, cx, r):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.uint8)


def make_study(root: Path) -> Path:
    """A small study: three 2D ultrasound-like cases (PNG image, GIF 0/255 masks, reference),
    one 3D NIfTI case with real geometry, one row outside the study folder, one missing mask."""
    study = root / "study"
    for sub in ("images", "masks", "refs"):
        (study / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    rows = ["case_id,patient_id,image,mask,reference"]
    for i in range(3):
        img = (rng.random(SHAPE_2D) * 80 + 60).astype(np.uint8)
        prop = _disk(SHAPE_2D, 30, 40, 10 + i)
        img[prop == 1] += 80
        ref = _disk(SHAPE_2D, 31, 41, 11)
        PILImage.fromarray(img).save(study / f"images/c{i}.png")
        PILImage.fromarray(prop * 255).save(study / f"masks/c{i}.gif")
        PILImage.fromarray(ref * 255).save(study / f"refs/c{i}.gif")
        rows.append(f"c{i},p{i},images/c{i}.png,masks/c{i}.gif,refs/c{i}.gif")
    vol = (rng.normal(40, 20, (6, 32, 40))).astype(np.int16)
    vmask = np.zeros(vol.shape, np.uint8)
    vmask[2:4, 10:20, 12:24] = 1
    for arr, name in ((vol, "images/v3.nii.gz"), (vmask, "masks/v3.nii.gz")):
        img = sitk.GetImageFromArray(arr)
        img.SetSpacing(SPACING_3D), img.SetOrigin(ORIGIN_3D), img.SetDirection(DIRECTION_3D)
        sitk.WriteImage(img, str(study / name))
    rows.append("v3,p3,images/v3.nii.gz,masks/v3.nii.gz,")
    outside = root / "outside"
    outside.mkdir(exist_ok=True)
    PILImage.fromarray(np.zeros(SHAPE_2D, np.uint8)).save(outside / "secret.png")
    rows.append("outside,p4,../outside/secret.png,masks/c0.gif,")
    rows.append("missing,p5,images/c0.png,masks/not_there.gif,")
    (study / "cases.csv").write_text("\n".join(rows) + "\n")
    return study / "cases.csv"


def pack(mask: np.ndarray) -> dict:
    return {"shape": list(mask.shape),
            "bits": base64.b64encode(np.packbits(mask.ravel() != 0).tobytes()).decode()}


def unpack(obj: dict) -> np.ndarray:
    n = int(np.prod(obj["shape"]))
    return np.unpackbits(np.frombuffer(base64.b64decode(obj["bits"]), np.uint8), count=n).reshape(obj["shape"])


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def naive_dice(a, b) -> float:
    a, b = np.asarray(a) != 0, np.asarray(b) != 0
    return 2 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


class Client:
    def __init__(self, port: int) -> None:
        self.port = port

    def request(self, method: str, path: str, body=None, *, raw: bytes | None = None,
                ctype: str = "application/json", headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        hdrs = {"Content-Type": ctype} if data is not None else {}
        hdrs.update(headers or {})
        conn.request(method, path, body=data, headers=hdrs)
        res = conn.getresponse()
        payload = res.read()
        conn.close()
        if res.getheader("Content-Type", "").startswith("application/json"):
            return res.status, json.loads(payload)
        return res.status, payload

    def get(self, path: str):
        return self.request("GET", path)

    def post(self, path: str, body=None, **kw):
        return self.request("POST", path, body, **kw)


@contextmanager
def serving(manifest: Path, out: Path, reader: str = "alice", reference: str | None = "reference"):
    state = ReaderState(load_study(manifest, reference=reference), out, reader)
    httpd, url = make_server(state, "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Client(httpd.server_address[1]), state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture()
def study(tmp_path) -> Path:
    return make_study(tmp_path)


def test_list_and_status(study, tmp_path):
    with serving(study, tmp_path / "review") as (c, _):
        status, info = c.get("/api/info")
        assert status == 200 and info["reader"] == "alice" and info["n_cases"] == 6
        assert info["counts"]["to review"] == 6
        status, data = c.get("/api/cases")
        assert [r["case_id"] for r in data["cases"]] == ["c0", "c1", "c2", "v3", "outside", "missing"]
        assert {r["status"] for r in data["cases"]} == {"to review"}
        assert [r["has_reference"] for r in data["cases"]][:4] == [True, True, True, False]
        status, page = c.get("/")
        assert status == 200 and b"review.js" in page
        status, meta = c.get("/api/cases/c1")
        assert meta["shape"] == list(SHAPE_2D) and meta["ndim"] == 2 and meta["prev"] == "c0"
        prop = read_mask(study.parent / "masks/c1.gif").array
        ref = read_mask(study.parent / "refs/c1.gif").array
        assert meta["proposed_vs_reference"]["dice"] == pytest.approx(naive_dice(prop, ref))
        status, png = c.get("/api/cases/c1/slice/0?preset=us")
        assert status == 200 and png[:8] == b"\x89PNG\r\n\x1a\n"
        status, cur = c.get("/api/cases/c1/mask/current")
        assert cur["source"] == "proposed" and np.array_equal(unpack(cur), prop)
        assert c.get("/api/cases?status=bogus")[0] == 400


def test_correction_is_saved_in_the_input_format(study, tmp_path):
    proposed_file = study.parent / "masks/c1.gif"
    before = sha(proposed_file)
    prop = read_mask(proposed_file).array
    ref = read_mask(study.parent / "refs/c1.gif").array
    edited = prop.copy()
    edited[5:12, 5:15] = 1  # a painted patch away from the lesion
    edited[30, 30:45] = 0
    with serving(study, tmp_path / "review") as (c, state):
        status, res = c.post("/api/cases/c1/decision", {"decision": "correct", "mask": pack(edited)})
        assert status == 200, res
        assert res["status"] == "corrected" and res["next_to_review"] == "c2"
        saved = state.folder / "masks" / "c1.gif"
        assert sha(proposed_file) == before  # the proposal is never written
        assert saved.is_file()
        assert np.array_equal(read_mask(saved).array, edited)
        assert set(np.unique(read_image(saved).array)) == {0, 255}  # like the proposed GIF
        with open(state.log_path, newline="") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == 1 and tuple(rows[0]) == LOG_COLUMNS
        row = rows[0]
        assert (row["case_id"], row["reader"], row["decision"], row["mask"]) == ("c1", "alice", "corrected", "masks/c1.gif")
        assert int(row["changed_voxels"]) == int((edited != prop).sum())
        assert float(row["dice_before"]) == pytest.approx(naive_dice(prop, ref), abs=1e-5)
        assert float(row["dice_after"]) == pytest.approx(naive_dice(edited, ref), abs=1e-5)
        assert float(row["dice_vs_proposed"]) == pytest.approx(naive_dice(edited, prop), abs=1e-5)
        status, cur = c.get("/api/cases/c1/mask/current")
        assert cur["source"] == "saved" and np.array_equal(unpack(cur), edited)
        status, m = c.post("/api/cases/c1/metrics", {"mask": pack(edited)})
        assert m["vs_reference"]["dice"] == pytest.approx(naive_dice(edited, ref))


def test_3d_correction_keeps_the_geometry(study, tmp_path):
    prop = read_mask(study.parent / "masks/v3.nii.gz").array
    edited = prop.copy()
    edited[4, 5:9, 5:9] = 1  # another slice
    with serving(study, tmp_path / "review") as (c, state):
        status, meta = c.get("/api/cases/v3")
        assert meta["shape"] == [6, 32, 40] and meta["ndim"] == 3
        assert meta["spacing"] == pytest.approx(list(SPACING_3D[::-1]))
        assert c.get("/api/cases/v3/slice/5?preset=ct_soft")[0] == 200
        status, res = c.post("/api/cases/v3/decision", {"decision": "correct", "mask": pack(edited)})
        assert status == 200, res
        saved = sitk.ReadImage(str(state.folder / "masks" / "v3.nii.gz"))
    assert saved.GetSpacing() == pytest.approx(SPACING_3D)
    assert saved.GetOrigin() == pytest.approx(ORIGIN_3D)
    assert saved.GetDirection() == pytest.approx(DIRECTION_3D)
    assert np.array_equal(sitk.GetArrayFromImage(saved), edited)


def test_restart_resumes_and_readers_stay_separate(study, tmp_path):
    out = study.parent / "review"  # the default place: inside the study folder
    with serving(study, out, "alice") as (c, _):
        assert c.post("/api/cases/c0/decision", {"decision": "accept"})[0] == 200
        assert c.post("/api/cases/c2/decision", {"decision": "reject"})[0] == 400  # no reason
        assert c.post("/api/cases/c2/decision", {"decision": "reject", "reason": "wrong nodule"})[0] == 200
    with serving(study, out, "alice") as (c, _):  # a new server on the same folder
        status, data = c.get("/api/cases")
        got = {r["case_id"]: (r["status"], r["reason"]) for r in data["cases"]}
        assert got["c0"] == ("accepted", "") and got["c2"] == ("rejected", "wrong nodule")
        assert got["c1"] == ("to review", "")
        assert data["counts"] == {"to review": 4, "accepted": 1, "corrected": 0, "rejected": 1}
        assert c.get("/api/cases/c2")[1]["next_to_review"] == "v3"
    alice = out / "alice" / "cases.csv"
    with serving(study, out, "bob", reference=f"{alice}:reviewed_mask") as (c, state):
        status, data = c.get("/api/cases")
        assert {r["status"] for r in data["cases"]} == {"to review"}
        assert [r["has_reference"] for r in data["cases"]][:3] == [True, False, False]
        status, meta = c.get("/api/cases/c0")  # alice accepted the proposal: it is bob's reference
        assert meta["proposed_vs_reference"]["dice"] == 1.0
        assert c.post("/api/cases/c0/decision", {"decision": "reject", "reason": "bob says no"})[0] == 200
    assert (out / "alice" / "decisions.csv").read_text().count("\n") == 3  # header + 2 rows
    assert "bob says no" not in (out / "alice" / "decisions.csv").read_text()
    with open(out / "alice" / "cases.csv", newline="") as f:
        manifest = {r["case_id"]: r for r in csv.DictReader(f)}
    assert Path(manifest["c0"]["reviewed_mask"]) == (study.parent / "masks/c0.gif").resolve()
    assert manifest["c2"]["decision"] == "rejected" and manifest["c2"]["reviewed_mask"] == ""


def test_a_truncated_log_line_is_skipped(study, tmp_path):
    out = tmp_path / "review"
    with serving(study, out) as (c, state):
        assert c.post("/api/cases/c0/decision", {"decision": "accept"})[0] == 200
        log = state.log_path
    with open(log, "a") as f:
        f.write("2026-01-01T00:00:00+00:00,c1,alice,corr")  # a write cut short
    with pytest.warns(Warning, match="incomplete"):
        state = ReaderState(load_study(study, reference="reference"), out, "alice")
    assert state.status("c0") == "accepted" and state.status("c1") == "to review"


def test_bad_requests_get_clear_errors(study, tmp_path):
    good = pack(read_mask(study.parent / "masks/c0.gif").array)
    with serving(study, tmp_path / "review") as (c, state):
        cases = [
            (c.post("/api/cases/c0/decision", raw=b"{not json"), 400, "malformed JSON"),
            (c.post("/api/cases/c0/decision", raw=b"[1, 2]"), 400, "object"),
            (c.post("/api/cases/c0/decision", raw=b"decision=accept", ctype="application/x-www-form-urlencoded"), 400, "JSON"),
            (c.post("/api/cases/c0/decision", {"decision": "maybe"}), 400, "unknown decision"),
            (c.post("/api/cases/c0/decision", {"decision": "correct"}), 400, "needs the corrected mask"),
            (c.post("/api/cases/c0/decision", {"decision": "correct", "mask": {"shape": [2, 2], "bits": "AA=="}}), 400, "shape"),
            (c.post("/api/cases/c0/decision", {"decision": "correct", "mask": {**good, "bits": "***"}}), 400, "base64"),
            (c.post("/api/cases/c0/decision", {"decision": "correct", "mask": {**good, "bits": "AAAA"}}), 400, "bytes"),
            (c.post("/api/cases/nope/decision", {"decision": "accept"}), 404, "unknown case"),
            (c.get("/api/cases/nope"), 404, "unknown case"),
            (c.get("/api/cases/c0/slice/7"), 400, "out of range"),
            (c.get("/api/cases/c0/slice/x"), 400, "integer"),
            (c.get("/api/cases/c0/slice/0?preset=bone"), 400, "preset"),
            (c.get("/api/cases/missing"), 404, "missing"),
            (c.get("/api/nothing"), 404, "no such route"),
            (c.request("PUT", "/api/cases/c0/decision", {"decision": "accept"}), 405, "not allowed"),
        ]
        for (status, body), want, text in cases:
            assert status == want, (want, body)
            assert text in body["error"], (text, body)
        assert not state.log_path.exists()  # nothing was recorded
        assert c.get("/api/info")[0] == 200  # and the server goes on


def test_paths_outside_the_study_are_refused(study, tmp_path):
    with serving(study, tmp_path / "review") as (c, _):
        for path in ("/static/../../../../etc/passwd", "/static/..%2F..%2Fstate.py",
                     "/static/%2e%2e/%2e%2e/server.py", "/../../etc/passwd"):
            status, body = c.get(path)
            assert status == 403, (path, status, body)
        status, body = c.get("/api/cases/outside")  # the manifest row points outside the folder
        assert status == 403 and "outside the study folder" in body["error"]
        assert c.get("/api/cases/outside/slice/0")[0] == 403
        status, body = c.request("GET", "/api/info", headers={"Host": "evil.example:80"})
        assert status == 403 and "Host" in body["error"]


def test_window_presets():
    ct = np.array([-1000, -160, 40, 240, 1000], float)
    low, high = window_bounds(ct, "ct_soft")
    assert (low, high) == (-160.0, 240.0)
    assert apply_window(ct, low, high).tolist() == [0, 0, 128, 255, 255]
    assert window_bounds(ct, "ct_lung") == (-1350.0, 150.0)
    assert window_bounds(np.array([3, 200], np.uint8), "us") == (0.0, 255.0)


def test_review_command_binds_loopback_and_serves(study, tmp_path):
    cmd = [sys.executable, "-m", "thyromics.cli", "review", str(study), "--reference", "reference",
           "--reader", "carol", "-o", str(tmp_path / "r"), "--port", "0", "--no-browser"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"}) as proc:
        try:
            lines = []
            for _ in range(20):
                line = proc.stdout.readline()
                lines.append(line)
                if line.startswith("Open http") or not line:
                    break
            text = "".join(lines)
            assert "loopback" in text, text
            port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", text).group(1))
            status, info = Client(port).get("/api/info")
            assert status == 200 and info["reader"] == "carol"
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
