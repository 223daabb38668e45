"""Nucleus segmentation against reference outlines: reading them, and the standard metrics.

* :func:`read_imagescope_xml` reads Aperio ImageScope annotation XML (MoNuSeg's format:
  one ``Region`` of ``Vertex X= Y=`` points per nucleus, ``MicronsPerPixel`` on the root);
  :func:`rasterise` turns the polygons into an instance label map with
  ``skimage.draw.polygon`` (a later polygon overwrites an earlier one where they overlap).
* Metrics between a reference and a predicted instance map (0 = background):

  - **Dice** of the foregrounds, 2 |T & P| / (|T| + |P|);
  - **detection** -- a predicted and a reference nucleus match when their IoU exceeds
    ``iou`` (0.5; above 0.5 a match is necessarily one-to-one), TP = matches,
    FP = unmatched predictions, FN = unmatched references, F1 = 2 TP / (2 TP + FP + FN);
  - **aggregated Jaccard index** (Kumar et al., IEEE TMI 2017;36(7):1550-1560): every
    reference nucleus G_i is paired with the prediction S_j of highest IoU with it,
    C += |G_i & S_j|, U += |G_i | S_j|; predictions never paired are added to U;
    AJI = C / U (the original definition, in which one prediction may be paired with
    several references);
  - **count error** (N_pred - N_ref) / N_ref.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

__all__ = ["read_imagescope_xml", "rasterise", "overlaps", "detection", "aji", "dice_foreground",
           "SegmentationScores", "score"]


def read_imagescope_xml(path: str | Path) -> tuple[list[np.ndarray], float | None]:
    """Polygons ``(n, 2)`` of ``(x, y)`` pixel coordinates and the file's ``MicronsPerPixel`` (or None)."""
    root = ET.parse(str(path)).getroot()
    mpp = root.get("MicronsPerPixel")
    polys = []
    for region in root.iter("Region"):
        pts = [(float(v.get("X")), float(v.get("Y"))) for v in region.iter("Vertex")]
        if len(pts) >= 3:
            polys.append(np.asarray(pts))
    return polys, (float(mpp) if mpp else None)


def rasterise(polygons: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Instance label map 1..N of the polygons (``skimage.draw.polygon``; pixel centres inside)."""
    from skimage.draw import polygon

    out = np.zeros(shape, np.int32)
    n = 0
    for xy in polygons:
        rr, cc = polygon(xy[:, 1], xy[:, 0], shape=shape)
        if rr.size:
            n += 1
            out[rr, cc] = n
    # a polygon wholly overwritten by later ones is gone: renumber what is left
    ids = np.unique(out)
    lut = np.zeros(n + 1, np.int32)
    lut[ids[ids > 0]] = np.arange(1, int((ids > 0).sum()) + 1)
    return lut[out]


def overlaps(truth: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pairwise intersections of every reference and predicted instance.

    Returns ``(t_ids, p_ids, inter, union)``: one entry per overlapping pair, plus the
    label ids, so IoU = inter / union.
    """
    t = truth.ravel().astype(np.int64)
    p = pred.ravel().astype(np.int64)
    both = (t > 0) & (p > 0)
    pairs, inter = np.unique(t[both] * (int(p.max()) + 1) + p[both], return_counts=True)
    ti, pi = pairs // (int(p.max()) + 1), pairs % (int(p.max()) + 1)
    t_area = np.bincount(t, minlength=int(t.max()) + 1)
    p_area = np.bincount(p, minlength=int(p.max()) + 1)
    return ti, pi, inter, t_area[ti] + p_area[pi] - inter


def detection(truth: np.ndarray, pred: np.ndarray, iou: float = 0.5) -> dict[str, float]:
    """TP, FP, FN, precision, recall and F1 of instance detection at IoU > ``iou`` (>= 0.5)."""
    if iou < 0.5:
        raise ValueError("matching by IoU > iou is one-to-one only for iou >= 0.5")
    n_t = len(np.setdiff1d(np.unique(truth), [0]))
    n_p = len(np.setdiff1d(np.unique(pred), [0]))
    ti, pi, inter, union = overlaps(truth, pred)
    tp = int(np.sum(inter / union > iou))
    fp, fn = n_p - tp, n_t - tp
    return {"tp": tp, "fp": fp, "fn": fn,
            "precision": tp / n_p if n_p else float("nan"), "recall": tp / n_t if n_t else float("nan"),
            "f1": 2 * tp / (2 * tp + fp + fn) if (tp + fp + fn) else float("nan")}


def aji(truth: np.ndarray, pred: np.ndarray) -> float:
    """Aggregated Jaccard index (Kumar et al. 2017), see the module docstring."""
    t_ids = np.setdiff1d(np.unique(truth), [0])
    if not len(t_ids):
        return float("nan")
    p = pred.ravel().astype(np.int64)
    t_area = np.bincount(truth.ravel().astype(np.int64), minlength=int(truth.max()) + 1)
    p_area = np.bincount(p, minlength=int(p.max()) + 1)
    ti, pi, inter, union = overlaps(truth, pred)
    iou = inter / union
    best: dict[int, tuple[float, int, int, int]] = {}
    for a, b, i, u, j in zip(ti, pi, inter, union, iou):
        if a not in best or j > best[a][0]:
            best[int(a)] = (float(j), int(b), int(i), int(u))
    c = u_sum = 0
    used = set()
    for g in t_ids:
        if int(g) in best:
            _, b, i, u = best[int(g)]
            c += i
            u_sum += u
            used.add(b)
        else:
            u_sum += int(t_area[g])
    p_ids = np.setdiff1d(np.unique(p), [0])
    u_sum += int(sum(p_area[k] for k in p_ids if int(k) not in used))
    return c / u_sum if u_sum else float("nan")


def dice_foreground(truth: np.ndarray, pred: np.ndarray) -> float:
    """Dice of the foregrounds (all nuclei against all nuclei)."""
    a, b = truth > 0, pred > 0
    s = int(a.sum()) + int(b.sum())
    return 2 * int((a & b).sum()) / s if s else float("nan")


@dataclass(frozen=True)
class SegmentationScores:
    """All metrics of one tile."""

    n_reference: int
    n_predicted: int
    count_error: float
    dice: float
    aji: float
    precision: float
    recall: float
    f1: float

    def to_dict(self) -> dict:
        return asdict(self)


def score(truth: np.ndarray, pred: np.ndarray) -> SegmentationScores:
    """Every metric of the module docstring for one reference / prediction pair."""
    det = detection(truth, pred)
    n_t, n_p = det["tp"] + det["fn"], det["tp"] + det["fp"]
    return SegmentationScores(n_reference=n_t, n_predicted=n_p,
                              count_error=(n_p - n_t) / n_t if n_t else float("nan"),
                              dice=dice_foreground(truth, pred), aji=aji(truth, pred),
                              precision=det["precision"], recall=det["recall"], f1=det["f1"])
