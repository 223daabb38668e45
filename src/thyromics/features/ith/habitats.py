"""Voxel-level habitats: clusters of lesion voxels on local feature maps.

Per lesion (:func:`lesion_habitats`) or population-level (:class:`HabitatModel` fitted
on training patients' voxels only, then applied to any lesion). Features are local maps
from :mod:`thyromics.features.maps`, standardised; clustering by k-means or a Gaussian
mixture, k fixed or chosen by the silhouette score (Rousseeuw 1987) on a seeded
subsample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from thyromics.io.image import Image

from .scores import diversity
from .settings import IthSettings

__all__ = ["HabitatModel", "Habitats", "habitat_features", "lesion_habitats"]

_SIL_SAMPLE = 2000


def habitat_features(image: Image, lesion: np.ndarray, settings: IthSettings | None = None
                     ) -> np.ndarray:
    """``(n_lesion_voxels, n_features)`` local features of the lesion voxels."""
    from thyromics.features.maps import MapSettings, compute_feature_maps

    s = settings or IthSettings()
    fm = compute_feature_maps(image, image.with_array(lesion.astype(np.uint8)),
                              MapSettings(kernel_radius=s.habitat_kernel_radius,
                                          bin_width=s.habitat_bin_width,
                                          features=s.habitat_features))
    x = fm.table()
    return np.where(np.isfinite(x), x, 0.0)


class HabitatModel:
    """Standardise, then k-means / Gaussian mixture; scikit-learn style.

    Parameters
    ----------
    method : {"kmeans", "gmm"}
    n_habitats : int or None
        None: choose k in ``k_range`` by the largest silhouette score.
    k_range : (int, int)
    seed : int
    """

    def __init__(self, *, method: str = "kmeans", n_habitats: int | None = None,
                 k_range: tuple[int, int] = (2, 5), seed: int = 42) -> None:
        self.method = method
        self.n_habitats = n_habitats
        self.k_range = k_range
        self.seed = seed

    def _model(self, k: int):
        if self.method == "gmm":
            from sklearn.mixture import GaussianMixture

            return GaussianMixture(n_components=k, covariance_type="full", n_init=3,
                                   random_state=self.seed)
        from sklearn.cluster import KMeans

        return KMeans(n_clusters=k, n_init=10, random_state=self.seed)

    def fit(self, x: np.ndarray) -> "HabitatModel":
        """Fit on ``(n_voxels, n_features)``; sets ``scaler_``, ``model_``, ``k_``."""
        from sklearn.metrics import silhouette_score
        from sklearn.preprocessing import StandardScaler

        x = np.asarray(x, float)
        self.scaler_ = StandardScaler().fit(x)
        z = self.scaler_.transform(x)
        n_distinct = len(np.unique(z, axis=0))
        if self.n_habitats is not None:
            ks = [min(self.n_habitats, n_distinct)]
        else:
            ks = [k for k in range(self.k_range[0], self.k_range[1] + 1) if k < n_distinct] or [1]
        rng = np.random.default_rng(self.seed)
        sub = rng.choice(len(z), min(len(z), _SIL_SAMPLE), replace=False)
        best, best_score = None, -np.inf
        for k in ks:
            m = self._model(k).fit(z)
            if len(ks) == 1:
                best = m
                break
            lab = m.predict(z[sub])
            score = silhouette_score(z[sub], lab) if len(np.unique(lab)) > 1 else -1.0
            if score > best_score:
                best, best_score = m, score
        self.model_ = best
        self.k_ = int(getattr(best, "n_clusters", getattr(best, "n_components", 1)))
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Habitat id (0..k-1) of each row."""
        if not hasattr(self, "model_"):
            raise RuntimeError("HabitatModel is not fitted; call fit() on training voxels first")
        return self.model_.predict(self.scaler_.transform(np.asarray(x, float)))


@dataclass(frozen=True)
class Habitats:
    """Habitats of one lesion: ``labels`` (1..k in the lesion, 0 outside), fractions."""

    labels: np.ndarray
    k: int
    fractions: tuple[float, ...]
    diversity: dict


def _result(lesion: np.ndarray, ids: np.ndarray, k: int) -> Habitats:
    labels = np.zeros(lesion.shape, dtype=np.int16)
    labels[lesion] = ids + 1
    counts = np.bincount(ids, minlength=k)
    return Habitats(labels=labels, k=k, fractions=tuple(float(c) for c in counts / counts.sum()),
                    diversity=diversity(ids))


def lesion_habitats(image: Image, lesion: np.ndarray, settings: IthSettings | None = None,
                    model: HabitatModel | None = None) -> Habitats:
    """Habitats of a lesion: fitted on the lesion itself, or by a population ``model``."""
    s = settings or IthSettings()
    lesion = lesion.astype(bool)
    x = habitat_features(image, lesion, s)
    if model is None:
        model = HabitatModel(method=s.habitat_method, n_habitats=s.n_habitats,
                             k_range=s.habitat_k_range, seed=s.seed).fit(x)
    return _result(lesion, model.predict(x), model.k_)
