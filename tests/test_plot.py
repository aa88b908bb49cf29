"""Pictures of learned activations; matplotlib only on demand."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

import adaptact as aa


def test_import_does_not_load_matplotlib():
    code = "import sys, adaptact; adaptact.create('pau'); assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plot_one_panel_per_unit_with_histograms(tmp_path):
    pytest.importorskip("matplotlib")
    model = nn.Sequential(nn.Linear(4, 6), aa.create("pau"), nn.Linear(6, 6),
                          aa.create("agumbel", num_features=6), nn.Linear(6, 2), aa.create("adact"))
    path = tmp_path / "acts.png"
    fig = aa.plot_activations(model, inputs=torch.randn(50, 4), path=path, title="t")
    assert path.stat().st_size > 10_000
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title().split(":")[0] for ax in panels] == ["1", "3", "5"]
    assert len(fig.axes) == 6  # three curves and three histogram axes
    # the per-channel panel draws each channel and the mean
    assert len(panels[1].lines) >= 6 + 1


def test_plot_refuses_a_model_without_units():
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match="no trainable activation"):
        aa.plot_activations(nn.Sequential(nn.Linear(2, 2), nn.ReLU()))


def test_plot_marks_lazy_units():
    pytest.importorskip("matplotlib")
    fig = aa.plot_activations(aa.create("pau", num_features="lazy"))
    assert "not initialised" in fig.axes[0].texts[0].get_text()


@pytest.mark.parametrize("name", ["pau-fig1-init-fit", "farhadi-fig1"])
def test_stand_alone_paper_figures(name, tmp_path):
    pytest.importorskip("matplotlib")
    from adaptact.report.paper_figures import draw_paper_figure

    (path,) = draw_paper_figure(name, tmp_path)
    assert path.name == f"{name}.png" and path.stat().st_size > 20_000
    with pytest.raises(ValueError, match="pau-fig1-init-fit"):
        draw_paper_figure("fig9", tmp_path)
