"""Frozen, typed settings of the deep-learning stage.

Every setting is validated once, when the object is made; nothing downstream reads
loose ``**kwargs`` with defaults. ``to_dict`` / ``from_dict`` round-trip through the
``settings.json`` written beside every trained model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from thyromics.errors import InputError

__all__ = ["DataSettings", "AugmentSettings", "TrainSettings", "SegmentSettings",
           "settings_to_dict", "settings_from_dict"]


def _tuples(v: Any) -> Any:
    """Lists -> tuples, recursively (JSON gives lists; settings keep tuples, hashable and equal)."""
    if isinstance(v, (list, tuple)):
        return tuple(_tuples(x) for x in v)
    if isinstance(v, dict):
        return {k: _tuples(x) for k, x in v.items()}
    return v


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise InputError(msg)


@dataclass(frozen=True)
class DataSettings:
    """How lesion samples are cut from image + mask.

    Attributes
    ----------
    spatial_dims : int
        2 (ultrasound images: crops resized to ``size_2d``) or 3 (CT: resampled to
        ``spacing_3d`` mm and cut to ``patch_3d`` voxels around the lesion centre).
    margin_mm : float
        Margin added on every side of the lesion's bounding rectangle/box, in mm
        (pixels when the spacing is unknown, i.e. 1).
    size_2d : tuple of int
        Output size ``(y, x)`` of 2D crops in pixels (default 224 x 224).
    keep_aspect : bool
        2D only: pad the crop to a square (with its edge values) before resizing so
        the lesion is not stretched. Ni et al. (Gland Surg 2024) resize the rectangle directly
        (False).
    spacing_3d : tuple of float
        Target voxel size in mm, ITK order ``(x, y, z)`` (default 1 mm isotropic).
    patch_3d : tuple of int
        Patch size ``(z, y, x)`` in voxels (default 32 x 48 x 48, as the chest-CT lung-metastasis study,
        Frontiers 2024).
    window : tuple of float or None
        Intensity window ``(low, high)``: values are clipped to it and mapped linearly
        to [0, 1]. ``None``: min-max of each whole image (ultrasound, unknown units).
    max_lesions_per_patient : int or None
        Keep at most this many lesions (manifest rows) per patient, drawn at random with
        ``seed`` (the chest-CT lung-metastasis study keeps 5). ``None`` keeps all.
    seed : int
        Seed of the lesion draw.
    """

    spatial_dims: int = 2
    margin_mm: float = 0.0
    size_2d: tuple[int, int] = (224, 224)
    keep_aspect: bool = False
    spacing_3d: tuple[float, float, float] = (1.0, 1.0, 1.0)
    patch_3d: tuple[int, int, int] = (32, 48, 48)
    window: tuple[float, float] | None = None
    max_lesions_per_patient: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        _check(self.spatial_dims in (2, 3), f"spatial_dims must be 2 or 3, got {self.spatial_dims}")
        _check(self.margin_mm >= 0, f"margin_mm must be >= 0, got {self.margin_mm}")
        object.__setattr__(self, "size_2d", tuple(int(s) for s in self.size_2d))
        object.__setattr__(self, "patch_3d", tuple(int(s) for s in self.patch_3d))
        object.__setattr__(self, "spacing_3d", tuple(float(s) for s in self.spacing_3d))
        _check(len(self.size_2d) == 2 and min(self.size_2d) >= 8,
               f"size_2d must be two sizes >= 8 pixels, got {self.size_2d}")
        _check(len(self.patch_3d) == 3 and min(self.patch_3d) >= 4,
               f"patch_3d must be three sizes >= 4 voxels (z, y, x), got {self.patch_3d}")
        _check(len(self.spacing_3d) == 3 and min(self.spacing_3d) > 0,
               f"spacing_3d must be three positive sizes in mm, got {self.spacing_3d}")
        if self.window is not None:
            w = tuple(float(v) for v in self.window)
            _check(len(w) == 2 and w[1] > w[0], f"window must be (low, high) with high > low, got {self.window}")
            object.__setattr__(self, "window", w)
        if self.max_lesions_per_patient is not None:
            _check(self.max_lesions_per_patient >= 1,
                   f"max_lesions_per_patient must be >= 1 or None, got {self.max_lesions_per_patient}")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Spatial shape of one sample in numpy order."""
        return self.size_2d if self.spatial_dims == 2 else self.patch_3d


