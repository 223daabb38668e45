"""Time pictologics on the cases of a job file (run by ``engine.py --pictologics-python``).

Runs under the interpreter that has pictologics (Python 3.12 or later; thyromics' own
environment does not need it). The job file (JSON) names the cases (NIfTI image and mask
written by ``engine.py`` from the images thyromics reads, so both tools get the same
voxels) and the work: the original image and, for ``full``, one configuration per LoG sigma
(mm) and per 3D wavelet decomposition (``coif1``, level 1), each with intensity, histogram,
morphology and texture features (IBSI 1 definitions; no IVH, which PyRadiomics lacks).
Bins: pictologics' fixed bin size needs one start for every image, so the original image
has PyRadiomics' bins (width ``bin_width`` on multiples of it, from ``min_val``, a
multiple below every value) and the filtered images, whose range is not known before,
32 fixed-number bins (LIDC's filtered images have 18 levels at the median with a 25 HU
width, 26 on average).
Single thread (``set_num_threads(1)``), the first case once first (compilation, not
counted). Prints one JSON line: cases, seconds per case, columns per case.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
import warnings


def _configs(job: dict) -> dict[str, list[dict]]:
    features = {"step": "extract_features",
                "params": {"families": ["intensity", "morphology", "texture", "histogram"]}}
    out = {"original": [{"step": "discretise", "params": {
        "method": "FBS", "bin_width": job["bin_width"], "min_val": job["min_val"]}}, features]}
    tail = [{"step": "discretise", "params": {"method": "FBN", "n_bins": 32}}, features]
    if job["set"] == "full":
        for s in job["sigmas"]:
            out[f"log_{s}"] = [{"step": "filter", "params": {"type": "log", "sigma_mm": s}},
                               *tail]
        for d in ("".join(p) for p in itertools.product("LH", repeat=3)):
            out[f"wavelet_{d}"] = [{"step": "filter", "params": {
                "type": "wavelet", "wavelet": "coif1", "level": 1, "decomposition": d}}, *tail]
    return out


def main() -> None:
    from pictologics import RadiomicsPipeline, load_image, set_num_threads

    job = json.loads(open(sys.argv[1]).read())
    set_num_threads(1)
    pipe = RadiomicsPipeline(load_standard=False)
    for name, steps in _configs(job).items():
        pipe.add_config(name, steps)
    cases = [(load_image(c["image"]), load_image(c["mask"], stored_type=True))
             for c in job["cases"]]
    warnings.simplefilter("ignore")
    first = pipe.run(*cases[0])
    columns = sum(len(s) for s in first.values())
    t0 = time.perf_counter()
    for image, mask in cases:
        pipe.run(image, mask)
    seconds = (time.perf_counter() - t0) / len(cases)
    print(json.dumps({"n": len(cases), "seconds": seconds, "columns": columns}))


if __name__ == "__main__":
    main()
