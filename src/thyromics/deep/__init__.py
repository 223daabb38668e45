"""Deep learning on lesions: MONAI-based networks, data, training, Grad-CAM, deep features.

Modules (import what you need; nothing heavy is imported here, so the CLI stays fast):

- :mod:`thyromics.deep.settings` -- frozen settings (``DataSettings``, ``AugmentSettings``,
  ``TrainSettings``, ``SegmentSettings``).
- :mod:`thyromics.deep.data` -- 2D lesion crops, 3D patches, per-patient lesion draw.
- :mod:`thyromics.deep.transforms` -- normalisation to [0, 1], seeded MONAI augmentation.
- :mod:`thyromics.deep.nets` -- the network registry (``build_network``, ``NETWORKS``).
- :mod:`thyromics.deep.train` -- ``fit_classifier``, ``train_classifier``, ``predict_classifier``.
- :mod:`thyromics.deep.gradcam` -- ``gradcam_maps``, ``save_overlay``, ``gradcam_manifest``.
- :mod:`thyromics.deep.embed` -- ``penultimate_activations``, ``DeepPCA``, ``embed_manifest``.
- :mod:`thyromics.deep.stage` -- ``run_deep_stage``: the deep step of ``thyromics run``
  (train, carried threshold, held-out metrics, Grad-CAM, deep features, the network block).
- :mod:`thyromics.deep.segment` -- ``fit_segmenter``, ``predict_segmentation``, ``postprocess``.
- :mod:`thyromics.deep.commands` -- ``thyromics dl ...`` and ``thyromics segment ...``.

Devices: CUDA when available, else CPU (``device="auto"``); nothing is ever downloaded.
"""

__all__: list[str] = []