@dataclass(frozen=True)
class AugmentSettings:
    """Seeded MONAI augmentation applied to training samples only.

    Attributes
    ----------
    enabled : bool
        Switch all augmentation on or off.
    prob : float
        Probability of each random transform.
    rotate_deg : float
        Maximum rotation angle in degrees (in-plane for 3D).
    scale : float
        Maximum relative zoom of the affine transform ("size changes"), e.g. 0.1 = +-10 %.
    translate : float
        Maximum shift as a fraction of the sample size.
    contrast_gamma : tuple of float
        Gamma range of ``RandAdjustContrast``.
    noise_std : float
        Standard deviation of added Gaussian noise (intensities are in [0, 1]).
    flip : bool
        Random flips along every spatial axis.
    """

    enabled: bool = True
    prob: float = 0.5
    rotate_deg: float = 15.0
    scale: float = 0.1
    translate: float = 0.05
    contrast_gamma: tuple[float, float] = (0.7, 1.5)
    noise_std: float = 0.03
    flip: bool = True

    def __post_init__(self) -> None:
        _check(0.0 <= self.prob <= 1.0, f"prob must be in [0, 1], got {self.prob}")
        _check(self.rotate_deg >= 0 and self.scale >= 0 and self.translate >= 0 and self.noise_std >= 0,
               "rotate_deg, scale, translate and noise_std must be >= 0")
        object.__setattr__(self, "contrast_gamma", tuple(float(g) for g in self.contrast_gamma))


