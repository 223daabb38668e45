"""thyromics.evaluate: the single source of validation numbers.

Modules (import them directly; this package imports nothing heavy so that
``thyromics --help`` stays instant):

- :mod:`~thyromics.evaluate.roc`: AUC, DeLong CI (Sun & Xu fast algorithm), bootstrap CI,
  paired / unpaired DeLong tests, ROC curve.
- :mod:`~thyromics.evaluate.thresholds`: Youden (cutpointr / pROC conventions), target
  sensitivity / specificity, fixed thresholds.
- :mod:`~thyromics.evaluate.metrics`: accuracy, sensitivity, specificity, PPV, NPV, F1 with CIs.
- :mod:`~thyromics.evaluate.calibration`: Brier, calibration intercept and slope,
  Hosmer-Lemeshow, reliability curve.
- :mod:`~thyromics.evaluate.dca`: decision curves (net benefit).
- :mod:`~thyromics.evaluate.cv_roc`: cross-validated ROC (per-fold AUCs, vertical and threshold averaging).
- :mod:`~thyromics.evaluate.subgroups`: everything per subgroup.
- :mod:`~thyromics.evaluate.segmentation`: Dice, IoU, HD95 per lesion and per case.
- :mod:`~thyromics.evaluate.api`: :func:`evaluate_scores`, the JSON of ``thyromics evaluate``.
"""

__all__: list[str] = []
