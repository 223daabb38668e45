"""The unit-square panels the ROC and calibration figures share (report.figures)."""

from __future__ import annotations

import pandas as pd

from thyromics.report.figures import _unit_panels, cohort_title


def test_unit_panels_draw_each_model_of_each_cohort_and_finish_every_panel():
    frame = pd.DataFrame({"cohort": ["train", "train", "train", "external", "external"],
                          "model": ["lr", "rf", "lr", "rf", "lr"],
                          "x": [0.1, 0.2, 0.3, 0.4, 0.5]})
    calls = []

    def draw(ax, part, colour, label):
        calls.append((ax, list(part["x"]), colour, label))
        ax.plot(part["x"], part["x"], color=colour, label=label)

    fig = _unit_panels(frame, {("lr", "train"): "LR, AUC 0.80"}, draw, diagonal="chance", top=1.01,
                       xlabel="FPR", ylabel="TPR", name="roc", caption="ROC")
    # models in order of appearance within each cohort, cohorts in order of appearance
    assert [(c[1], c[3]) for c in calls] == [([0.1, 0.3], "LR, AUC 0.80"), ([0.2], "rf"),
                                            ([0.4], "rf"), ([0.5], "lr")]
    # a colour per model, the same in every panel
    assert calls[0][2] == calls[3][2] != calls[1][2] == calls[2][2]
    train_ax, external_ax = calls[0][0], calls[2][0]
    assert train_ax is calls[1][0] and train_ax is not external_ax
    for ax, cohort in ((train_ax, "train"), (external_ax, "external")):
        assert ax.get_title() == cohort_title(cohort)
        assert ax.get_xlim() == (0, 1) and ax.get_ylim() == (0, 1.01)
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("FPR", "TPR")
        diagonal = ax.get_lines()[-1]
        assert diagonal.get_label() == "chance" and diagonal.get_linestyle() == "--"
        assert list(diagonal.get_xdata()) == [0, 1] and list(diagonal.get_ydata()) == [0, 1]
    assert fig.name == "roc" and fig.caption == "ROC" and fig.png[:4] == b"\x89PNG"
    assert fig.data is frame
