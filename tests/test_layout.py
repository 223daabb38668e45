"""The stage outputs are named once, in :mod:`thyromics.layout`, and a real study agrees.

(a) no file name of the layout is typed as a string literal anywhere else in the package
(docstrings and comments may mention them); (b) the two small studies of
``report_study`` write exactly what the layout says, and nothing it does not name.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import thyromics
from report_study import report_study, steps_study  # noqa: F401  (fixtures)
from thyromics import layout as L

SRC = Path(thyromics.__file__).resolve().parent
ROOT = Path(__file__).resolve().parents[1]
_FIELD = re.compile(r"\{[^{}]*\}")
#: (module, name): a literal that is not the stage file of that name.
ALLOWED = {("report/build.py", "report.html"): "the Jinja template of the same name"}


def _norm(template: str) -> str:
    """Every ``{field}`` as ``{}``; a folder without its trailing ``/``."""
    return _FIELD.sub("{}", template).rstrip("/")


def _generic(name: str) -> bool:
    """Only fields and one extension (``{case}.png``): a pattern, not a name to look for."""
    base = name.rsplit("/", 1)[-1]
    return "." not in base or re.fullmatch(r"(\{\})+\.[a-z]+(\.gz)?", base) is not None


def _names() -> set[str]:
    out = set()
    for stage in L.STAGES.values():
        for key, f in stage.files.items():
            forms = {_norm(f.name)}
            if stage.defaults:  # features/features.parquet: the name the defaults give
                forms.add(_norm(stage._fill(f.name, {k: "{" + k + "}" for k in
                                                     re.findall(r"\{(\w+)", f.name)
                                                     if k not in stage.defaults})))
            for full in forms:
                for name in {full, full.rsplit("/", 1)[-1]}:
                    if not _generic(name):
                        out.add(name)
    return out | {L.STEP_DONE, L.SLIDE_DONE}


def _names_in(value: str, names: set[str]) -> list[str]:
    hits = []
    for n in names:
        if value == n or value.endswith("/" + n):
            hits.append(n)
        elif n.startswith("{}"):  # "{stem}.errors.csv": also ".errors.csv" glued to a stem
            rest = n[2:]
            if (rest.split(".")[0] or rest.count(".") >= 2) and value.endswith(rest):
                hits.append(n)
    return hits


def _code_strings(tree: ast.AST) -> list[tuple[int, str]]:
    """The string literals of the code (f-strings with ``{}`` for each field), no docstrings."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            skip.add(id(node.value))  # a docstring, or a bare string statement
        if isinstance(node, ast.JoinedStr):
            skip.update(id(v) for v in node.values if isinstance(v, ast.Constant))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            out.append((node.lineno, "".join(v.value if isinstance(v, ast.Constant) else "{}"
                                             for v in node.values)))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in skip):
            out.append((node.lineno, node.value))
    return out


def test_the_scanner_sees_code_literals_only():
    tree = ast.parse('"""comparison.csv"""\n# "run.json"\nx = out / "comparison.csv"\n'
                     'y = f"models/{b}/run.json"\nz = p.stem + ".errors.csv"\n'
                     'w = f"see {out / \'study.json\'}"\n')
    found = sorted(n for _, s in _code_strings(tree) for n in _names_in(s, _names()))
    assert found == ["comparison.csv", "run.json", "study.json", "{}.errors.csv"]


def test_no_stage_file_name_outside_the_layout():
    names = _names()
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel == "layout.py":
            continue
        for line, value in _code_strings(ast.parse(path.read_text(encoding="utf-8"))):
            for n in _names_in(value, names):
                if (rel, n) not in ALLOWED:
                    found.append(f"{rel}:{line}: {value!r} ({n})")
    assert not found, "use thyromics.layout instead of:\n" + "\n".join(found)


def _pattern(rel: str) -> re.Pattern:
    """A study-relative template as a regex; a folder matches everything below it."""
    parts = _FIELD.split(rel)
    body = "[^/]+".join(re.escape(p) for p in parts)
    return re.compile(body + (".*" if rel.endswith("/") else "") + r"\Z")


def _study_patterns() -> list[re.Pattern]:
    out = []
    for stage in L.STAGES.values():
        if stage.folder is None:
            continue
        for f in stage.files.values():
            rel = f"{stage.folder}/{f.name}" if stage.folder else f.name
            out.append(_pattern(rel))
    return out


def _unnamed(study: Path) -> list[str]:
    patterns = _study_patterns()
    lock = re.compile(r"(.*/)?\.[^/]+\.lock\Z")  # provenance.output_lock, beside its output
    return [rel for p in sorted(study.rglob("*")) if p.is_file()
            and not lock.match(rel := p.relative_to(study).as_posix())
            and not any(pat.match(rel) for pat in patterns)]


def _missing(study: Path, wanted: list[tuple[L.Stage, str, dict]]) -> list[str]:
    return [s.rel(k, **f) for s, k, f in wanted if not s.path(study, k, **f).exists()]


