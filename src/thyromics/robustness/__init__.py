"""Feature robustness under image perturbation (Zwanenburg et al., Sci Rep 2019;9:614).

Perturbation chains (:mod:`.settings`, :mod:`.perturb`), per-feature ICC over the
perturbed versions of every case with stable flags (:mod:`.icc`), the stage that runs
them through the extraction worker (:mod:`.run`), its figure (:mod:`.figure`) and the
model stage's ``robust`` step (:mod:`.select`).
"""

__all__: list[str] = []
