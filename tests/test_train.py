"""The training engine: one run on the embedded digits data, determinism, selection, recorders, errors."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from adaptact.cli import main as cli
from adaptact.train import RunRecord, RunSpec, run
from adaptact.train.selection import centred_moving_mean, posthoc_checkpoint, smoothing_window


def digits_spec(**changes) -> RunSpec:
    base = dict(model="mlp", data="digits", act="relu", model_options={"hidden": [32]}, epochs=3,
                batch_size=64, lr=3e-3, device="cpu")
    return RunSpec(**{**base, **changes})


def test_one_run_on_digits_learns_and_records_everything():
    rec = run(digits_spec(act="pau", record_every=10, eval_train=True))
    assert rec.status == "ok", rec.error
    m = rec.metrics
    assert m["test_accuracy"] > 0.85
    assert m["test_accuracy"] == m["final_test_accuracy"] == rec.curves["test_accuracy"][-1]
    assert len(rec.curves["step"]) == 3 and rec.curves["epoch"][-1] == pytest.approx(3)
    assert rec.throughput > 0 and rec.wall_time > 0
    assert rec.environment["torch"] == torch.__version__ and rec.environment["device"] == "cpu"
    # activation parameters over training: one entry per record step, for the one PAU
    hist = rec.activations
    assert hist["steps"][0] == 0 and hist["steps"][-1] == m["steps"]
    assert len(hist["units"]["net.2"]["numerator"]) == len(hist["steps"])
    assert hist["units"]["net.2"]["numerator"][0] != hist["units"]["net.2"]["numerator"][-1]
    assert rec.final_activations["net.2"]["numerator"] == hist["units"]["net.2"]["numerator"][-1]
    json.dumps(rec.to_dict())  # serialisable


def test_two_seeds_repeat_bit_for_bit_on_cpu():
    def both():
        return [run(digits_spec(act="abu", seed=s, epochs=1, record_every=5)) for s in (0, 1)]

    first, second = both(), both()
    for a, b in zip(first, second):
        assert a.metrics == b.metrics
        assert a.curves == b.curves
        assert a.activations == b.activations
        assert a.final_activations == b.final_activations
    assert first[0].final_activations != first[1].final_activations  # seeds differ


def test_preactivation_statistics_of_fixed_activations_too():
    rec = run(digits_spec(act="tanh", record_every=5, record_preact=True, epochs=1))
    assert len(rec.preactivations["layers"]["net.2"]["var"]) == len(rec.preactivations["steps"])


def test_preactivation_statistics_are_recorded():
    rec = run(digits_spec(act="scaled_tanh", record_every=5, record_preact=True, epochs=1,
                          data_options={"val_size": 200}))
    layers = rec.preactivations["layers"]
    assert set(layers["net.2"]) == {"mean", "var"}
    assert len(layers["net.2"]["var"]) == len(rec.preactivations["steps"])
    assert "weight_var" in layers["net.1"]


def test_best_test_selection_reports_the_maximum():
    rec = run(digits_spec(selection="best_test", eval_every=5, epochs=2))
    assert rec.metrics["test_accuracy"] == max(rec.curves["test_accuracy"])
    i = rec.curves["test_accuracy"].index(rec.metrics["test_accuracy"])
    assert rec.metrics["selected_step"] == rec.curves["step"][i]


def test_posthoc_selection_picks_a_checkpoint():
    rec = run(digits_spec(selection="posthoc", eval_every=2, checkpoint_every=10, epochs=2,
                          data_options={"val_size": 200}))
    assert rec.metrics["selected_step"] % 10 == 0 or rec.metrics["selected_step"] == rec.metrics["steps"]
    assert 0 < rec.metrics["test_accuracy"] <= 1


def test_centred_moving_mean_and_posthoc_rule():
    y = np.array([0.0, 0, 3, 0, 0])
    np.testing.assert_allclose(centred_moving_mean(y, 3, passes=1), [0, 1, 1, 1, 0])
    assert smoothing_window(60_000) == 2000 and smoothing_window(1000) == 500
    steps = list(range(20, 2001, 20))
    acc = [0.5 + 0.3 * math.sin(s / 2000 * math.pi) for s in steps]  # peaks at step 1000
    assert posthoc_checkpoint(steps, acc, [500, 1000, 1500, 2000], 2000) == 1000


def test_frozen_activation_parameters_stay_bit_exact():
    source = run(digits_spec(act="abu", epochs=1))
    rec = run(digits_spec(act="abu", epochs=1, seed=1, act_trainable=False,
                          act_init={"record": source.final_activations}))
    assert rec.final_activations == {
        u: {k: v for k, v in p.items()} for u, p in source.final_activations.items()
    }


def test_act_init_normalises_blend_weights():
    source = run(digits_spec(act="abu", epochs=1))
    rec = run(digits_spec(act="abu", steps=1, act_trainable=False,
                          act_init={"record": source.final_activations, "normalize": True}))
    raw = np.array(source.final_activations["net.2"]["weight"])
    weights = np.array(rec.final_activations["net.2"]["weight"])
    assert weights.sum() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(weights, raw / raw.sum(), rtol=1e-6)


def test_linear_schedule_reaches_the_final_rate():
    rec = run(digits_spec(optimizer="sgd", lr=0.05, schedule="linear", schedule_options={"final_lr": 0.002},
                          eval_every=1, steps=30))
    assert rec.curves["lr"][0] < 0.05 and rec.curves["lr"][-1] == pytest.approx(0.002)


def test_bce_on_the_teacher_data():
    rec = run(RunSpec(model="mlp", data="teacher", act="agumbel", loss="bce", epochs=2, batch_size=20,
                      optimizer="sgd", lr=0.05, momentum=0.0, l1=1e-3, l2=1e-3, device="cpu",
                      model_options={"hidden": [10], "init": "lecun"},
                      data_options={"samples": 2000, "hidden_layers": 1, "activation": "relu"}))
    assert rec.status == "ok" and rec.metrics["test_accuracy"] > 0.6


def test_non_finite_loss_stops_the_run_and_names_the_unit():
    source = run(digits_spec(act="pau", steps=1))
    bad = json.loads(json.dumps(source.final_activations))
    bad["net.2"]["denominator"][0] = float("nan")
    rec = run(digits_spec(act="pau", act_init={"record": bad}))
    assert rec.status == "diverged"
    assert "step 1" in rec.error and "net.2" in rec.error and "denominator" in rec.error
    assert rec.metrics == {}


def test_divergence_from_a_huge_learning_rate_is_reported():
    rec = run(digits_spec(act="slaf", optimizer="sgd", lr=1e6, momentum=0.0))
    assert rec.status == "diverged" and rec.error.startswith("step ")
    assert rec.metrics == {}


@pytest.mark.parametrize("changes,match", [
    ({"model": "lenett"}, "unknown model"),
    ({"data": "imagenett"}, "unknown data set"),
    ({"act": "paux"}, "unknown activation"),
    ({"model": "sentence_cnn", "act": "maxout", "data": "rt-polarity"}, "maxout"),
    ({"act": {"act_conv": "relu"}}, "activation arguments"),
    ({"optimizer": "rmsprop"}, "optimizer"),
    ({"epochs": None}, "give epochs or steps"),
    ({"selection": "posthoc"}, "validation split"),
    ({"schedule": "linear"}, "final_lr"),
    ({"device": "tpu"}, "device"),
])
def test_bad_specs_are_rejected_before_training(changes, match):
    with pytest.raises(ValueError, match=match):
        run(digits_spec(**changes))


def test_missing_data_dir_is_rejected_with_a_clear_message(tmp_path):
    with pytest.raises(ValueError, match="mnist") as err:
        run(RunSpec(model="lenet", data="mnist", data_dir=str(tmp_path / "nowhere"), device="cpu"))
    assert "ADAPTACT_DATA" in str(err.value) or "--data-dir" in str(err.value)


def test_model_and_data_must_fit():
    with pytest.raises(ValueError, match="token ids"):
        run(RunSpec(model="sentence_cnn", data="digits", act="relu", device="cpu"))


def test_spec_identity_ignores_location_and_tags():
    a = digits_spec(data_dir="/a", tags={"row": "x"})
    b = digits_spec(data_dir="/b", tags={"row": "y"})
    assert a.key() == b.key()
    assert a.key() != digits_spec(seed=1).key()
    assert RunSpec.from_dict(a.to_dict()) == a
    with pytest.raises(ValueError, match="unknown run spec field"):
        RunSpec.from_dict({"modle": "lenet"})


def test_cli_train_writes_a_record(tmp_path, capsys):
    out = tmp_path / "rec.json"
    code = cli(["train", "--model", "mlp", "--data", "digits", "--act", "agumbel", "--epochs", "1",
                "--model-option", "hidden=[16]", "--quiet", "--out", str(out), "--device", "cpu"])
    assert code == 0
    rec = RunRecord.load(out)
    assert rec.status == "ok" and rec.spec["act"] == "agumbel"
    assert "test accuracy" in capsys.readouterr().out


def test_cli_train_rejects_a_bad_spec(capsys):
    assert cli(["train", "--model", "lenet", "--data", "digits", "--act", "nope", "--quiet"]) == 2
    assert "unknown activation" in capsys.readouterr().err


def test_adadelta_with_max_norm_keeps_the_last_layer_rows_bounded():
    rec = run(digits_spec(optimizer="adadelta", lr=1.0, max_norm=3.0, epochs=5))
    assert rec.status == "ok" and rec.metrics["test_accuracy"] > 0.9
    from adaptact.train.optim import apply_max_norm

    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 5))
    with torch.no_grad():
        model[2].weight.mul_(100)
    apply_max_norm(model, 3.0)
    assert torch.all(model[2].weight.norm(dim=1) <= 3.0 + 1e-5)
    assert model[0].weight.norm(dim=1).max() < 3.0  # only the last linear layer is constrained


def test_a_spec_at_its_defaults_and_one_spelled_out_share_their_identity():
    assert RunSpec().key() == RunSpec(lr=RunSpec().lr, batch_size=64).key()
    assert RunSpec().key() != RunSpec(lr=0.5).key()
