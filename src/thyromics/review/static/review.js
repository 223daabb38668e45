// thyromics review page: case list, viewer and mask editor. Plain JS + canvas, no
// external assets. Masks travel as numpy.packbits (big-endian bits) in base64, see
// thyromics/review/codec.py.
"use strict";

const $ = (sel) => document.querySelector(sel);
const S = {
  info: null, filter: "", meta: null, id: null,
  nz: 1, ny: 0, nx: 0, z: 0, mask: null, proposed: null, reference: null,
  images: new Map(), preset: null, overlay: "outline", showRef: true,
  tool: "brush", size: 8, zoom: 1, panX: 0, panY: 0,
  undo: [], redo: [], dirty: false, stroke: null, panning: null, space: false,
  metricsTimer: null, lastMetrics: null, busy: false,
};
const overlayCanvas = document.createElement("canvas");

// ------------------------------------------------------------------ helpers
async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  const data = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (!res.ok) throw new Error(data.error || `HTTP ${res.status}`);
  return data;
}
const enc = encodeURIComponent;
const caseUrl = (id) => `/api/cases/${enc(id)}`;

function unpack(b64, n) {
  const bin = atob(b64);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (bin.charCodeAt(i >> 3) >> (7 - (i & 7))) & 1;
  return out;
}
function pack(mask) {
  const bytes = new Uint8Array((mask.length + 7) >> 3);
  for (let i = 0; i < mask.length; i++) if (mask[i]) bytes[i >> 3] |= 0x80 >> (i & 7);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}
function say(text, isError) {
  const m = $("#message");
  m.textContent = text;
  m.className = isError ? "error" : "";
}
const fmt = (v, d = 3) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
const sliceLen = () => S.ny * S.nx;
const sliceView = (arr, z) => arr.subarray(z * sliceLen(), (z + 1) * sliceLen());

// ------------------------------------------------------------------ list
async function showList() {
  $("#case-view").hidden = true;
  $("#list-view").hidden = false;
  S.id = null;
  document.body.dataset.view = "list";
  const q = S.filter ? `?status=${enc(S.filter)}` : "";
  let data;
  try { data = await api("GET", `/api/cases${q}`); } catch (e) { say(e.message, true); return; }
  renderCounts(data.counts);
  for (const b of document.querySelectorAll("#filters button[data-status]"))
    b.classList.toggle("active", b.dataset.status === S.filter);
  const body = $("#case-table tbody");
  body.textContent = "";
  data.cases.forEach((c, i) => {
    const tr = document.createElement("tr");
    tr.dataset.caseId = c.case_id;
    const cells = [String(i + 1), null, null, c.reason, c.time, c.dice_after];
    cells.forEach((text, k) => {
      const td = document.createElement("td");
      if (k === 1) {
        const a = document.createElement("a");
        a.href = `#/case/${enc(c.case_id)}`;
        a.textContent = c.case_id;
        td.appendChild(a);
      } else if (k === 2) {
        const span = document.createElement("span");
        span.className = `badge s-${c.status.replace(" ", "-")}`;
        span.textContent = c.status;
        td.appendChild(span);
      } else td.textContent = text || "";
      tr.appendChild(td);
    });
    body.appendChild(tr);
  });
  document.body.dataset.ready = "list";
}
function renderCounts(counts) {
  const el = $("#counts");
  el.textContent = "";
  for (const [k, v] of Object.entries(counts || {})) {
    const s = document.createElement("span");
    s.textContent = `${k}: ${v}`;
    el.appendChild(s);
  }
}

