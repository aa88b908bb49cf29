"""A user's own model, data and experiment: registered in Python or named by import path, trained by the
CLI and by Python, reproduced from the user's file, reported and plotted without that file."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from adaptact import data as aa_data
from adaptact import models as aa_models
from adaptact.experiments import Column, Experiment, Profile, Row, get_experiment
from adaptact.experiments.stored import experiment_from_dict, experiment_to_dict
from adaptact.train import RunSpec, run

SRC = str(Path(__file__).resolve().parents[1] / "src")

NETS = '''
import torch
from torch import nn
import adaptact as aa

CALLS = []

def make_net(*, act, in_channels, num_classes, input_size, vocab_size, hidden=16):
    """A user's MLP over flattened inputs."""
    CALLS.append(dict(act=act, in_channels=in_channels, num_classes=num_classes, input_size=input_size,
                      vocab_size=vocab_size))
    return nn.Sequential(nn.Flatten(), nn.LazyLinear(hidden), aa.create(act), nn.Linear(hidden, num_classes))
'''

DATA = '''
import torch

def load(*, n: int = 120, features: int = 6):
    """Two Gaussian blobs (a user's loader returning tensors)."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 2
    x = torch.randn(n, features, generator=g) + 2.0 * y[:, None]
    return x[: n * 3 // 4], y[: n * 3 // 4], x[n * 3 // 4 :], y[n * 3 // 4 :]

class Blobs(torch.utils.data.Dataset):
    def __init__(self, n):
        g = torch.Generator().manual_seed(n)
        self.y = torch.arange(n) % 3
        self.x = torch.randn(n, 1, 4, 4, generator=g) + self.y[:, None, None, None].float()
    def __len__(self):
        return len(self.y)
    def __getitem__(self, i):
        return self.x[i], int(self.y[i])

def load_datasets():
    return {"train": Blobs(60), "test": Blobs(30), "classes": ["a", "b", "c"]}
'''

EXPERIMENT = '''
from adaptact.experiments import Column, Experiment, Profile, Row

EXPERIMENT = Experiment(
    name="my-blobs",
    title="my units on my blobs",
    paper="mine",
    source="my notebook",
    rows=[Row("ReLU", {"act": "relu"}), Row("PAU", {"act": "pau"}, baseline="ReLU")],
    columns=[Column("blobs", {"data": "my_pkg.data:load"})],
    base={"model": "my_pkg.nets:make_net", "optimizer": "adam", "lr": 0.01, "batch_size": 30,
          "record_every": 2, "device": "cpu"},
    profiles={"quick": Profile("quick", {"steps": 6}, seeds=2)},
    figures=("curves",),
)
'''


@pytest.fixture(autouse=True)
def clean_registries():
    """Registrations made by a test are undone after it."""
    from adaptact.data import catalog

    saved = dict(aa_models._USER_MODELS), dict(catalog._USER)
    yield
    for table, before in zip((aa_models._USER_MODELS, catalog._USER), saved):
        table.clear()
        table.update(before)


@pytest.fixture
def user_pkg(tmp_path, monkeypatch):
    pkg = tmp_path / "my_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "nets.py").write_text(NETS)
    (pkg / "data.py").write_text(DATA)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    for name in [m for m in sys.modules if m == "my_pkg" or m.startswith("my_pkg.")]:
        del sys.modules[name]


def _cli(args, cwd, timeout=240):
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run([sys.executable, "-m", "adaptact.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_import_path_model_and_data_train_from_python(user_pkg):
    spec = RunSpec(model="my_pkg.nets:make_net", data="my_pkg.data:load", act="pau", steps=4, batch_size=30,
                   lr=0.01, device="cpu", data_options={"n": 80})
    record = run(spec)
    assert record.status == "ok", record.error
    assert record.data["num_classes"] == 2 and record.data["input_shape"] == [6]
    from my_pkg import nets

    # the factory got the activation and the data signature, as the built-ins do
    assert nets.CALLS[-1] == {"act": "pau", "in_channels": 1, "num_classes": 2, "input_size": None,
                              "vocab_size": None}
    assert record.final_activations  # the PAU unit inside the user's model was found and recorded


def test_registered_model_and_dataset_of_torch_datasets(user_pkg):
    from my_pkg import data, nets

    aa_models.register_model("user-mlp", nets.make_net)
    aa_data.register_dataset("user-blobs", data.load_datasets, normalization="none")
    assert "user-mlp" in aa_models.list_models() and "user-blobs" in aa_data.list_datasets()
    d = aa_data.load("user-blobs")
    assert d.classes == ["a", "b", "c"] and d.input_shape == (1, 4, 4) and len(d.y_train) == 60
    record = run(RunSpec(model="user-mlp", data="user-blobs", steps=3, batch_size=20, device="cpu"))
    assert record.status == "ok", record.error
    assert nets.CALLS[-1]["in_channels"] == 1 and nets.CALLS[-1]["input_size"] == 4


def test_registration_refuses_builtin_names_and_bad_loaders():
    with pytest.raises(ValueError, match="'lenet' is a built-in architecture"):
        aa_models.register_model("lenet", lambda **kw: None)
    with pytest.raises(ValueError, match="'mnist' is built in"):
        aa_data.register_dataset("mnist", lambda: None)
    aa_data.register_dataset("user-bad", lambda: {"train": 1})
    with pytest.raises(ValueError, match="needs 'train' and 'test', missing \\['test'\\]"):
        aa_data.load("user-bad")
    aa_data.register_dataset("user-bad-labels", lambda: (torch.zeros(4, 2), torch.tensor([0.5, 1, 0, 1]),
                                                          torch.zeros(2, 2), torch.tensor([0, 1])))
    with pytest.raises(ValueError, match="labels must be integers"):
        aa_data.load("user-bad-labels")
    with pytest.raises(ValueError, match="cannot import module 'no_such_pkg.nets'"):
        aa_models.model_info("no_such_pkg.nets:make")


def test_csv_loader(tmp_path):
    rows = ["a,b,kind"] + [f"{i},{i % 3 * 1.5},{'cat' if i % 2 else 'dog'}" for i in range(20)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    d = aa_data.load("csv", tmp_path, train="t.csv", label="kind", test_fraction=0.25, normalization="none")
    assert d.classes == ["cat", "dog"] and d.input_shape == (2,) and len(d.y_test) == 5 and len(d.y_train) == 15
    x = torch.cat([d.x_train, d.x_test])
    y = torch.cat([d.y_train, d.y_test])
    assert torch.equal(y, (x[:, 0] % 2 == 0).long())  # each row keeps its own label ('dog' = 1 for even a)
    (tmp_path / "bad.csv").write_text("a,label\n1,0\nx,1\n")
    with pytest.raises(aa_data.DataError, match="bad.csv, line 3: a feature is not a number"):
        aa_data.load("csv", tmp_path, train="bad.csv")


def test_image_folder_loader(tmp_path):
    PIL = pytest.importorskip("PIL.Image")
    for split, n in (("train", 3), ("test", 2)):
        for c, shade in (("dark", 20), ("light", 230)):
            (tmp_path / split / c).mkdir(parents=True)
            for i in range(n):
                PIL.fromarray(np.full((5, 7, 3), shade + i, dtype=np.uint8)).save(tmp_path / split / c / f"{i}.png")
    d = aa_data.load("image-folder", tmp_path, normalization="unit", cache_dir=False)
    assert d.classes == ["dark", "light"] and d.input_shape == (3, 5, 7) and len(d.y_train) == 6
    bright = d.x_train.mean(dim=(1, 2, 3)) > 0.5
    assert torch.equal(bright, d.y_train == 1)


def _tiny_experiment(derive=None) -> Experiment:
    rows = [Row("ReLU", {"act": "relu"}), Row("PAU", {"act": "pau"}, baseline="ReLU")]
    if derive is not None:
        rows.append(Row("derived", {}, derive=derive))
    return Experiment("tiny-stored", "t", "p", "s", rows, [Column("digits", {"data": "digits"})],
                      {"quick": Profile("quick", {"steps": 2}, seeds=2, checks=(lambda *a: None,))},
                      base={"model": "mlp", "device": "cpu"})


def test_stored_definition_round_trip_plans_the_same_runs_and_says_what_is_lost():
    exp = _tiny_experiment(derive=lambda cell, lookup: None)
    planned, _ = exp.plan("quick")
    d = json.loads(json.dumps(experiment_to_dict(exp, "quick", 2, {}, planned)))
    assert d["lost"] == ["row 'derived': derive function", "profile 'quick': 1 check(s)"]
    back = experiment_from_dict(d)
    again, waiting = back.plan("quick", 2, {})
    assert waiting == [] and [(c, s.key()) for c, s in again] == [(c, s.key()) for c, s in planned]
    assert [r.label for r in back.rows] == ["ReLU", "PAU", "derived"] and back.row("PAU").baseline == "ReLU"
    # a later version hashing specs differently still finds the records under the stored keys
    d["planned"]["quick"]["cells"][0]["key"] = "k" * 16
    assert experiment_from_dict(d).plan("quick")[0][0][1].key() == "k" * 16
    with pytest.raises(ValueError, match="planned 2 seeds"):
        back.plan("quick", 3)
    with pytest.raises(ValueError, match="not a stored experiment definition of format 1"):
        experiment_from_dict({**d, "format": 99})


def test_a_folder_reports_with_the_live_experiment_while_its_plan_matches_else_with_the_stored_one(tmp_path):
    """The live definition (with its checks and derive functions) is used whenever it plans the runs the
    folder stored; the stored one (no code) when the experiment is not known here or has changed."""
    from adaptact.experiments import _USER, reproduce
    from adaptact.experiments.checks import finite_everywhere
    from adaptact.experiments.runner import read_manifest
    from adaptact.report import write_report
    from adaptact.report.collect import experiment_for

    exp = _tiny_experiment()
    exp.profiles["quick"] = Profile("quick", {"steps": 2}, seeds=2, checks=(finite_everywhere(),))
    out = tmp_path / "out"
    try:
        reproduce(exp, "quick", out=out, workers=1, progress=False)
        info = read_manifest(out)["experiments"][exp.name]
        assert experiment_for(out, exp.name, info) is exp
        write_report(out)
        assert "✔ holds: no NaN" in (out / "report.md").read_text()
        changed = _tiny_experiment()
        changed.profiles["quick"] = Profile("quick", {"steps": 3}, seeds=2)  # plans other runs
        _USER[exp.name] = changed
        assert type(experiment_for(out, exp.name, info)).__name__ == "StoredExperiment"
    finally:
        _USER.pop(exp.name, None)
    stored = experiment_for(out, exp.name, info)  # not known in this process at all
    assert type(stored).__name__ == "StoredExperiment" and stored.profiles["quick"].checks == ()


@pytest.mark.slow
def test_cli_trains_import_path_model_and_data(user_pkg):
    done = _cli(["train", "--model", "my_pkg.nets:make_net", "--data", "my_pkg.data:load", "--act", "swish_beta",
                 "--steps", "3", "--batch-size", "30", "--device", "cpu", "--out", "rec.json", "--quiet"], user_pkg)
    assert done.returncode == 0, done.stderr
    record = json.loads((user_pkg / "rec.json").read_text())
    assert record["status"] == "ok" and record["spec"]["model"] == "my_pkg.nets:make_net"
    bad = _cli(["train", "--model", "my_pkg.nets:nope", "--data", "digits", "--steps", "1"], user_pkg)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].endswith("module 'my_pkg.nets' has no attribute 'nope'")


@pytest.mark.slow
def test_user_experiment_file_reproduced_then_reported_and_plotted_without_its_code(user_pkg):
    (user_pkg / "my_experiment.py").write_text(EXPERIMENT)
    done = _cli(["reproduce", "my_experiment.py", "--workers", "2", "--out", "res", "--quiet"], user_pkg)
    assert done.returncode == 0, done.stderr
    assert len(list((user_pkg / "res" / "records").glob("*.json"))) == 4
    stored = json.loads((user_pkg / "res" / "experiments" / "my-blobs.json").read_text())
    assert stored["name"] == "my-blobs" and len(stored["planned"]["quick"]["cells"]) == 4
    report_before = (user_pkg / "res" / "report.md").read_text()
    # the user's code is gone: a fresh process reports and plots from the stored definition
    elsewhere = user_pkg / "elsewhere"
    elsewhere.mkdir()
    (user_pkg / "my_experiment.py").rename(elsewhere / "my_experiment.py")
    (user_pkg / "my_pkg").rename(elsewhere / "my_pkg")
    (user_pkg / "res" / "report.md").unlink()
    report = _cli(["report", str(user_pkg / "res")], elsewhere.parent / "res")
    assert report.returncode == 0, report.stderr
    text = (user_pkg / "res" / "report.md").read_text()
    assert "my units on my blobs" in text and "PAU" in text
    assert text.split("\n", 3)[3] == report_before.split("\n", 3)[3]  # the same tables as with the code
    plot = _cli(["plot", str(user_pkg / "res")], user_pkg / "res")
    assert plot.returncode == 0, plot.stderr
    assert list((user_pkg / "res" / "figures").glob("*.png"))


@pytest.mark.slow
def test_script_without_main_guard_runs_a_sweep_with_two_workers(tmp_path):
    script = tmp_path / "sweep.py"
    script.write_text(textwrap.dedent('''
        from adaptact.experiments import Column, Experiment, Profile, Row, reproduce
        print("script body runs")
        EXP = Experiment("guardless", "t", "p", "s", [Row("ReLU", {"act": "relu"}), Row("Tanh", {"act": "tanh"})],
                         [Column("digits", {"data": "digits"})], {"quick": Profile("quick", {"steps": 2}, seeds=2)},
                         base={"model": "mlp", "device": "cpu"})
        summary = reproduce(EXP, workers=2, out="out", progress=False)
        print("ran", summary.ran)
    '''))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env={**os.environ, "PYTHONPATH": SRC},
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("script body runs") == 1  # the workers did not run the script again
    assert "ran 4" in done.stdout
