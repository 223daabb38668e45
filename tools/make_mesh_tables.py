"""Write ``src/thyromics/features/native/_mesh_tables.py``: PyRadiomics' marching-cubes
and marching-squares triangulations, found by asking its C extension.

PyRadiomics (``radiomics._cshape``, van Griethuysen et al., Cancer Res 2017) puts the
isosurface halfway along every edge of a 2x2x2 cube whose corners differ, and each of the
256 corner configurations gives a fixed set of triangles (Lorensen & Cline 1987, with its
own resolution of ambiguous faces). This script does not copy that table: for each
configuration it builds every surface a marching-cubes table could hold (each ambiguous
face split one way or the other, every triangulation and orientation of every boundary
loop) and keeps the one whose surface area (at two anisotropic spacings), signed volume
term and position term equal what ``cShape.calculate_coefficients`` returns for that one
cube. The same for the 16 squares of ``calculate_coefficients2D``. Contributions are added
per loop, so the search takes seconds. Run from the repository root:

    .venv/bin/python tools/make_mesh_tables.py

``tests/features/test_native_mesh.py`` checks the written tables against the extension
again, configuration by configuration and on whole random masks.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from radiomics import cShape

OUT = Path(__file__).resolve().parents[1] / "src/thyromics/features/native/_mesh_tables.py"
S1, S2 = np.array([0.7, 1.3, 2.1]), np.array([2.9, 0.45, 1.1])


def _corners(dim: int) -> list[tuple[int, ...]]:
    return [tuple((k >> (dim - 1 - d)) & 1 for d in range(dim)) for k in range(2 ** dim)]


def _edges(corners: list[tuple[int, ...]]) -> list[tuple[int, int]]:
    n = len(corners)
    return [(a, b) for a in range(n) for b in range(a + 1, n) if bin(a ^ b).count("1") == 1]


def _block(c: int, corners: list[tuple[int, ...]]) -> np.ndarray:
    m = np.zeros((2,) * len(corners[0]), np.uint8)
    for k, at in enumerate(corners):
        if c >> k & 1:
            m[at] = 1
    return m


def _probe(m: np.ndarray, sp) -> tuple[float, float]:
    f = cShape.calculate_coefficients if m.ndim == 3 else cShape.calculate_coefficients2D
    r = f(np.ascontiguousarray(m), np.asarray(sp, dtype=np.float64))
    return float(r[0]), float(r[1])


def _faces(corners, edges):
    dim = len(corners[0])
    out = []
    for d in range(dim):
        for v in (0, 1):
            cs = [k for k in range(len(corners)) if corners[k][d] == v]
            out.append((cs, [i for i, (a, b) in enumerate(edges) if a in cs and b in cs]))
    return out


def _segments_3d(c, corners, edges, pairing):
    """Boundary segments of configuration ``c`` on the cube's faces; an ambiguous face
    (four crossings) cuts off its inside corners (bit of ``pairing`` set) or outside ones."""
    inside = [(c >> k) & 1 for k in range(8)]
    segs, amb = [], 0
    for cs, es in _faces(corners, edges):
        cross = [e for e in es if inside[edges[e][0]] != inside[edges[e][1]]]
        if len(cross) == 2:
            segs.append(tuple(cross))
        elif len(cross) == 4:
            want = (pairing >> amb) & 1
            amb += 1
            segs += [tuple(e for e in es if k in edges[e]) for k in cs if inside[k] == want]
    return segs, amb


def _loops(segs):
    adj: dict[int, list[int]] = {}
    for a, b in segs:
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, []).append(a)
    seen, out = set(), []
    for s in sorted(adj):
        if s in seen:
            continue
        loop, prev, cur = [s], None, s
        seen.add(s)
        while True:
            nxt = adj[cur][0] if prev is None or adj[cur][0] != prev else adj[cur][1]
            if nxt == s:
                break
            loop.append(nxt)
            seen.add(nxt)
            prev, cur = cur, nxt
        out.append(loop)
    return out


def _triangulations(n: int) -> list[list[tuple[int, int, int]]]:
    def rec(i, j):
        if j - i < 2:
            return [[]]
        return [a + [(i, k, j)] + b for k in range(i + 1, j) for a in rec(i, k)
                for b in rec(k, j)]
    return rec(0, n - 1)


def _terms(tris, mid) -> np.ndarray:
    """(area at S1, area at S2, signed volume term, position term x3) of triangles."""
    out = np.zeros(6)
    for t in tris:
        A, B, C = (mid[e] for e in t)
        out[0] += 0.5 * np.linalg.norm(np.cross((A - C) * S1, (B - C) * S1))
        out[1] += 0.5 * np.linalg.norm(np.cross((A - C) * S2, (B - C) * S2))
        out[2] += A @ np.cross(B, C)
        out[3:] += np.cross(B - A, C - A)
    return out


def _target_3d(c, corners) -> np.ndarray:
    b = _block(c, corners)
    v0 = round(6 * _probe(b, (1, 1, 1))[1] * 8) / 8
    pos = []
    for d in range(3):  # the cube one step along axis d, below a cube of its lower face
        low = np.take(b, [0], axis=d)
        under = np.concatenate([low, low], axis=d)
        vs = _probe(np.concatenate([low, b], axis=d), (1, 1, 1))[1]
        vu = _probe(under, (1, 1, 1))[1]
        pos.append(round((6 * vs - 6 * vu - v0) * 8) / 8)
    return np.array([_probe(b, S1)[0], _probe(b, S2)[0], v0, *pos])


def cube_table() -> list[list[tuple[int, int, int]]]:
    corners = _corners(3)
    edges = _edges(corners)
    mid = [np.array([(corners[a][d] + corners[b][d]) / 2 for d in range(3)]) for a, b in edges]
    table: list[list[tuple[int, int, int]]] = [[] for _ in range(256)]
    for c in range(1, 255):
        want = _target_3d(c, corners)
        mirror = [t[::-1] for t in table[c ^ 255]]  # PyRadiomics' complement, reversed
        if mirror and np.allclose(_terms(mirror, mid), want, rtol=1e-12, atol=1e-12):
            table[c] = mirror
            continue
        found = []
        for pairing in range(2 ** _segments_3d(c, corners, edges, 0)[1]):
            options = []
            for loop in _loops(_segments_3d(c, corners, edges, pairing)[0]):
                opts = []
                for tri in _triangulations(len(loop)):
                    for t in (tri, [x[::-1] for x in tri]):
                        tris = [tuple(loop[i] for i in x) for x in t]
                        opts.append((tris, _terms(tris, mid)))
                options.append(opts)
            for combo in itertools.product(*options):
                got = sum(o[1] for o in combo)
                if np.allclose(got, want, rtol=1e-12, atol=1e-12):
                    found.append([t for o in combo for t in o[0]])
        if not found:
            raise SystemExit(f"configuration {c}: no surface gives PyRadiomics' values")
        table[c] = found[0]  # several only where they are one surface (planar loops)
    return table


def square_table() -> list[list[tuple[int, int]]]:
    """The squares one by one: the extension needs a mask of at least 2 x 5 pixels, so a
    square is probed with zeros to its right, and the square beside it (its right column
    as left column) is one already found (its own right column is empty)."""
    corners = _corners(2)
    edges = _edges(corners)
    mid = [np.array([(corners[a][d] + corners[b][d]) / 2 for d in range(2)]) for a, b in edges]
    s1 = S1[:2]

    def terms(lines, at=(0, 0)):
        per = sum(np.linalg.norm((mid[a] - mid[b]) * s1) for a, b in lines)
        p = np.asarray(at, dtype=float)
        area = sum((p + mid[a])[0] * (p + mid[b])[1] - (p + mid[b])[0] * (p + mid[a])[1]
                   for a, b in lines) / 2
        return np.array([per, area])

    table: list[list[tuple[int, int]]] = [[] for _ in range(16)]
    right = [k for k in range(4) if corners[k][1] == 1]
    order = sorted(range(1, 15), key=lambda c: any(c >> k & 1 for k in right))
    for c in order:
        strip = np.zeros((2, 5), np.uint8)
        strip[:, :2] = _block(c, corners)
        want = np.array([_probe(strip, s1)[0], _probe(strip, (1, 1))[1]])
        beside = sum(1 << (k - 1) for k in right if c >> k & 1)  # its right column, moved left
        if beside:
            want -= terms(table[beside], (0, 1))
        inside = [(c >> k) & 1 for k in range(4)]
        cross = [e for e in range(4) if inside[edges[e][0]] != inside[edges[e][1]]]
        pairings = ([[tuple(cross)]] if len(cross) == 2 else
                    [[tuple(e for e in range(4) if k in edges[e]) for k in range(4)
                      if inside[k] == want_in] for want_in in (0, 1)])
        found = []
        for segs in pairings:
            for signs in itertools.product((1, -1), repeat=len(segs)):
                lines = [s if o == 1 else s[::-1] for s, o in zip(segs, signs)]
                if np.allclose(terms(lines), want, rtol=1e-12, atol=1e-12):
                    found.append(lines)
        if not found:
            raise SystemExit(f"square {c}: no lines give PyRadiomics' values")
        table[c] = found[0]
    return table


def main() -> None:
    cubes, squares = cube_table(), square_table()
    text = [
        '"""PyRadiomics\' marching-cubes and marching-squares triangulations (generated by',
        "``tools/make_mesh_tables.py`` from ``radiomics._cshape``; do not edit).",
        "",
        "Corner ``k`` of a cube is ``(k >> 2 & 1, k >> 1 & 1, k & 1)`` in (z, y, x); of a square",
        "``(k >> 1 & 1, k & 1)`` in (y, x). Edges are the corner pairs ``(a, b)``, ``a < b``,",
        "that differ in one bit, in lexicographic order (:data:`CUBE_EDGES`,",
        ":data:`SQUARE_EDGES`); the surface passes through their midpoints. Configuration ``c``",
        "has corner ``k`` in the mask where bit ``k`` is set. Triangles and lines are oriented",
        "as PyRadiomics' signed volume and area count them.",
        '"""',
        "",
        f"CUBE_EDGES = {tuple(_edges(_corners(3)))!r}",
        f"SQUARE_EDGES = {tuple(_edges(_corners(2)))!r}",
        "",
        "CUBE_TRIANGLES = (",
        *[f"    {tuple(t)!r}," for t in cubes],
        ")",
        "",
        "SQUARE_LINES = (",
        *[f"    {tuple(t)!r}," for t in squares],
        ")",
        "",
    ]
    OUT.write_text("\n".join(text))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
