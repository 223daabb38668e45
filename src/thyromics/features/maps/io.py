"""Write feature maps as images that a viewer opens with the input's geometry."""

from __future__ import annotations

from pathlib import Path

from .engine import FeatureMaps

__all__ = ["write_feature_maps"]

_SUFFIXES = {"nii.gz": ".nii.gz", "nii": ".nii", "nrrd": ".nrrd", "mha": ".mha"}


def write_feature_maps(maps: FeatureMaps, folder: Path, fmt: str = "nii.gz",
                       prefix: str = "") -> dict[str, Path]:
    """Write each map as ``folder/<prefix><name>.<fmt>`` (float32, input geometry).

    Parameters
    ----------
    maps : FeatureMaps
    folder : Path
        Created if missing.
    fmt : {"nii.gz", "nii", "nrrd", "mha"}
    prefix : str
        Put before every file name (e.g. the case id and ``_``).

    Returns
    -------
    dict of str to Path
    """
    import numpy as np
    import SimpleITK as sitk

    if fmt not in _SUFFIXES:
        raise ValueError(f"unknown map format {fmt!r}; expected one of {sorted(_SUFFIXES)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, img in maps.to_images().items():
        out = img.with_array(img.array.astype(np.float32)).to_sitk()
        path = folder / f"{prefix}{name}{_SUFFIXES[fmt]}"
        sitk.WriteImage(out, str(path), useCompression=fmt.endswith("gz"))
        paths[name] = path
    return paths