def test_a_real_study_writes_the_layout(report_study):  # noqa: F811
    assert not _unnamed(report_study), "files the layout does not name"
    blocks = ["radiomics", "clinical", "radiomics_clinical"]
    wanted = [(L.STUDY, "study", {}), (L.REPORT, "report", {}), (L.REPORT, "checklist_csv", {}),
              (L.REPORT, "checklist_md", {}), (L.REPORT, "data", {"name": "cohort_flow"})]
    wanted += [(L.STUDY, "done", {"step": s})
               for s in ("features", "table1", "deep", "models", "evaluate")]
    wanted += [(L.EXTRACT, k, {}) for k in ("features", "errors", "provenance", "cache")]
    wanted += [(L.TABLE1, k, {}) for k in L.TABLE1.files]
    wanted += [(L.MODEL, k, {"block": b}) for b in blocks
               for k in ("comparison", "predictions", "delong", "fold_auc", "leakage",
                         "sample_size", "evaluation", "run")]
    wanted += [(L.MODEL, "importance", {"block": b, "kind": "shap"}) for b in blocks]
    wanted += [(L.MODEL, k, {"block": "radiomics"}) for k in ("families", "family_values")]
    wanted += [(L.MODEL, k, {"block": "network"}) for k in ("comparison", "predictions",
                                                            "delong", "run")]
    wanted += [(L.SAVED_MODEL, k, {"block": b, "model_id": "lr"}) for b in blocks
               for k in ("model", "meta")]
    wanted += [(L.DEEP_MODEL, k, {}) for k in L.DEEP_MODEL.files]
    wanted += [(L.DEEP, k, {}) for k in ("predictions", "metrics", "gradcam_cases", "gradcam",
                                         "features")]
    wanted += [(L.EVALUATE, k, {}) for k in L.EVALUATE.files]
    assert not _missing(report_study, wanted)
    import pandas as pd

    for stage, key, fields in [(L.MODEL, "comparison", {"block": "radiomics"}),
                               (L.MODEL, "predictions", {"block": "radiomics"}),
                               (L.MODEL, "delong", {"block": "radiomics"}),
                               (L.MODEL, "family_values", {"block": "radiomics"}),
                               (L.EXTRACT, "errors", {}), (L.EVALUATE, "subgroups", {}),
                               (L.DEEP_MODEL, "split", {}), (L.REPORT, "checklist_csv", {})]:
        path = stage.path(report_study, key, **fields)
        table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        assert not stage.missing_columns(key, table.columns), stage.rel(key, **fields)


def test_the_steps_study_writes_the_layout(steps_study):  # noqa: F811
    assert not _unnamed(steps_study), "files the layout does not name"
    block = {"block": "radiomics_clinical"}
    wanted = [(L.STUDY, "done", {"step": "robustness"})]
    wanted += [(L.ROBUSTNESS, k, {}) for k in ("perturbations", "parameters", "icc", "figure",
                                               "summary", "errors", "cache")]
    wanted += [(L.ROBUSTNESS, k, {"repetition": r}) for r in range(2)
               for k in ("perturbed", "perturbed_errors", "perturbed_provenance")]
    wanted += [(L.MODEL, k, block) for k in L.MODEL.files if k.startswith("harmonization")]
    wanted += [(L.MODEL, "robust", block)]
    assert not _missing(steps_study, wanted)
    import pandas as pd

    icc = pd.read_csv(L.ROBUSTNESS.path(steps_study, "icc"))
    assert not L.ROBUSTNESS.missing_columns("icc", icc.columns)


def test_stage_api():
    assert L.MODEL.path("S", "importance", block="b", kind="shap") == Path(
        "S/models/b/importance_shap.csv")
    assert L.MODEL.at("OUT", "comparison") == Path("OUT/comparison.csv")
    assert L.EXTRACT.rel("errors") == "features/features.errors.csv"
    assert L.EXTRACT.name("errors", stem="x") == "x.errors.csv"
    assert L.TILES.rel("errors") == "tiles.errors.csv" and L.TILES.folder is None
    assert L.command_for("models/radiomics/run.json") == "thyromics model"
    assert L.command_for("deep/model/settings.json") == "thyromics dl train"
    with pytest.raises(KeyError, match="did you mean 'comparison'"):
        L.MODEL.name("comparisons")
    with pytest.raises(KeyError, match="block"):
        L.MODEL.dir("S")
    with pytest.raises(ValueError, match="thyromics habitats"):
        L.HABITATS.dir("S")


def test_the_tile_stages_index_their_tiles_alike():
    # tiles -> normalise -> nuclei: each reads the previous stage's index by these columns
    for stage, name in ((L.TILES, "tiles.csv"), (L.NORMALISE, "normalised.csv"),
                        (L.NUCLEI, "nuclei.csv")):
        assert stage.name("index") == name
        assert stage.columns("index") == ("slide_id", "patient_id", "tile_id", "path")
        assert list(stage.files)[0] == "index" and "tile" in stage.files
    assert "index" not in L.NUCLEUS_FEATURES.files


def test_every_stage_names_its_errors_provenance_and_done_files():
    for stage in L.STAGES.values():
        for key in (stage.errors, stage.provenance, stage.done):
            assert key is None or key in stage.files, (stage.title, key)
        assert stage.command.startswith("thyromics ")


def test_developer_guide_has_the_current_layout():
    guide = (ROOT / "docs" / "developing.md").read_text(encoding="utf-8")
    assert L.markdown_table() in guide, (
        "regenerate the layout table in docs/developing.md from thyromics.layout.markdown_table()")
