"""The papers' record figures: Davis Fig. 10, Farhadi Figs. 2-4 and 8, ABU Fig. 2B and the spread of the final
parameters, PAU Fig. 3 with the RPAU noise band, learning curves with bands over seeds.

Each figure is drawn from constructed records or from tiny real runs the test makes (fake data, 2-3 steps);
the figure objects are captured where they are saved, and the plotted data are checked."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import adaptact as aa
from adaptact.experiments import get_experiment, list_experiments
from adaptact.train import RunRecord, run
from adaptact.train.recorders import input_ranges
from fakedata import write_fake_data_root

pytest.importorskip("matplotlib")

from adaptact.report import figures_common, plots  # noqa: E402
from adaptact.report.figures_abu import parameter_spread_markdown  # noqa: E402
from adaptact.report.figures_pau import rpau_band  # noqa: E402


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory) -> Path:
    return write_fake_data_root(tmp_path_factory.mktemp("fakedata"))


@pytest.fixture
def drawn(monkeypatch):
    """Every figure saved while the test runs, as (figure, path) pairs."""
    from adaptact.report import figures_abu, figures_davis, figures_farhadi, figures_pau

    seen = []
    original = figures_common.save

    def keep(fig, path):
        seen.append((fig, original(fig, path)))
        return path

    for module in (plots, figures_abu, figures_davis, figures_farhadi, figures_pau):
        monkeypatch.setattr(module, "save", keep)
    return seen


def tiny_records(name: str, cells: list[tuple[str, str]], seeds: int, data_dir: Path, steps: int = 3,
                 profile: str = "quick", **changes) -> list[RunRecord]:
    """Real records of ``cells`` of experiment ``name``'s ``profile``: ``steps`` updates on the fake data."""
    exp = get_experiment(name)
    planned, _ = exp.plan(profile, seeds=seeds)
    records = []
    for cell, spec in planned:
        if (cell.row, cell.column) not in cells:
            continue
        opts = {k: v for k, v in spec.data_options.items() if k not in ("train_subset", "test_subset", "samples")}
        if opts.get("val_size"):
            opts["val_size"] = 8
        if spec.data == "teacher":
            opts.update(samples=200, folds=2)
        model_options = dict(spec.model_options)
        if spec.model.startswith("smcn"):
            model_options["width_divisor"] = 8
        tiny = spec.replace(data_dir=str(data_dir), epochs=None, steps=steps, eval_every=1, checkpoint_every=1,
                            batch_size=8, eval_batch_size=64, data_options=opts, device="cpu",
                            model_options=model_options, **changes)
        record = run(tiny)
        assert record.status == "ok", record.error
        records.append(record)
    assert len(records) == len(cells) * seeds
    return records


def made(row: str, column: str, seed: int, **fields) -> RunRecord:
    """A constructed record (no run) with the tags the figures group by."""
    spec = {"tags": {"row": row, "column": column, "seed": seed}, **fields.pop("spec", {})}
    return RunRecord(key=f"{row}-{column}-{seed}", spec=spec, **fields)


def _lines(ax):
    return [line for line in ax.lines if line.get_label() and not line.get_label().startswith("_")]


# ----------------------------------------------------------------------------- the shared pieces


def test_every_experiments_figures_are_known():
    for name in list_experiments():
        unknown = set(get_experiment(name).figures) - set(plots.FIGURES)
        assert not unknown, f"{name}: {unknown}"


def test_confidence_band_is_scipys_t_interval():
    from scipy import stats

    values = np.array([[1.0, 2.0, np.nan], [2.0, 4.0, 5.0], [4.0, 3.0, np.nan]])
    mean, low, high = figures_common.mean_and_ci(values)
    for k in range(2):
        col = values[:, k]
        lo, hi = stats.t.interval(0.95, len(col) - 1, loc=col.mean(), scale=stats.sem(col))
        assert mean[k] == pytest.approx(col.mean()) and low[k] == pytest.approx(lo) and high[k] == pytest.approx(hi)
    assert mean[2] == low[2] == high[2] == 5.0  # one run there: no band
    one = figures_common.mean_and_ci(values[:1, :2])
    assert np.array_equal(one[1], one[2])