// ------------------------------------------------------------------ case
async function openCase(id) {
  document.body.dataset.ready = "";
  $("#list-view").hidden = true;
  $("#case-view").hidden = false;
  document.body.dataset.view = "case";
  window.scrollTo(0, 0);
  say("loading …");
  try {
    const meta = await api("GET", caseUrl(id));
    const cur = await api("GET", `${caseUrl(id)}/mask/current`);
    const prop = cur.source === "proposed" ? cur : await api("GET", `${caseUrl(id)}/mask/proposed`);
    const ref = meta.has_reference ? await api("GET", `${caseUrl(id)}/mask/reference`) : null;
    S.meta = meta; S.id = id;
    [S.nz, S.ny, S.nx] = meta.ndim === 3 ? meta.shape : [1, ...meta.shape];
    const n = S.nz * S.ny * S.nx;
    S.mask = unpack(cur.bits, n);
    S.proposed = unpack(prop.bits, n);
    S.reference = ref ? unpack(ref.bits, n) : null;
    S.images.clear();
    S.undo = []; S.redo = []; S.dirty = false; S.lastMetrics = null;
    S.z = bestSlice();
    const sel = $("#preset");
    sel.textContent = "";
    for (const p of meta.presets) sel.add(new Option(p, p));
    S.preset = meta.default_preset;
    sel.value = S.preset;
    overlayCanvas.width = S.nx; overlayCanvas.height = S.ny;
    $("#case-title").textContent = `${id}  (${meta.index + 1} / ${meta.total})`;
    setStatus(meta.status, meta.decision);
    $("#reason").value = meta.decision && meta.decision.reason ? meta.decision.reason : "";
    fit();
    await loadSlice();
    renderMetrics();
    say(cur.source === "saved" ? "showing your saved correction" : "");
    document.body.dataset.ready = id;
  } catch (e) {
    say(`cannot open case ${id}: ${e.message}`, true);
    document.body.dataset.ready = `error:${id}`;
  }
}
function setStatus(status, decision) {
  const b = $("#case-status");
  b.textContent = status + (decision && decision.reason ? ` – ${decision.reason}` : "");
  b.className = `badge s-${status.replace(" ", "-")}`;
}
function bestSlice() {
  let best = Math.floor(S.nz / 2), most = 0;
  for (let z = 0; z < S.nz; z++) {
    const v = sliceView(S.mask, z);
    let c = 0;
    for (let i = 0; i < v.length; i++) c += v[i];
    if (c > most) { most = c; best = z; }
  }
  return best;
}
function loadSlice() {
  const key = `${S.z}|${S.preset}`;
  if (S.images.has(key)) { draw(); return Promise.resolve(); }
  return new Promise((resolve) => {
    const img = new Image();
    img.onload = () => { S.images.set(key, img); draw(); resolve(); };
    img.onerror = () => { say(`cannot load slice ${S.z}`, true); resolve(); };
    img.src = `${caseUrl(S.id)}/slice/${S.z}?preset=${enc(S.preset)}`;
  });
}
function setSlice(z) {
  z = Math.max(0, Math.min(S.nz - 1, z));
  if (z === S.z) return;
  S.z = z;
  loadSlice();
}

// ------------------------------------------------------------------ drawing
function fit() {
  const c = $("#view");
  const w = c.clientWidth || 600, h = c.clientHeight || 600;
  S.zoom = Math.min(w / S.nx, h / S.ny);
  S.panX = (w - S.nx * S.zoom) / 2;
  S.panY = (h - S.ny * S.zoom) / 2;
  draw();
}
function draw() {
  const c = $("#view");
  if (!S.id) return;
  if (c.width !== c.clientWidth || c.height !== c.clientHeight) {
    c.width = c.clientWidth; c.height = c.clientHeight;
  }
  const ctx = c.getContext("2d");
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, c.width, c.height);
  ctx.imageSmoothingEnabled = false;
  ctx.setTransform(S.zoom, 0, 0, S.zoom, S.panX, S.panY);
  const img = S.images.get(`${S.z}|${S.preset}`);
  if (img) ctx.drawImage(img, 0, 0);
  paintOverlay();
  ctx.drawImage(overlayCanvas, 0, 0);
  const where = S.nz > 1 ? `slice ${S.z + 1} / ${S.nz} · ` : "";
  $("#slice-info").textContent = `${where}${S.nx} × ${S.ny} px · zoom ${S.zoom.toFixed(2)} · tool ${S.tool} ${S.size} px`;
}
function paintOverlay() {
  const octx = overlayCanvas.getContext("2d");
  const data = octx.createImageData(S.nx, S.ny);
  const px = data.data, nx = S.nx, ny = S.ny;
  const m = sliceView(S.mask, S.z);
  const r = S.reference && S.showRef ? sliceView(S.reference, S.z) : null;
  const edge = (a, i, x, y) => a[i] && (x === 0 || y === 0 || x === nx - 1 || y === ny - 1 ||
    !a[i - 1] || !a[i + 1] || !a[i - nx] || !a[i + nx]);
  for (let y = 0, i = 0; y < ny; y++) {
    for (let x = 0; x < nx; x++, i++) {
      const o = i * 4;
      if (r && edge(r, i, x, y)) { px[o] = 40; px[o + 1] = 220; px[o + 2] = 90; px[o + 3] = 255; }
      if (S.overlay === "fill" && m[i]) { px[o] = 255; px[o + 1] = 50; px[o + 2] = 50; px[o + 3] = 110; }
      else if (S.overlay === "outline" && edge(m, i, x, y)) { px[o] = 255; px[o + 1] = 40; px[o + 2] = 40; px[o + 3] = 255; }
    }
  }
  octx.putImageData(data, 0, 0);
}
function clientToImage(ev) {
  const rect = $("#view").getBoundingClientRect();
  return { x: (ev.clientX - rect.left - S.panX) / S.zoom, y: (ev.clientY - rect.top - S.panY) / S.zoom };
}
function imageToClient(x, y) {
  const rect = $("#view").getBoundingClientRect();
  return { x: rect.left + S.panX + (x + 0.5) * S.zoom, y: rect.top + S.panY + (y + 0.5) * S.zoom };
}
function zoomAt(factor, cx, cy) {
  const z = Math.max(0.1, Math.min(64, S.zoom * factor));
  S.panX = cx - (cx - S.panX) * (z / S.zoom);
  S.panY = cy - (cy - S.panY) * (z / S.zoom);
  S.zoom = z;
  draw();
}

