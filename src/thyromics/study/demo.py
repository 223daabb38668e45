"""``thyromics demo``: the whole study on a synthetic cohort the tool makes itself."""

from __future__ import annotations

from pathlib import Path

from thyromics.study.runner import Log

__all__ = ["run_demo", "DEMO_STUDIES", "DEMO_MODELS", "DEMO_SPLIT", "DEMO_AUC_BAND"]

#: The classifiers the demo compares (small cohorts: boosting with its default leaf sizes
#: learns little from 36 training lesions, so it is left to real studies).
DEMO_MODELS: tuple[str, ...] = ("lr", "rf", "rfq")
#: The band that the external AUC of each main model (the radiomics block's classifiers
#: and the network) falls in with the default size and seed (checked by tests/study/test_demo.py).
DEMO_AUC_BAND: tuple[float, float] = (0.70, 0.95)

#: Fractions of patients in the training, test and external cohorts.
DEMO_SPLIT: tuple[float, float, float] = (0.5, 0.2, 0.3)

#: Per modality: the extraction preset and the classifiers the demo compares.
DEMO_STUDIES = {
    # Small networks for the demo's time budget (a study uses se_resnet / densenet121); the
    # CT network's deep features are not fused into a block (the model stage's time).
    "ct": {"name": "Synthetic CT study: aggressive vs. indolent lesions", "preset": "ct",
           "deep": {"enabled": True, "network": "cnn", "network_options": {"channels": [8, 16]},
                    "spatial_dims": 3, "epochs": 15, "learning_rate": 1e-3, "gradcam": 6},
           "deep_block": False,
           "subgroups": [{"column": "size_mm", "edges": [float("-inf"), 12.0, 15.0, float("inf")],
                          "labels": ["< 12 mm", "12-14.9 mm", ">= 15 mm"]}, {"column": "sex"}]},
    "us": {"name": "Synthetic ultrasound study: suspicious vs. benign nodules", "preset": "us",
           "deep": {"enabled": True, "network": "cnn", "size": 64, "epochs": 15,
                    "learning_rate": 1e-3, "gradcam": 8},
           "deep_block": True,
           "subgroups": [{"column": "size_mm", "edges": [float("-inf"), 4.0, 5.0, float("inf")],
                          "labels": ["< 4 mm", "4-4.9 mm", ">= 5 mm"]}, {"column": "sex"}]},
}


def run_demo(out: str | Path, *, n_patients: int = 60, seed: int = 7, jobs: int = 0,
             models: tuple[str, ...] = DEMO_MODELS, log: Log = print,
             progress=None) -> dict[str, Path]:
    """Make the synthetic CT and ultrasound cohorts and run the full study on each.

    Returns the report path of each modality.
    """
    import yaml

    from thyromics.study.config import load_study
    from thyromics.study.runner import run_study
    from thyromics.study.synthetic import SyntheticSettings, make_cohort

    out = Path(out)
    reports = {}
    for modality, spec in DEMO_STUDIES.items():
        data = out / "data" / modality
        log(f"[demo] making the synthetic {modality.upper()} cohort ({n_patients} patients) in {data}")
        manifest = make_cohort(data, modality, SyntheticSettings(n_patients=n_patients, seed=seed, split=DEMO_SPLIT))
        study_yaml = out / f"study_{modality}.yaml"
        study_yaml.write_text(yaml.safe_dump({
            "name": spec["name"], "cases": str(manifest.relative_to(out)), "seed": seed,
            "extract": {"preset": spec["preset"], "jobs": jobs},
            # Small and quick: no inner tuning, fewer trees (a real study keeps the defaults).
            "deep": spec["deep"],
            "model": {"models": list(models), "cv": 5 if n_patients >= 40 else 3,
                      "blocks": ["radiomics", "clinical", "radiomics+clinical",
                                 *(["radiomics+deep"] if spec["deep_block"] else [])],
                      "tune": False, "n_estimators": 150, "jobs": jobs,
                      "importance": ["permutation", "shap"]},
            "evaluate": {"subgroups": spec["subgroups"]},
        }, sort_keys=False), encoding="utf-8")
        paths = run_study(load_study(study_yaml), out / modality, log=log, progress=progress)
        reports[modality] = paths.report
    return reports
