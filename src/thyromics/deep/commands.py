"""``thyromics dl ...`` and ``thyromics segment ...`` commands.

Thin wrappers: they parse options into frozen settings and call the typed API in
:mod:`thyromics.deep.train`, :mod:`~thyromics.deep.embed`, :mod:`~thyromics.deep.gradcam`
and :mod:`~thyromics.deep.segment`. Nothing heavy is imported at module level.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from thyromics.layout import DEEP_MODEL, DL

__all__ = ["dl_app", "segment_app", "dl_train", "dl_predict", "dl_embed", "dl_gradcam",
           "segment_train", "segment_predict"]

_ROI_HELP = ("RTSTRUCT structure / DICOM SEG or Slicer segment name (case-insensitive) for rows "
             "whose 'roi' cell is empty.")

# parameters several commands share: ``roi: _Roi = None``, ``model_dir: _Classifier``
_Roi = Annotated[Optional[str], typer.Option("--roi", help=_ROI_HELP)]
_Classifier = Annotated[Path, typer.Argument(help="Folder written by `thyromics dl train`.")]

dl_app = typer.Typer(help="Deep-learning lesion classifiers: train, predict, embed (deep features), "
                          "Grad-CAM.", no_args_is_help=True)
segment_app = typer.Typer(help="Lesion segmentation networks: train, predict.", no_args_is_help=True)


@dl_app.callback()
@segment_app.callback()
def _needs_deep_extra() -> None:
    """Every deep-learning command needs the 'deep' extra (torch, MONAI)."""
    from thyromics._extras import require
    from thyromics.errors import InputError

    try:
        require("deep", "thyromics dl / segment")
    except InputError as e:
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(2) from e


def _floats(text: Optional[str], n: int, what: str) -> Optional[tuple[float, ...]]:
    if text is None:
        return None
    try:
        vals = tuple(float(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise typer.BadParameter(f"{what} must be {n} comma-separated numbers, got {text!r}") from None
    if len(vals) != n:
        raise typer.BadParameter(f"{what} must be {n} comma-separated numbers, got {text!r}")
    return vals


def _options(text: Optional[str]) -> dict:
    import json

    if not text:
        return {}
    try:
        out = json.loads(text)
    except json.JSONDecodeError as e:
        raise typer.BadParameter(f"--network-options must be a JSON object, e.g. '{{\"channels\": [8, 16]}}': {e}")
    if not isinstance(out, dict):
        raise typer.BadParameter("--network-options must be a JSON object")
    return out


def _report_errors(errors: list, out_dir: Path) -> None:
    if errors:
        from thyromics.batch import write_errors

        out_dir.mkdir(parents=True, exist_ok=True)
        write_errors(DL, out_dir, errors)
        typer.echo(f"{len(errors)} case(s) skipped; reasons in {DL.at(out_dir, 'errors')}", err=True)


def _say_trained(best_epoch: int, metric: str, best: float, out: Path) -> None:
    typer.echo(f"best epoch {best_epoch}: validation {metric} {best:.3f}; model in {DEEP_MODEL.at(out, 'model')}")


def _write_table(df, errors: list, out: Path, *, parquet: bool = False) -> None:
    """Write ``df`` to ``out`` (CSV, or Parquet) and the skipped cases beside it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if parquet:
        df.to_parquet(out, index=False)
    else:
        df.to_csv(out, index=False)
    _report_errors(errors, out.parent)