// ------------------------------------------------------------------ editing
function remember() {
  S.undo.push({ z: S.z, data: sliceView(S.mask, S.z).slice() });
  if (S.undo.length > 200) S.undo.shift();
  S.redo = [];
}
function swap(from, to) {
  const e = from.pop();
  if (!e) return;
  const view = sliceView(S.mask, e.z);
  to.push({ z: e.z, data: view.slice() });
  view.set(e.data);
  S.z = e.z;
  edited();
  loadSlice();
}
function stamp(x, y, value) {
  const r = S.size / 2, view = sliceView(S.mask, S.z);
  const x0 = Math.max(0, Math.floor(x - r)), x1 = Math.min(S.nx - 1, Math.ceil(x + r));
  const y0 = Math.max(0, Math.floor(y - r)), y1 = Math.min(S.ny - 1, Math.ceil(y + r));
  for (let yy = y0; yy <= y1; yy++)
    for (let xx = x0; xx <= x1; xx++)
      if ((xx + 0.5 - x) ** 2 + (yy + 0.5 - y) ** 2 <= Math.max(r * r, 0.25)) view[yy * S.nx + xx] = value;
}
function strokeTo(p) {
  const value = S.tool === "brush" ? 1 : 0, last = S.stroke;
  const d = Math.hypot(p.x - last.x, p.y - last.y), step = Math.max(0.5, S.size / 4);
  const n = Math.max(1, Math.ceil(d / step));
  for (let k = 1; k <= n; k++) stamp(last.x + (p.x - last.x) * k / n, last.y + (p.y - last.y) * k / n, value);
  S.stroke = p;
  draw();
}
function fillAt(p) {
  const x = Math.floor(p.x), y = Math.floor(p.y), nx = S.nx, ny = S.ny;
  if (x < 0 || y < 0 || x >= nx || y >= ny) return;
  const view = sliceView(S.mask, S.z);
  if (view[y * nx + x]) { say("click inside a closed contour, not on the mask"); return; }
  const seen = new Uint8Array(nx * ny), stack = [y * nx + x], region = [];
  seen[y * nx + x] = 1;
  while (stack.length) {
    const i = stack.pop(), cx = i % nx, cy = (i - cx) / nx;
    if (cx === 0 || cy === 0 || cx === nx - 1 || cy === ny - 1) {
      say("not a closed contour: the region reaches the image border; nothing filled", true);
      return;
    }
    region.push(i);
    for (const j of [i - 1, i + 1, i - nx, i + nx]) if (!view[j] && !seen[j]) { seen[j] = 1; stack.push(j); }
  }
  remember();
  for (const i of region) view[i] = 1;
  say(`filled ${region.length} px`);
  edited();
  draw();
}
function edited() {
  S.dirty = S.mask.some((v, i) => v !== S.proposed[i]);
  clearTimeout(S.metricsTimer);
  S.metricsTimer = setTimeout(refreshMetrics, 250);
}
async function refreshMetrics() {
  if (!S.id) return;
  try {
    S.lastMetrics = await api("POST", `${caseUrl(S.id)}/metrics`, { mask: { shape: S.meta.shape, bits: pack(S.mask) } });
  } catch (e) { say(e.message, true); }
  renderMetrics();
}
function renderMetrics() {
  const t = $("#metrics");
  t.textContent = "";
  const rows = [["", "Dice", "IoU", "HD95 mm"]];
  if (S.meta.proposed_vs_reference) rows.push(["proposed vs reference", ...vals(S.meta.proposed_vs_reference)]);
  if (S.lastMetrics && S.lastMetrics.vs_reference) rows.push(["edited vs reference", ...vals(S.lastMetrics.vs_reference)]);
  if (S.lastMetrics) rows.push(["edited vs proposed", ...vals(S.lastMetrics.vs_proposed)]);
  if (!S.meta.has_reference) rows.push(["no reference mask", "", "", ""]);
  rows.forEach((r, k) => {
    const tr = t.insertRow();
    r.forEach((v) => { const c = document.createElement(k ? "td" : "th"); c.textContent = v; tr.appendChild(c); });
  });
}
const vals = (m) => [fmt(m.dice), fmt(m.iou), fmt(m.hd95, 2)];

