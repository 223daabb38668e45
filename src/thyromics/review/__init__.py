"""thyromics.review: check, correct and accept lesion masks, and measure agreement.

Modules (import them directly; this package imports nothing heavy so that
``thyromics --help`` stays instant):

- :mod:`~thyromics.review.cases`: the cases under review (image, proposed mask, reference
  mask), read from the manifest, with the study-folder guard.
- :mod:`~thyromics.review.state`: one reader's decision log and saved masks; resume.
- :mod:`~thyromics.review.codec`: masks on the wire (packed bits, base64).
- :mod:`~thyromics.review.render`: image slices as PNG with window/level presets.
- :mod:`~thyromics.review.server`: the local web server (JSON API + the review page).
- :mod:`~thyromics.review.agreement`: per-case and summary agreement between masks
  (Dice, IoU, HD95, volumes, modification classes, Bland-Altman, group tests).
- :mod:`~thyromics.review.icc`: ICC(2,1) with its confidence interval, vectorised.
- :mod:`~thyromics.review.run_agreement`: the ``thyromics agreement`` cohort run
  (feature-level ICC across readers' masks, output tables);
  :mod:`~thyromics.review.figures` its plots.
"""

__all__: list[str] = []