@dl_app.command("train")
def dl_train(
    manifest: Path = typer.Argument(..., help="Case manifest (cases.csv) with labels."),
    out: Path = typer.Option(Path("dl_model"), "-o", "--out", "--output", help="Output folder (model.pt, settings.json, "
                             "history.csv, split.csv)."),
    network: str = typer.Option("densenet121", help="cnn, alexnet, densenet121, resnet50, vit, inception_v3, "
                                "se_resnet."),
    dims: int = typer.Option(2, help="2 (ultrasound crops) or 3 (CT patches)."),
    size: int = typer.Option(224, help="2D crop size in pixels (square)."),
    patch: str = typer.Option("32,48,48", help="3D patch size z,y,x in voxels."),
    spacing: float = typer.Option(1.0, help="3D isotropic resampling in mm."),
    margin_mm: float = typer.Option(0.0, help="Margin around the lesion's bounding box in mm."),
    window: Optional[str] = typer.Option(None, help="Intensity window 'low,high' (e.g. -1000,400 for CT); "
                                         "default: per-sample min-max."),
    max_lesions_per_patient: Optional[int] = typer.Option(None, help="Keep at most N lesions per patient "
                                                          "(seeded draw)."),
    epochs: int = typer.Option(50), batch_size: int = typer.Option(16),
    lr: float = typer.Option(1e-4, help="Adam learning rate."),
    patience: int = typer.Option(10, help="Early stopping patience (epochs without better validation AUC)."),
    val_fraction: float = typer.Option(0.2, help="Validation share of patients when there is no split column."),
    augment: bool = typer.Option(True, help="Seeded MONAI augmentation on training samples."),
    class_weights: bool = typer.Option(True, help="Balanced class weights in the loss."),
    pretrained: Optional[Path] = typer.Option(None, help="Local state_dict file to start from (never "
                                              "downloaded)."),
    pretrained_exclude: Optional[str] = typer.Option(None, help="Comma-separated key prefixes to skip in the "
                                                     "pretrained file (e.g. 'class_layers.out')."),
    network_options: Optional[str] = typer.Option(None, help="JSON object of network arguments."),
    seed: int = typer.Option(0), device: str = typer.Option("auto", help="auto, cpu or cuda."),
    resume: bool = typer.Option(True, help="Resume from OUT/checkpoint.pt if present."),
    progress: bool = typer.Option(True, help="Show progress bars."),
    roi: _Roi = None,
) -> None:
    """Train a lesion classifier; early stopping on the validation AUC."""
    from thyromics.deep.settings import AugmentSettings, DataSettings, TrainSettings
    from thyromics.deep.train import fit_classifier

    data = DataSettings(spatial_dims=dims, margin_mm=margin_mm, size_2d=(size, size),
                        spacing_3d=(spacing,) * 3, patch_3d=tuple(int(v) for v in _floats(patch, 3, "--patch")),
                        window=_floats(window, 2, "--window"), max_lesions_per_patient=max_lesions_per_patient,
                        seed=seed)
    settings = TrainSettings(network=network, network_options=_options(network_options), epochs=epochs,
                             batch_size=batch_size, learning_rate=lr, patience=patience,
                             class_weights=class_weights, val_fraction=val_fraction, seed=seed, device=device,
                             pretrained=str(pretrained) if pretrained else None,
                             pretrained_exclude=tuple(p for p in (pretrained_exclude or "").split(",") if p),
                             data=data, augment=AugmentSettings(enabled=augment))
    res = fit_classifier(manifest, settings, out, resume=resume, progress=progress, roi=roi)
    _say_trained(res.best_epoch, "AUC", res.best_auc, out)


@dl_app.command("predict")
def dl_predict(
    model_dir: _Classifier,
    manifest: Path = typer.Argument(..., help="Case manifest to predict."),
    out: Path = typer.Option(Path(DL.name("predictions")), "-o", "--out", "--output", help="CSV of probabilities."),
    device: str = typer.Option("auto"), progress: bool = typer.Option(True),
    roi: _Roi = None,
) -> None:
    """Probability of class 1 for every lesion of a manifest."""
    from thyromics.deep.train import predict_classifier

    df, errors = predict_classifier(model_dir, manifest, device=device, progress=progress, roi=roi)
    _write_table(df, errors, out)
    typer.echo(f"{len(df)} predictions -> {out}")


@dl_app.command("embed")
def dl_embed(
    model_dir: _Classifier,
    manifest: Path = typer.Argument(..., help="Manifest holding the model's training cases (and any others)."),
    out: Path = typer.Option(Path(DL.name("features")), "-o", "--out", "--output", help="Parquet feature table."),
    n_components: int = typer.Option(128, help="PCA components (fewer when the training set is smaller)."),
    device: str = typer.Option("auto"), progress: bool = typer.Option(True),
    roi: _Roi = None,
) -> None:
    """Deep features: penultimate activations -> PCA fitted on the training rows -> Parquet."""
    from thyromics.deep.embed import embed_manifest

    df, errors = embed_manifest(model_dir, manifest, n_components=n_components, device=device,
                                progress=progress, roi=roi)
    _write_table(df, errors, out, parquet=True)
    typer.echo(f"{len(df)} rows x {df.shape[1] - 1} deep features -> {out}")