// ------------------------------------------------------------------ decisions
async function decide(decision) {
  if (!S.id || S.busy) return;
  const reason = $("#reason").value.trim();
  if (decision === "reject" && !reason) { $("#reason").focus(); say("type a reason, then reject (R or the button)", true); return; }
  if (decision === "accept" && S.dirty) { say("you edited the mask: save the correction (S), or undo the edits to accept the proposal", true); return; }
  const body = { decision, reason };
  if (decision === "correct") body.mask = { shape: S.meta.shape, bits: pack(S.mask) };
  S.busy = true;
  try {
    const res = await api("POST", `${caseUrl(S.id)}/decision`, body);
    S.dirty = false;
    setStatus(res.status, res.row);
    document.body.dataset.lastDecision = `${S.id}:${res.status}`;
    say(`${S.id}: ${res.status}${res.row.mask ? ` → ${res.row.mask}` : ""}`);
    if ($("#advance").checked && res.next_to_review) location.hash = `#/case/${enc(res.next_to_review)}`;
  } catch (e) {
    say(`not saved: ${e.message}`, true);
  } finally { S.busy = false; }
}
function go(id) {
  if (!id) { say("no more cases that way"); return; }
  if (S.dirty && !confirm("Leave this case without saving your edits?")) return;
  S.dirty = false;
  location.hash = `#/case/${enc(id)}`;
}