def test_a_band_is_cut_to_the_quantitys_domain_and_a_log_panel_fits_its_means():
    """Two seeds at 90 and 99.9 %: the t-interval reaches past 100 %; the band stops there. A loss band
    reaching 0 does not stretch a log panel down to it."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, (ax, log_ax) = plt.subplots(1, 2)
    figures_common.band_line(ax, [1, 2], np.array([[90.0, 95.0], [99.9, 96.0]]), color="C0", domain=(0.0, 100.0))
    (band,) = ax.collections
    assert band.get_paths()[0].vertices[:, 1].max() == pytest.approx(100.0)
    figures_common.band_line(log_ax, [1, 2], np.array([[0.1, 0.2], [0.5, 0.25]]), color="C0")
    log_ax.set_yscale("log")
    plots._fit_to_means(log_ax)
    assert log_ax.get_ylim() == pytest.approx((0.225 / 1.5, 0.3 * 1.5))  # the means: 0.3 and 0.225
    plt.close(fig)


def test_input_ranges_are_the_units_per_channel_input_extremes():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), aa.create("agumbel", num_features=3), nn.Linear(3, 2), aa.create("pau"))
    probe = torch.randn(50, 4)
    ranges = input_ranges(model, probe)
    h = model[0](probe)
    assert ranges["1"]["min"] == pytest.approx(h.amin(0).tolist()) and ranges["1"]["max"] == pytest.approx(
        h.amax(0).tolist())
    assert len(ranges["3"]["min"]) == 2
    assert model.training  # restored


def test_a_run_records_its_units_final_input_ranges():
    spec = dict(model="mlp", data="digits", act="agumbel", model_options={"hidden": [5]}, steps=2, batch_size=32,
                device="cpu")
    rec = run(spec)
    entry = rec.preactivations["input_range"]["net.2"]
    assert len(entry["min"]) == len(entry["max"]) == 5
    assert all(lo < hi for lo, hi in zip(entry["min"], entry["max"]))
    assert "input_range" not in run({**spec, "act": "relu"}).preactivations  # no trainable unit: nothing


# ----------------------------------------------------------------------------- learning curves with bands


def _curve_records(rows, cols, seeds, epochs=4):
    rng = np.random.default_rng(0)
    out = []
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            for s in range(seeds):
                acc = list(np.clip(0.5 + 0.1 * np.arange(epochs) + 0.02 * rng.standard_normal(epochs) + 0.01 * i,
                                   0, 1))
                out.append(made(row, col, s, curves={"epoch": list(range(1, epochs + 1)), "test_accuracy": acc,
                                                     "val_accuracy": [None] * epochs,
                                                     "train_loss": list(1.0 / np.arange(1, epochs + 1))}))
    return out


def test_training_curves_draw_mean_and_95_percent_band_per_row(tmp_path, drawn):
    exp = get_experiment("digits")
    rows, cols = [r.label for r in exp.rows[:3]], [exp.columns[0].label]
    records = _curve_records(rows, cols, seeds=3)
    (path,) = plots.training_curves(exp, records, tmp_path)
    assert path.exists()
    (fig, _), = drawn
    acc_ax = fig.axes[0]
    assert [line.get_label() for line in _lines(acc_ax)] == rows
    assert len(acc_ax.collections) == 3  # one band per row
    first = [r for r in records if r.spec["tags"]["row"] == rows[0]]
    expected = 100 * np.mean([r.curves["test_accuracy"] for r in first], axis=0)
    assert np.allclose(_lines(acc_ax)[0].get_ydata(), expected)
    assert "95 % CI" in fig._suptitle.get_text()


def test_farhadi_error_curves_one_line_per_cell_with_bands(tmp_path, drawn):
    exp = get_experiment("farhadi-mr")
    rows, cols = [r.label for r in exp.rows[:2]], [c.label for c in exp.columns[:2]]
    records = _curve_records(rows, cols, seeds=3)
    (path,) = plots.FIGURES["error-curves"](exp, records, tmp_path)
    assert path.name == "farhadi-mr-error-curves.png" and path.exists()
    (fig, _), = drawn
    train_ax, held_ax = fig.axes[:2]
    labels = [line.get_label() for line in _lines(held_ax)]
    assert labels == [f"{r} / {c}" for r in rows for c in cols]
    assert len(held_ax.collections) == 4
    assert held_ax.get_ylabel() == "held-out (test) error (%)" and train_ax.get_ylabel() == "training loss"
    cell = [r for r in records if r.spec["tags"]["row"] == rows[0] and r.spec["tags"]["column"] == cols[0]]
    assert np.allclose(_lines(held_ax)[0].get_ydata(),
                       100 * (1 - np.mean([r.curves["test_accuracy"] for r in cell], axis=0)))
    assert "Fig. 8" in fig._suptitle.get_text()


# ----------------------------------------------------------------------------- Farhadi Figs. 2-4


def test_farhadi_fig2_one_hidden_layer_only_arelu_blue_agumbel_red(tmp_path, drawn):
    exp = get_experiment("farhadi-sim")
    records = []
    for row, depth in (("1 layer, Sig teacher", 1), ("8 layers, Sig teacher", 8)):
        for col, act, rho in (("fitted AReLU", "arelu", 2.0), ("fitted AGumb", "agumbel", -1.0)):
            for s in range(2):
                records.append(made(row, col, s, spec={"act": act, "model_options": {"hidden": [10] * depth}},
                                    final_activations={f"net.{2 * k + 2}": {"rho": list(rho + 0.1 * np.arange(10))}
                                                       for k in range(depth)}))
    (path,) = plots.FIGURES["alpha-hist"](exp, records, tmp_path)
    assert path.exists()
    (fig, _), = drawn
    (ax,) = fig.axes  # the 8-layer teacher is left out
    assert ax.get_title() == "1 layer, Sig teacher" and ax.get_xscale() == "log"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["adaptive ReLU (20 neurons)", "adaptive Gumbel (20 neurons)"]
    colours = {tuple(np.round(p.get_facecolor()[:3], 3)) for p in ax.patches}
    from matplotlib.colors import to_rgb

    assert colours == {tuple(np.round(to_rgb(c), 3)) for c in ("tab:blue", "tab:red")}
    heights = sum(p.get_height() for p in ax.patches)
    assert heights == 40


def test_farhadi_figs3_4_every_neuron_of_layers_2_and_4(tmp_path, drawn, fake_root):
    exp = get_experiment("farhadi-sim")
    records = tiny_records("farhadi-sim", [("8 layers, Sig teacher", "fitted AGumb"),
                                           ("8 layers, Sig teacher", "fitted AReLU")], 1, fake_root)
    for r in records:
        r.spec["tags"]["seed"] = 0
    (path,) = plots.FIGURES["farhadi-fig3-4"](exp, records, tmp_path)
    assert path.name == "farhadi-sim-fig3-4-8-layers--sig-teacher.png" and path.exists()
    (fig, _), = drawn
    assert len(fig.axes) == 4
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("adaptive Gumbel, hidden layer 2: 10 neurons")
    assert titles[3].startswith("adaptive ReLU, hidden layer 4: 10 neurons")
    agumb = next(r for r in records if r.spec["act"] == "agumbel")
    seen = agumb.preactivations["input_range"]["net.4"]  # hidden layer 2: the second unit
    lines = fig.axes[0].lines
    assert len(lines) == 10
    assert [line.get_xdata()[0] for line in lines] == pytest.approx(seen["min"], rel=1e-6)
    assert [line.get_xdata()[-1] for line in lines] == pytest.approx(seen["max"], rel=1e-6)
    assert all(0 <= line.get_ydata().min() and line.get_ydata().max() <= 1 for line in lines)  # CDFs


def test_farhadi_figs3_4_collapsed_or_unrecorded_inputs_drawn_on_the_grid_and_said(tmp_path, drawn, fake_root):
    """farhadi-sim medium: the 8-layer AGumb/AReLU nets collapsed (every input of layer 2 within 2e-5), which
    drew ten curves over a 4e-5 wide range (an empty-looking panel); a record without input ranges crashed on a
    per-channel unit. Both now draw every neuron on [-4, 4], and a collapsed panel says so."""
    exp = get_experiment("farhadi-sim")
    records = tiny_records("farhadi-sim", [("8 layers, Sig teacher", "fitted AGumb"),
                                           ("8 layers, Sig teacher", "fitted AReLU")], 1, fake_root)
    agumb = next(r for r in records if r.spec["act"] == "agumbel")
    arelu = next(r for r in records if r.spec["act"] == "arelu")
    for entry in agumb.preactivations["input_range"].values():
        entry["min"], entry["max"] = [-2e-5] * len(entry["min"]), [2e-5] * len(entry["max"])
    arelu.preactivations = {}
    plots.FIGURES["farhadi-fig3-4"](exp, records, tmp_path)
    (fig, _), = drawn
    for ax in fig.axes:
        assert len(ax.lines) == 10
        assert all(line.get_xdata()[0] == -4.0 and line.get_xdata()[-1] == 4.0 for line in ax.lines)
    collapsed = [ax for ax in fig.axes if "collapsed" in ax.get_xlabel()]
    assert len(collapsed) == 2 and all("constant" in ax.texts[0].get_text() for ax in collapsed)
    assert all("range not recorded" in ax.get_xlabel() for ax in fig.axes if ax not in collapsed)


# ----------------------------------------------------------------------------- Davis Fig. 10


def test_davis_fig10_one_panel_per_meta_neuron_over_its_inputs(tmp_path, drawn, fake_root):
    exp = get_experiment("davis-mnist-fixed-vs-trainable")
    col = "relu, 3 neurons x 1 layer"
    cells = [("meta-neurons", col), ("fixed", col), ("meta-neurons", "relu, 10 neurons x 1 layer")]
    records = tiny_records(exp.name, cells, 1, fake_root)
    (path,) = plots.FIGURES["davis-fig10"](exp, records, tmp_path)
    assert path.name == "davis-mnist-fixed-vs-trainable-fig10-relu--3-neurons-x-1-layer.png" and path.exists()
    (fig, _), = drawn
    assert len(fig.axes) == 3  # one row (the fixed net has no meta-neurons), three neurons
    rec = next(r for r in records if r.spec["tags"]["row"] == "meta-neurons" and r.spec["tags"]["column"] == col)
    seen = rec.preactivations["input_range"]["net.2"]
    for k, ax in enumerate(fig.axes):
        (line,) = ax.lines
        x, y = line.get_xdata(), line.get_ydata()
        assert (x[0], x[-1]) == pytest.approx((seen["min"][k], seen["max"][k]), rel=1e-6)
        assert ax.get_title().startswith(f"meta-neurons, seed 0: neuron {k + 1}")
        r2 = float(ax.get_title().split("R^2 = ")[1])
        assert 0 <= r2 <= 1
    from adaptact.report.figures_davis import linearity

    assert linearity(np.arange(5.0), 3 * np.arange(5.0) - 1) == pytest.approx(1.0)
    assert linearity(np.linspace(-1, 1, 101), np.abs(np.linspace(-1, 1, 101))) < 0.1


# ----------------------------------------------------------------------------- PAU Fig. 3


def test_rpau_band_holds_every_noisy_function_and_reaches_its_corners():
    from adaptact import functional as AF
    from adaptact.fit import initial_coefficients

    a, b = (torch.tensor(c, dtype=torch.float64) for c in initial_coefficients("leaky_relu", (5, 4), "A"))
    x = torch.linspace(-3, 3, 61, dtype=torch.float64)
    delta = 0.1
    for form in ("A", "B"):
        low, high = rpau_band(x.numpy(), a.numpy(), b.numpy(), delta, form)
        clean = AF.pau(x, a, b, form).numpy()
        assert np.all(low <= clean + 1e-12) and np.all(clean <= high + 1e-12)
        g = torch.Generator().manual_seed(0)
        for _ in range(20):
            ua, ub = AF.rpau_noise(x, a, b, delta, generator=g)
            y = AF.rpau(x, a, b, ua, ub, form).numpy()
            assert np.all(low - 1e-12 <= y) and np.all(y <= high + 1e-12)
        assert np.all(high - low > 0)
    # form A's upper corner at x > 0 where P > 0: every numerator term up by delta, the denominator down
    xp = x[x > 0.5]
    terms = a * xp[:, None] ** torch.arange(6)
    ua = (delta * torch.sign(terms)).to(torch.float64)
    ub = torch.full((len(xp), 4), -delta, dtype=torch.float64)
    corner = AF.rpau(xp, a, b, ua, ub, "A").numpy()
    assert corner == pytest.approx(rpau_band(xp.numpy(), a.numpy(), b.numpy(), delta, "A")[1])
    with pytest.raises(ValueError, match="0 <= delta < 1"):
        rpau_band(x.numpy(), a.numpy(), b.numpy(), 1.5)
    with pytest.raises(ValueError, match="1-D coefficients"):
        rpau_band(x.numpy(), a[None].numpy(), b.numpy(), 0.01)


def test_pau_fig3_learned_pau_and_rpau_with_the_noise_band(tmp_path, drawn, fake_root):
    exp = get_experiment("pau-mnist-fmnist")
    records = tiny_records(exp.name, [("PAU", "MNIST LeNet"), ("RPAU", "MNIST LeNet"), ("ReLU", "MNIST LeNet")], 1,
                           fake_root)
    (path,) = plots.FIGURES["pau-fig3"](exp, records, tmp_path)
    assert path.name == "pau-mnist-fmnist-fig3-mnist-lenet.png" and path.exists()
    (fig, _), = drawn
    layers = len(next(r for r in records if r.spec["act"] == "pau").final_activations)
    assert len(fig.axes) == layers
    for ax in fig.axes:
        labels = [line.get_label() for line in _lines(ax)]
        assert labels == ["PAU learned", "RPAU learned", "initial (leaky_relu)"]
        (band,) = ax.collections
        assert band.get_label() == "RPAU noise band (delta 0.01)"
        rpau_line = _lines(ax)[1]
        edges = band.get_paths()[0].vertices[:, 1]
        assert edges.min() <= rpau_line.get_ydata().min() and rpau_line.get_ydata().max() <= edges.max()


# ----------------------------------------------------------------------------- ABU Fig. 2B and the spread


@pytest.mark.slow
def test_abu_fig2b_alpha_weight_variance_and_preactivation_variance(tmp_path, drawn, fake_root):
    exp = get_experiment("abu-table1")
    col = "SMCN Adam C10"
    records = tiny_records(exp.name, [("tanh", col), ("αtanh", col)], 2, fake_root, steps=3, profile="medium",
                           record_every=1, selection="final")
    (path,) = plots.FIGURES["abu-fig2b"](exp, records, tmp_path)
    assert path.name == "abu-table1-fig2b-smcn-adam-c10.png" and path.exists()
    (fig, _), = drawn
    assert [ax.get_title() for ax in fig.axes] == ["tanh (2 run(s))", "αtanh (2 run(s))"]
    for ax in fig.axes:
        lines = _lines(ax)
        assert [line.get_color() for line in lines] == ["magenta", "tab:blue", "tab:orange"]
        assert [line.get_label().split(" (")[0] for line in lines] == [
            "alpha of classifier.1", "Var(W_dense2)", "Var(dense2 pre-activations)"]
        assert len(ax.collections) == 3 and ax.get_yscale() == "log"
    assert np.all(_lines(fig.axes[0])[0].get_ydata() == 1.0)  # tanh: no scaling
    scaled = [r for r in records if r.spec["act"] == "scaled_tanh"]
    alpha = np.mean([r.activations["units"]["classifier.1"]["alpha"] for r in scaled], axis=0)
    assert np.allclose(_lines(fig.axes[1])[0].get_ydata(), alpha)
    weight = np.mean([r.preactivations["layers"]["classifier.3"]["weight_var"] for r in scaled], axis=0)
    assert np.allclose(_lines(fig.axes[1])[1].get_ydata(), weight)
    assert len(_lines(fig.axes[1])[0].get_xdata()) == 4  # steps 0..3


def test_abu_spread_table_is_the_mean_over_layers_of_the_sd_over_runs(tmp_path):
    exp = get_experiment("abu-table1")
    col = "SMCN Adam C10"
    alphas = {0: (0.5, 0.8), 1: (0.6, 0.8), 2: (0.7, 0.9)}  # layers' final alpha per seed
    weights = {0: [0.1, 0.2, 0.7], 1: [0.2, 0.2, 0.6], 2: [0.3, 0.2, 0.5]}
    records = [made("αReLU", col, s, final_activations={"l1": {"alpha": a1}, "l2": {"alpha": a2}})
               for s, (a1, a2) in alphas.items()]
    records += [made("ABU", col, s, final_activations={"l1": {"weight": w, "effective_weights": w}})
                for s, w in weights.items()]
    records.append(made("ReLU", col, 0))
    text = parameter_spread_markdown(exp, records)
    expected_alpha = np.mean([np.std([0.5, 0.6, 0.7], ddof=1), np.std([0.8, 0.8, 0.9], ddof=1)])
    expected_blend = np.mean(np.std(np.array(list(weights.values())), axis=0, ddof=1))
    assert f"| {col} | αReLU | alpha | 3 | 2 | {expected_alpha:.4f} |" in text
    assert f"| {col} | ABU | blend weights | 3 | 1 | {expected_blend:.4f} |" in text
    assert text.index("αReLU") < text.index("| ABU")  # the experiment's row order
    assert "ReLU | alpha" not in text.replace("αReLU", "")
    (path,) = plots.FIGURES["abu-spread"](exp, records, tmp_path)
    assert path.read_text() == text and "0.023" in text and "0.010" in text
    assert plots.FIGURES["abu-spread"](exp, records[:1], tmp_path / "none") == []  # one run: no spread
    # and the same table in report.md, after the tests (an experiment without abu-spread gets none)
    from adaptact.report.tables import report_sections

    assert report_sections(exp, records) == [text]
    assert report_sections(get_experiment("pau-mnist-fmnist"), records) == []
