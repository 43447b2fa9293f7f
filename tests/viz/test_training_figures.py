"""Learning curves of a training job (rehab_core.viz.training)."""

from __future__ import annotations

import pytest

from rehab_core.viz.training import epoch_table, learning_curves


def _events(members, n_epochs=4):
    return [
        {
            "event": "epoch",
            "member": member,
            "epoch": epoch,
            "train_loss": 1.0 / epoch,
            "val_loss": 1.2 / epoch,
            "val_auc": 0.5 + 0.05 * epoch,
        }
        for member in members
        for epoch in range(1, n_epochs + 1)
    ]


def test_learning_curves_draw_loss_and_auc_per_member():
    fig = learning_curves(_events(["lstm/fold0", "resnet18/fold0"]))
    assert [(t.name, t.xaxis) for t in fig.data if t.showlegend] == [
        ("LSTM, fold 1", "x"),  # the registry's display name, the fold counted from 1
        ("resnet18, fold 1", "x"),  # a model the registry does not know keeps its id
    ]
    auc = [t for t in fig.data if t.xaxis == "x2"]
    assert list(auc[0].y) == pytest.approx([0.55, 0.6, 0.65, 0.7])
    assert [t.line.dash for t in fig.data[:2]] == [None, "dash"]  # training, validation
    assert epoch_table(_events(["a"]))["a"][-1]["epoch"] == 4


@pytest.mark.parametrize("n_members", [2, 20])
def test_every_member_fits_in_the_legend_beside_the_panels(n_members):
    """A legend under the panels wrapped onto the axis titles and was cut off."""
    members = [f"{model}/fold{k}" for model in ("a", "b", "c", "d") for k in range(5)]
    fig = learning_curves(_events(members[:n_members]))
    legend = fig.layout.legend
    assert legend.orientation == "v" and legend.x >= 1.0 and legend.yanchor == "top"
    plot_area = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    # plotly's legend entry for 12-px text is 19 px, plus the gap after each legend group
    # (one group per member)
    assert plot_area >= (19 + legend.tracegroupgap) * n_members
    assert fig.layout.height >= 360


def test_epochs_are_ticked_as_whole_numbers():
    """A 3-epoch trial run's axis read 1, 1.5, 2, 2.5, 3 (issue 15 screenshots)."""
    short = learning_curves(_events(["lstm/fold0"], n_epochs=3))
    assert {
        (a.dtick, a.tick0, a.tickformat) for a in (short.layout.xaxis, short.layout.xaxis2)
    } == {(1, 1, "d")}
    assert learning_curves(_events(["lstm/fold0"], n_epochs=50)).layout.xaxis.dtick is None
