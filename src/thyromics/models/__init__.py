"""thyromics.models: leakage-proof modelling.

Modules (imported on demand; this package imports nothing heavy):

- :mod:`~thyromics.models.pipeline`: ``PipelineSettings``, ``build_pipeline``,
  ``build_model``, ``fit_model`` (impute -> z-score -> filters -> selection ->
  resampling -> classifier, all refitted per training fold);
- :mod:`~thyromics.models.registry`: ``CLASSIFIERS`` (lr, svm, knn, mlp, rf,
  extratrees, xgboost, lightgbm, rfq, balanced_rf), ``get_classifier``;
- :mod:`~thyromics.models.rfq`: ``RFQClassifier`` (O'Brien & Ishwaran 2019) and the
  OOB-tuned ``OOBForestClassifier``;
- :mod:`~thyromics.models.selection`: near-zero variance, correlation, LASSO (min /
  1-SE), univariate and mRMR selectors;
- :mod:`~thyromics.models.cv`: grouped repeated folds, cohorts, ``LeakageWarning``;
- :mod:`~thyromics.models.blocks`: feature blocks (radiomics, clinical, deep, ith);
- :mod:`~thyromics.models.importance`: held-out permutation importance, OOB VIMP, SHAP;
- :mod:`~thyromics.models.families`: per-family UMAP / Mann-Whitney analysis (Moon et al.,
  Sci Rep 2023);
- :mod:`~thyromics.models.api`: ``fit_and_compare``, ``run_model_stage``;
- :mod:`~thyromics.models.persist`: ``save_model``, ``load_model``, ``predict_table``.
"""

__all__: list[str] = []
