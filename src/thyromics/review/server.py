"""The review web server: the page, its static files, and a small JSON API.

Standard library only (:class:`http.server.ThreadingHTTPServer`). Routes::

    GET  /                                   the review page
    GET  /static/<file>                      its script and style sheet
    GET  /api/info                           reader, study, folders, counts per status
    GET  /api/cases[?status=S]               the case list with statuses
    GET  /api/cases/<id>                     one case: shape, spacing, status, metrics
    GET  /api/cases/<id>/slice/<z>[?preset=] slice z as PNG (window preset, see render)
    GET  /api/cases/<id>/mask/<which>        current | proposed | reference, packed bits
    POST /api/cases/<id>/metrics             {"mask"}: Dice/IoU/HD95 of an edited mask
    POST /api/cases/<id>/decision            {"decision", "reason", "mask"}: write it

Errors are JSON ``{"error": "..."}`` with 400 (malformed request, JSON nested too
deeply), 401 (no or a wrong access token), 403 (a path outside the study folder or the
static folder, a foreign Host or Origin header, a cross-site request), 404 (unknown
case, route or missing file), 408 (a body that stopped arriving), 413 (body too large),
422 (unreadable file) or 500 (a bug, with its message); a failing request never stops
the server.

Guards, on every address the server is bound to: the ``Host`` header must name the
server (no DNS rebinding), an ``Origin`` header must be the server's own, and a request
that the browser marks as coming from another site (``Sec-Fetch-Site``) is refused unless
it is the user following a link (a top-level ``GET`` navigation). A
connection that sends nothing for ``read_timeout`` seconds is closed. Bound to any
address but loopback, every request also needs the per-run token printed in the URL
(``?token=...``; the page then keeps it in a same-site, HTTP-only cookie).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import math
import secrets
import socket
import sys
import traceback
import warnings
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from thyromics.errors import CaseError, InputError
from thyromics.review.codec import decode_mask, encode_mask
from thyromics.review.render import PRESETS, default_preset, slice_png
from thyromics.review.state import STATUSES, ReaderState
from thyromics.review.cases import ReviewError, is_inside

__all__ = ["ReviewApp", "make_server", "is_loopback", "MAX_BODY", "READ_TIMEOUT"]

#: Largest accepted request body (a 512 x 512 x 300 mask packs to about 10 MB of base64).
MAX_BODY = 64 * 1024 * 1024
#: Seconds a connection may stay silent (idle keep-alive, a half-open socket, a stalled body).
READ_TIMEOUT = 30.0
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8"}
_CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.x.x.x``, ``::1``)."""
    try:
        return host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN and infinities become null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