@dataclass(frozen=True)
class TrainSettings:
    """Classifier training.

    Attributes
    ----------
    network : str
        A key of :data:`thyromics.deep.nets.NETWORKS`.
    network_options : dict
        Extra constructor arguments of the network (e.g. ``{"channels": (8, 16)}``).
    epochs : int
        Maximum number of epochs.
    batch_size : int
    learning_rate : float
        Adam learning rate.
    weight_decay : float
        Adam L2 weight decay.
    patience : int
        Early stopping: stop after this many epochs without a better validation AUC.
    class_weights : bool
        Weight the cross-entropy by ``n / (k * n_c)`` computed on the training rows.
    val_fraction : float
        Share of patients held out for validation when the manifest has no ``split``.
    seed : int
        Seeds torch, numpy, MONAI, the shuffling and the augmentation.
    device : str
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"`` or ``"cuda"``.
    pretrained : str or None
        Local file with a state_dict to start from (never downloaded).
    pretrained_exclude : tuple of str
        Key prefixes of the pretrained file to ignore (e.g. a classification head of
        another number of classes).
    data : DataSettings
    augment : AugmentSettings
    """

    network: str = "densenet121"
    network_options: dict[str, Any] = field(default_factory=dict)
    epochs: int = 50
    batch_size: int = 16
    learning_rate: float = 1e-4
    weight_decay: float = 0.0
    patience: int = 10
    class_weights: bool = True
    val_fraction: float = 0.2
    seed: int = 0
    device: str = "auto"
    pretrained: str | None = None
    pretrained_exclude: tuple[str, ...] = ()
    data: DataSettings = field(default_factory=DataSettings)
    augment: AugmentSettings = field(default_factory=AugmentSettings)

    def __post_init__(self) -> None:
        _check(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        _check(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        _check(self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate}")
        _check(self.patience >= 1, f"patience must be >= 1, got {self.patience}")
        _check(0.0 < self.val_fraction < 1.0, f"val_fraction must be in (0, 1), got {self.val_fraction}")
        _check(self.device in ("auto", "cpu", "cuda"), f"device must be auto, cpu or cuda, got {self.device!r}")
        object.__setattr__(self, "pretrained_exclude", tuple(self.pretrained_exclude))
        object.__setattr__(self, "network_options", _tuples(dict(self.network_options)))


@dataclass(frozen=True)
class SegmentSettings:
    """Segmentation training and inference.

    Attributes
    ----------
    network : str
        ``"cbam_unet"`` (2D attention U-Net with CBAM) or ``"se_vnet"`` (3D SE V-Net).
    network_options : dict
        Extra constructor arguments (e.g. ``{"channels": (8, 16, 32)}``).
    spatial_dims : int
    size_2d : tuple of int
        2D: images are resized to this ``(y, x)`` for the network and back afterwards.
    spacing_3d : tuple of float
        3D: resampling target in mm (ITK order).
    patch_3d : tuple of int
        3D: training patch and sliding-window size ``(z, y, x)``; each must be divisible
        by 16 for the default 4-level V-Net.
    window : tuple of float or None
        Intensity window to [0, 1] (``None``: per-image min-max).
    epochs, batch_size, learning_rate, patience, val_fraction, seed, device
        As in :class:`TrainSettings`; early stopping watches the validation Dice.
    threshold : float
        Probability above which a pixel is foreground.
    min_lesion_size : int
        Connected components smaller than this (pixels/voxels) are removed.
    overlap : float
        Sliding-window overlap (0-1).
    """

    network: str = "cbam_unet"
    network_options: dict[str, Any] = field(default_factory=dict)
    spatial_dims: int = 2
    size_2d: tuple[int, int] = (128, 128)
    spacing_3d: tuple[float, float, float] = (1.0, 1.0, 1.0)
    patch_3d: tuple[int, int, int] = (32, 48, 48)
    window: tuple[float, float] | None = None
    epochs: int = 50
    batch_size: int = 8
    learning_rate: float = 1e-3
    patience: int = 10
    val_fraction: float = 0.2
    seed: int = 0
    device: str = "auto"
    threshold: float = 0.5
    min_lesion_size: int = 10
    overlap: float = 0.25

    def __post_init__(self) -> None:
        _check(self.spatial_dims in (2, 3), f"spatial_dims must be 2 or 3, got {self.spatial_dims}")
        _check(self.epochs >= 1 and self.batch_size >= 1 and self.patience >= 1,
               "epochs, batch_size and patience must be >= 1")
        _check(0.0 < self.threshold < 1.0, f"threshold must be in (0, 1), got {self.threshold}")
        _check(0.0 <= self.overlap < 1.0, f"overlap must be in [0, 1), got {self.overlap}")
        _check(self.device in ("auto", "cpu", "cuda"), f"device must be auto, cpu or cuda, got {self.device!r}")
        object.__setattr__(self, "size_2d", tuple(int(s) for s in self.size_2d))
        object.__setattr__(self, "patch_3d", tuple(int(s) for s in self.patch_3d))
        object.__setattr__(self, "spacing_3d", tuple(float(s) for s in self.spacing_3d))
        object.__setattr__(self, "network_options", _tuples(dict(self.network_options)))
        if self.window is not None:
            object.__setattr__(self, "window", tuple(float(v) for v in self.window))


_NESTED = {"data": DataSettings, "augment": AugmentSettings}
_KINDS = {"TrainSettings": TrainSettings, "SegmentSettings": SegmentSettings}


def settings_to_dict(settings: TrainSettings | SegmentSettings) -> dict[str, Any]:
    """JSON-ready dict of a settings object, with its kind under ``"kind"``."""
    out = asdict(settings)
    out["kind"] = type(settings).__name__
    return out


def settings_from_dict(d: dict[str, Any]) -> TrainSettings | SegmentSettings:
    """Inverse of :func:`settings_to_dict`; unknown keys raise :class:`InputError`."""
    d = dict(d)
    kind = d.pop("kind", "TrainSettings")
    if kind not in _KINDS:
        raise InputError(f"unknown settings kind {kind!r}; expected one of {sorted(_KINDS)}")
    cls = _KINDS[kind]
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise InputError(f"unknown {kind} keys {unknown}; valid keys: {sorted(names)}")
    for key, sub in _NESTED.items():
        if key in d and isinstance(d[key], dict):
            d[key] = sub(**d[key])
    for key in ("size_2d", "patch_3d", "spacing_3d", "window", "contrast_gamma", "pretrained_exclude"):
        if isinstance(d.get(key), list):
            d[key] = tuple(d[key])
    return cls(**d)