@dl_app.command("gradcam")
def dl_gradcam(
    model_dir: _Classifier,
    manifest: Path = typer.Argument(..., help="Case manifest."),
    out: Path = typer.Option(Path("gradcam"), "-o", "--out", "--output", help="Folder for the PNG overlays."),
    class_idx: int = typer.Option(1, help="Class whose evidence is shown."),
    device: str = typer.Option("auto"), progress: bool = typer.Option(True),
    roi: _Roi = None,
) -> None:
    """Grad-CAM overlays (image, heat map, mask outline) as PNG, one per lesion."""
    from thyromics.deep.gradcam import gradcam_manifest

    paths, errors = gradcam_manifest(model_dir, manifest, out, class_idx=class_idx, device=device,
                                     progress=progress, roi=roi)
    _report_errors(errors, out)
    typer.echo(f"{len(paths)} overlays -> {out}")


@segment_app.command("train")
def segment_train(
    manifest: Path = typer.Argument(..., help="Case manifest with masks."),
    out: Path = typer.Option(Path("seg_model"), "-o", "--out", "--output", help="Output folder."),
    network: str = typer.Option("cbam_unet", help="cbam_unet (2D attention U-Net with CBAM) or se_vnet."),
    dims: int = typer.Option(2, help="2 or 3."),
    size: int = typer.Option(128, help="2D network input size (square)."),
    patch: str = typer.Option("32,48,48", help="3D patch / sliding window z,y,x."),
    spacing: float = typer.Option(1.0, help="3D isotropic resampling in mm."),
    window: Optional[str] = typer.Option(None, help="Intensity window 'low,high'."),
    epochs: int = typer.Option(50), batch_size: int = typer.Option(8),
    lr: float = typer.Option(1e-3, help="Adam learning rate (the chest-CT lung-metastasis study used 0.01)."),
    patience: int = typer.Option(10), val_fraction: float = typer.Option(0.2),
    network_options: Optional[str] = typer.Option(None, help="JSON object of network arguments."),
    seed: int = typer.Option(0), device: str = typer.Option("auto"),
    resume: bool = typer.Option(True), progress: bool = typer.Option(True),
    roi: _Roi = None,
) -> None:
    """Train a segmentation network (Dice loss, Adam); early stopping on the validation Dice."""
    from thyromics.deep.segment import fit_segmenter
    from thyromics.deep.settings import SegmentSettings

    settings = SegmentSettings(network=network, network_options=_options(network_options), spatial_dims=dims,
                               size_2d=(size, size), spacing_3d=(spacing,) * 3,
                               patch_3d=tuple(int(v) for v in _floats(patch, 3, "--patch")),
                               window=_floats(window, 2, "--window"), epochs=epochs, batch_size=batch_size,
                               learning_rate=lr, patience=patience, val_fraction=val_fraction, seed=seed,
                               device=device)
    res = fit_segmenter(manifest, settings, out, resume=resume, progress=progress, roi=roi)
    _say_trained(res.best_epoch, "Dice", res.best_dice, out)


@segment_app.command("predict")
def segment_predict(
    model_dir: Path = typer.Argument(..., help="Folder written by `thyromics segment train`."),
    manifest: Path = typer.Argument(..., help="Case manifest (masks, if given, are the reference)."),
    out: Path = typer.Option(Path("segmentations"), "-o", "--out", "--output", help="Output folder (masks/ + table)."),
    device: str = typer.Option("auto"), progress: bool = typer.Option(True),
    mask_format: str = typer.Option("auto", "--mask-format", help="auto: masks in the image's format, DICOM SEG for DICOM series; seg: DICOM SEG for every DICOM image."),
    roi: _Roi = None,
) -> None:
    """Segment every case; write masks in the input's format and a Dice/IoU/HD95 table."""
    from thyromics.deep.segment import predict_segmentation

    df, errors = predict_segmentation(model_dir, manifest, out, device=device, progress=progress,
                                      mask_format=mask_format, roi=roi)
    _write_table(df, errors, DL.at(out, "segmentation"))
    typer.echo(f"{len(df)} masks -> {out / 'masks'}; mean Dice {df['dice'].mean():.3f}")