class ReviewApp:
    """What the handler serves: one study, one reader."""

    def __init__(self, state: ReaderState) -> None:
        self.state = state
        self.study = state.study
        self.static = Path(str(resources.files("thyromics.review") / "static")).resolve()

    # ------------------------------------------------------------------ API
    def info(self) -> dict[str, Any]:
        return {"reader": self.state.reader, "manifest": str(self.study.manifest),
                "root": str(self.study.root), "folder": str(self.state.folder),
                "proposed_column": self.study.proposed_column,
                "reference_column": self.study.reference_column, "n_cases": len(self.study),
                "counts": self.state.counts(), "statuses": list(STATUSES), "presets": list(PRESETS)}

    def cases(self, status: str | None) -> dict[str, Any]:
        if status is not None and status not in STATUSES:
            raise ReviewError(400, f"unknown status {status!r}: expected one of {', '.join(STATUSES)}.")
        rows = [r for r in self.state.rows() if status is None or r["status"] == status]
        return {"cases": rows, "counts": self.state.counts()}

    def _neighbours(self, case_id: str) -> dict[str, str | None]:
        ids = list(self.study.cases)
        i = ids.index(case_id)
        later = ids[i + 1:] + ids[:i]
        todo = next((c for c in later if self.state.status(c) == "to review"), None)
        return {"prev": ids[i - 1] if i > 0 else None, "next": ids[i + 1] if i + 1 < len(ids) else None,
                "next_to_review": todo, "index": i, "total": len(ids)}

    def _agreement(self, mask, other, spacing) -> dict[str, float]:
        from thyromics.evaluate.segmentation import case_agreement

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # empty masks: NaN metrics, shown as "-"
            return case_agreement(other, mask, spacing)

    def case(self, case_id: str) -> dict[str, Any]:
        case = self.study.case(case_id)
        image = self.study.image(case_id)
        proposed = self.study.mask(case_id, "proposed")
        spacing = image.spacing[::-1]
        out: dict[str, Any] = {
            "case_id": case_id, "shape": list(image.array.shape), "ndim": image.ndim,
            "spacing": list(spacing), "status": self.state.status(case_id),
            "decision": self.state.latest.get(case_id), "has_reference": case.reference is not None,
            "default_preset": default_preset(image), "presets": list(PRESETS),
            "proposed_voxels": int(proposed.array.sum()), **self._neighbours(case_id)}
        if case.reference is not None:
            ref = self.study.mask(case_id, "reference").array
            out["proposed_vs_reference"] = self._agreement(proposed.array, ref, spacing)
        return out

    def slice(self, case_id: str, z: str, preset: str | None) -> bytes:
        image = self.study.image(case_id)
        try:
            index = int(z)
        except ValueError:
            raise ReviewError(400, f"slice index {z!r} is not an integer.") from None
        return slice_png(image, index, preset or default_preset(image))

    def mask(self, case_id: str, which: str) -> dict[str, Any]:
        if which == "current":
            arr, source = self.state.current_mask(case_id)
        elif which in ("proposed", "reference"):
            arr, source = self.study.mask(case_id, which).array, which
        else:
            raise ReviewError(404, f"unknown mask {which!r}: expected current, proposed or reference.")
        return {**encode_mask(arr), "source": source}

    def metrics(self, case_id: str, body: dict[str, Any]) -> dict[str, Any]:
        case = self.study.case(case_id)
        proposed = self.study.mask(case_id, "proposed")
        mask = decode_mask(body.get("mask"), proposed.array.shape)
        spacing = proposed.spacing[::-1]
        out: dict[str, Any] = {"voxels": int(mask.sum()),
                               "vs_proposed": self._agreement(mask, proposed.array, spacing)}
        if case.reference is not None:
            out["vs_reference"] = self._agreement(mask, self.study.mask(case_id, "reference").array, spacing)
        return out

    def decide(self, case_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self.study.case(case_id)
        decision = body.get("decision")
        if not isinstance(decision, str):
            raise ReviewError(400, 'the body needs "decision": "accept", "correct" or "reject".')
        reason = body.get("reason", "")
        if not isinstance(reason, str):
            raise ReviewError(400, '"reason" must be a string.')
        mask = None
        if decision == "correct":
            if "mask" not in body:
                raise ReviewError(400, "a correction needs the corrected mask.")
            mask = decode_mask(body["mask"], self.study.mask(case_id, "proposed").array.shape)
        row = self.state.record(case_id, decision, reason, mask)
        return {"row": row, "status": self.state.status(case_id), **self._neighbours(case_id)}


class _Handler(BaseHTTPRequestHandler):
    app: ReviewApp
    allowed_hosts: frozenset[str] = frozenset()
    token: str | None = None
    cookie: str = "thyromics-review"
    timeout: float | None = READ_TIMEOUT  # socket timeout of every read (StreamRequestHandler)
    _set_cookie = False
    server_version = "thyromics-review"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep the console quiet
        return

    # ------------------------------------------------------------------ replies
    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        if self._set_cookie:
            self.send_header("Set-Cookie", f"{self.cookie}={self.token}; Path=/; HttpOnly; "
                                           "SameSite=Strict")
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if ctype.startswith("text/html"):
            self.send_header("Content-Security-Policy", _CSP)
            self.send_header("X-Frame-Options", "DENY")
            self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(_clean(obj)).encode(), "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message, "status": status})

    def _body(self) -> dict[str, Any]:
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise ReviewError(400, "the request needs a Content-Length header.") from None
        if length > MAX_BODY:
            self.close_connection = True
            raise ReviewError(413, f"request body of {length} bytes exceeds {MAX_BODY}.")
        raw = self.rfile.read(length) if length > 0 else b""
        if ctype != "application/json":
            raise ReviewError(400, f"send JSON (Content-Type: application/json), not {ctype or 'nothing'}.")
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ReviewError(400, f"malformed JSON body: {e}") from e
        except RecursionError:
            raise ReviewError(400, "the JSON body is nested too deeply; send the object "
                                   "{\"decision\", \"reason\", \"mask\"}.") from None
        if not isinstance(body, dict):
            raise ReviewError(400, "the JSON body must be an object.")
        return body

    # ------------------------------------------------------------------ routing
    def _static(self, parts: list[str]) -> None:
        target = (self.app.static / "/".join(parts)).resolve()
        if not is_inside(target, self.app.static):
            raise ReviewError(403, "refused: the path leaves the static folder.")
        if not target.is_file() or target.suffix not in _TYPES:
            raise ReviewError(404, f"no such file: /static/{'/'.join(parts)}")
        self._send(200, target.read_bytes(), _TYPES[target.suffix])

    def _guard(self, method: str, query: dict[str, str]) -> None:
        """Host, Origin and Sec-Fetch-Site checks; the token when one is set."""
        host = self.headers.get("Host", "")
        if host.lower() not in self.allowed_hosts:
            raise ReviewError(403, f"refused: Host {host!r} is not this server's address.")
        origin = self.headers.get("Origin")
        if origin is not None and not (origin.lower().startswith("http://")
                                       and origin.lower()[7:] in self.allowed_hosts):
            raise ReviewError(403, f"refused: a request from the page {origin!r}, not from this "
                                   "server's own page.")
        site = self.headers.get("Sec-Fetch-Site", "none")
        link = method == "GET" and self.headers.get("Sec-Fetch-Mode") == "navigate"
        if site not in ("same-origin", "none") and not link:
            raise ReviewError(403, f"refused: a {site} request (from another site's page).")
        if self.token is None:
            return
        given = query.get("token") or self.headers.get("X-Review-Token")
        if given is None:
            try:
                morsel = SimpleCookie(self.headers.get("Cookie", "")).get(self.cookie)
            except CookieError:
                morsel = None
            given = morsel.value if morsel is not None else None
        if given is None or not hmac.compare_digest(given.encode(), self.token.encode()):
            raise ReviewError(401, "this server needs its access token: open the address it "
                                   "printed at start (it ends in ?token=...).")
        self._set_cookie = "token" in query

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        raw_parts = [p for p in url.path.split("/") if p]
        parts = [unquote(p) for p in raw_parts]
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self._guard(method, query)
        if parts and parts[0] != "api" and any(p == ".." or "/" in p or "\\" in p or "\x00" in p
                                               for p in parts):
            raise ReviewError(403, "refused: the path leaves the served folders.")
        if method == "GET" and not parts:
            return self._static(["review.html"])
        if method == "GET" and parts == ["favicon.ico"]:
            return self._send(204, b"", "image/x-icon")
        if method == "GET" and parts[0] == "static":
            return self._static(parts[1:])
        if parts[0] != "api":
            raise ReviewError(404, f"no such page: {url.path}")
        a = self.app
        route = parts[1:]
        if method == "GET" and route == ["info"]:
            return self._json(200, a.info())
        if method == "GET" and route == ["cases"]:
            return self._json(200, a.cases(query.get("status")))
        if len(route) >= 2 and route[0] == "cases":
            cid, rest = route[1], route[2:]
            if method == "GET" and not rest:
                return self._json(200, a.case(cid))
            if method == "GET" and len(rest) == 2 and rest[0] == "slice":
                return self._send(200, a.slice(cid, rest[1], query.get("preset")), "image/png")
            if method == "GET" and len(rest) == 2 and rest[0] == "mask":
                return self._json(200, a.mask(cid, rest[1]))
            if method == "POST" and rest == ["metrics"]:
                return self._json(200, a.metrics(cid, self._body()))
            if method == "POST" and rest == ["decision"]:
                return self._json(200, a.decide(cid, self._body()))
        raise ReviewError(404, f"no such route: {method} {url.path}")

    def _handle(self, method: str) -> None:
        self._set_cookie = False
        try:
            self._route(method)
        except ReviewError as e:
            self._error(e.status, str(e))
        except CaseError as e:
            self._error(422, str(e))
        except InputError as e:
            self._error(400, str(e))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except TimeoutError:  # the body stopped arriving: answer once, then hang up
            self.close_connection = True
            try:
                self._error(408, f"the request body stopped arriving for {self.timeout} s; "
                                 "the connection is closed.")
            except OSError:
                pass
        except Exception as e:  # noqa: BLE001 - answer, log, and keep serving
            traceback.print_exc(file=sys.stderr)
            self._error(500, f"internal error ({type(e).__name__}: {e}); the server goes on.")

    def do_GET(self) -> None:  # noqa: N802 - http.server's names
        self._handle("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._error(405, "method not allowed: use GET or POST.")

    do_DELETE = do_PATCH = do_PUT


def _names(host: str, port: int, extra: tuple[str, ...]) -> frozenset[str]:
    """The ``Host`` header values that name this server."""
    names = {host, *extra}
    if is_loopback(host):
        names.update(_LOOPBACK_NAMES)
    else:
        names.update({socket.gethostname(), socket.getfqdn()})
    if host in ("", "0.0.0.0", "::"):  # every interface: its names and addresses
        names.update(_LOOPBACK_NAMES)
        try:
            names.update(a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None))
        except OSError:
            pass
    shown = {f"[{n}]" if ":" in n and not n.startswith("[") else n for n in names if n}
    out = {f"{n}:{port}".lower() for n in shown}
    return frozenset(out | ({n.lower() for n in shown} if port == 80 else set()))


def make_server(state: ReaderState, host: str = "127.0.0.1", port: int = 0, *,
                token: str | None = None, read_timeout: float | None = READ_TIMEOUT,
                allowed_hosts: tuple[str, ...] = ()) -> tuple[ThreadingHTTPServer, str]:
    """A server for ``state`` bound to ``host:port`` (port 0: a free one), and its URL.

    Call ``serve_forever()`` on it (in a thread for tests) and ``shutdown()`` to stop.

    Parameters
    ----------
    token : str, optional
        Access token every request must carry. Default: none on a loopback address, a
        new random one (``secrets.token_urlsafe``) on any other; it is part of the URL.
    read_timeout : float or None
        Seconds a connection may stay silent before it is closed.
    allowed_hosts : tuple of str
        More names this server is reached by (e.g. behind a DNS alias), for the Host check.
    """
    if token is None and not is_loopback(host):
        token = secrets.token_urlsafe(24)
    app = ReviewApp(state)
    handler = type("ReviewHandler", (_Handler,), {"app": app, "token": token,
                                                  "timeout": read_timeout})
    server_class = ThreadingHTTPServer
    if ":" in host:  # an IPv6 address
        server_class = type("ReviewServer6", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6})
    httpd = server_class((host, port), handler)
    httpd.daemon_threads = True
    real_port = httpd.server_address[1]
    handler.allowed_hosts = _names(host, real_port, tuple(allowed_hosts))
    handler.cookie = f"thyromics-review-{real_port}"
    shown = socket.gethostname() if host in ("", "0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    query = f"?token={quote(token)}" if token else ""
    return httpd, f"http://{shown}:{real_port}/{query}"