// ------------------------------------------------------------------ events
function setTool(t) {
  S.tool = t;
  for (const b of document.querySelectorAll("[data-tool]")) b.classList.toggle("active", b.dataset.tool === t);
  draw();
}
function setSize(v) {
  S.size = Math.max(1, Math.min(60, v));
  $("#size").value = S.size;
  $("#size-value").textContent = S.size;
  draw();
}
function wire() {
  const c = $("#view");
  c.addEventListener("pointerdown", (ev) => {
    if (!S.id) return;
    c.focus({ preventScroll: true });
    if (ev.button === 1 || S.space || S.tool === "pan") {
      S.panning = { x: ev.clientX - S.panX, y: ev.clientY - S.panY };
    } else if (ev.button === 0 && S.tool === "fill") {
      fillAt(clientToImage(ev));
      return;
    } else if (ev.button === 0) {
      remember();
      S.stroke = clientToImage(ev);
      strokeTo(S.stroke);
    }
    c.setPointerCapture(ev.pointerId);
    ev.preventDefault();
  });
  c.addEventListener("pointermove", (ev) => {
    if (S.panning) { S.panX = ev.clientX - S.panning.x; S.panY = ev.clientY - S.panning.y; draw(); }
    else if (S.stroke) {
      const events = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [];
      for (const e of events.length ? events : [ev]) strokeTo(clientToImage(e));
    }
  });
  const end = (ev) => {
    if (S.stroke) { strokeTo(clientToImage(ev)); S.stroke = null; edited(); }
    S.panning = null;
  };
  c.addEventListener("pointerup", end);
  c.addEventListener("pointercancel", end);
  c.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const rect = c.getBoundingClientRect();
    if (ev.ctrlKey || S.nz === 1) zoomAt(ev.deltaY < 0 ? 1.15 : 1 / 1.15, ev.clientX - rect.left, ev.clientY - rect.top);
    else setSlice(S.z + (ev.deltaY > 0 ? 1 : -1));
  }, { passive: false });
  window.addEventListener("resize", draw);
  for (const b of document.querySelectorAll("#filters button[data-status]"))
    b.addEventListener("click", () => { S.filter = b.dataset.status; showList(); });
  $("#start").addEventListener("click", startNext);
  for (const b of document.querySelectorAll("[data-tool]")) b.addEventListener("click", () => setTool(b.dataset.tool));
  $("#size").addEventListener("input", (e) => setSize(Number(e.target.value)));
  $("#preset").addEventListener("change", (e) => { S.preset = e.target.value; loadSlice(); });
  $("#overlay").addEventListener("change", (e) => { S.overlay = e.target.value; draw(); });
  $("#show-ref").addEventListener("change", (e) => { S.showRef = e.target.checked; draw(); });
  $("#undo").addEventListener("click", () => swap(S.undo, S.redo));
  $("#redo").addEventListener("click", () => swap(S.redo, S.undo));
  $("#zoom-in").addEventListener("click", () => zoomAt(1.25, c.width / 2, c.height / 2));
  $("#zoom-out").addEventListener("click", () => zoomAt(0.8, c.width / 2, c.height / 2));
  $("#zoom-fit").addEventListener("click", fit);
  $("#accept").addEventListener("click", () => decide("accept"));
  $("#save").addEventListener("click", () => decide("correct"));
  $("#reject").addEventListener("click", () => decide("reject"));
  $("#back").addEventListener("click", () => { if (!S.dirty || confirm("Leave without saving?")) { S.dirty = false; location.hash = "#/"; } });
  $("#prev").addEventListener("click", () => go(S.meta && S.meta.prev));
  $("#next").addEventListener("click", () => go(S.meta && S.meta.next));
  document.addEventListener("keyup", (ev) => { if (ev.key === " ") S.space = false; });
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", route);
  window.addEventListener("beforeunload", (ev) => { if (S.dirty) { ev.preventDefault(); ev.returnValue = ""; } });
}
async function startNext() {
  const data = await api("GET", `/api/cases?status=${enc("to review")}`);
  if (data.cases.length) location.hash = `#/case/${enc(data.cases[0].case_id)}`;
  else say("every case has a decision");
}
function onKey(ev) {
  const typing = ev.target && (ev.target.tagName === "INPUT" || ev.target.tagName === "SELECT");
  if (typing) {
    if (ev.key === "Enter" && ev.target.id === "reason") decide("reject");
    if (ev.key === "Escape") ev.target.blur();
    return;
  }
  if (!S.id) { if (ev.key === "Enter") startNext(); return; }
  const k = ev.key.toLowerCase();
  if (ev.ctrlKey || ev.metaKey) {
    if (k === "z" && !ev.shiftKey) { swap(S.undo, S.redo); ev.preventDefault(); }
    else if (k === "y" || (k === "z" && ev.shiftKey)) { swap(S.redo, S.undo); ev.preventDefault(); }
    return;
  }
  const keys = {
    b: () => setTool("brush"), e: () => setTool("eraser"), f: () => setTool("fill"), h: () => setTool("pan"),
    "[": () => setSize(S.size - 1), "]": () => setSize(S.size + 1),
    arrowup: () => setSlice(S.z - 1), arrowdown: () => setSlice(S.z + 1),
    pageup: () => setSlice(S.z - 5), pagedown: () => setSlice(S.z + 5),
    "+": () => zoomAt(1.25, $("#view").width / 2, $("#view").height / 2), "=": () => zoomAt(1.25, $("#view").width / 2, $("#view").height / 2),
    "-": () => zoomAt(0.8, $("#view").width / 2, $("#view").height / 2), 0: fit,
    o: () => { const o = ["outline", "fill", "none"]; S.overlay = o[(o.indexOf(S.overlay) + 1) % 3]; $("#overlay").value = S.overlay; draw(); },
    a: () => decide("accept"), s: () => decide("correct"),
    r: () => ($("#reason").value.trim() ? decide("reject") : ($("#reason").focus(), say("type a reason, then press Enter"))),
    n: () => go(S.meta.next), p: () => go(S.meta.prev), l: () => $("#back").click(),
    " ": () => { S.space = true; },
  };
  const fn = keys[k];
  if (fn) { fn(); ev.preventDefault(); }
}
function route() {
  const m = location.hash.match(/^#\/case\/(.+)$/);
  if (m) openCase(decodeURIComponent(m[1]));
  else showList();
}

// For automated checks (tests) and the console: where image pixel (x, y) is on screen.
window.thyromicsReview = {
  imageToClient, state: () => ({ id: S.id, z: S.z, tool: S.tool, size: S.size, dirty: S.dirty, zoom: S.zoom }),
  maskAt: (x, y, z = S.z) => S.mask[z * sliceLen() + y * S.nx + x],
};

(async function init() {
  wire();
  setTool("brush");
  setSize(8);
  try {
    S.info = await api("GET", "/api/info");
    $("#who").textContent = `reader ${S.info.reader} · ${S.info.n_cases} cases · saving to ${S.info.folder}`;
  } catch (e) { say(e.message, true); }
  route();
})();
