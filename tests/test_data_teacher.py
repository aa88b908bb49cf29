"""Synthetic teacher-network data (Farhadi et al.): deterministic, balanced as recorded, learnable."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from adaptact import data
from adaptact.data.splits import seeded
from adaptact.data.teacher import make_teacher


def test_deterministic_per_seed():
    a = data.load("teacher", samples=2000)
    b = data.load("teacher", samples=2000)
    c = data.load("teacher", samples=2000, teacher_seed=1)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, c.x_train)
    assert torch.equal(data.load("teacher", samples=2000, seed=9).x_train, a.x_train)  # seed: splits only


def test_shapes_split_and_balance_recorded():
    d = data.load("teacher", samples=1000, features=7, hidden_layers=3, activation="relu")
    assert d.x_train.shape == (800, 7) and d.x_test.shape == (200, 7) and d.input_shape == (7,)
    assert d.x_train.dtype == torch.float32 and d.num_classes == 2
    y = torch.cat([d.y_train, d.y_test]).double()
    assert d.meta["positive_fraction"] == pytest.approx(float(y.mean()))
    assert 0 < d.meta["positive_fraction"] < 1
    assert d.meta["hidden_layers"] == 3 and d.meta["normalization"]["mode"] == "none"
    assert d.meta["class_counts"]["test"][1] == int(d.y_test.sum())


def test_folds_partition_the_samples():
    tests = [data.load("teacher", samples=500, folds=5, fold=k).x_test for k in range(5)]
    rows = {tuple(r) for t in tests for r in t.tolist()}
    assert len(rows) == 500


def test_weights_follow_the_mixture():
    t = make_teacher(features=200, hidden_layers=1, width=200, generator=seeded(0, "teacher"))
    w = t.weights[0].flatten()
    assert abs(float((w > 0).double().mean()) - 0.5) < 0.02 and abs(float(w.mean())) < 0.02
    assert float(w.var()) == pytest.approx(1 + 0.5, rel=0.03)  # mixture: 1 (the +-1 means) + 0.5
    assert float(((w - w.sign()) ** 2).mean()) < 0.5  # most mass near +-1, not near 0
    assert float(t.biases[0].var()) == pytest.approx(0.5, rel=0.3)
    sd = make_teacher(features=200, width=200, variance_is_sd=True, generator=seeded(0, "teacher"))
    assert float(sd.weights[0].var()) == pytest.approx(1 + 0.25, rel=0.03)


def test_one_hidden_layer_labels_are_learnable():
    from sklearn.linear_model import LogisticRegression

    d = data.load("teacher", samples=4000)
    assert 0 < int(d.y_train.sum()) < len(d.y_train)  # not constant
    teacher = make_teacher(generator=seeded(0, "teacher"))
    h_train, h_test = teacher.hidden(d.x_train).numpy(), teacher.hidden(d.x_test).numpy()
    model = LogisticRegression(C=1e4, max_iter=5000).fit(h_train, d.y_train.numpy())
    assert model.score(h_test, d.y_test.numpy()) > 0.97
    assert np.array_equal(teacher.output(d.x_test).numpy() > 0, d.y_test.numpy() == 1)


def test_bernoulli_labels_are_noisier():
    threshold = data.load("teacher", samples=3000, folds=2)
    bernoulli = data.load("teacher", samples=3000, folds=2, label="bernoulli")
    teacher = make_teacher(generator=seeded(0, "teacher"))
    same_x = torch.equal(torch.cat([threshold.x_train, threshold.x_test]).sort(0).values,
                         torch.cat([bernoulli.x_train, bernoulli.x_test]).sort(0).values)
    assert same_x  # the same inputs; only the labels differ
    agree = float(((teacher.output(bernoulli.x_train) > 0).long() == bernoulli.y_train).double().mean())
    assert 0.5 < agree < 1.0


def test_deep_teachers_can_be_degenerate_and_median_labels_balance_them():
    deep = data.load("teacher", samples=2000, hidden_layers=8)
    assert deep.meta["positive_fraction"] in (0.0, 1.0)  # seed 0: one class only under the threshold rule
    balanced = data.load("teacher", samples=2000, hidden_layers=8, label="median")
    assert balanced.meta["positive_fraction"] == 0.5


@pytest.mark.parametrize("kwargs,pattern", [
    ({"activation": "tanh"}, "activation must be one of sigmoid, relu"),
    ({"label": "soft"}, "label must be one of threshold, bernoulli, median"),
    ({"hidden_layers": 0}, "hidden_layers must be an int >= 1"),
    ({"samples": 1}, "samples must be an int >= 2"),
])
def test_bad_options(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        data.load("teacher", **kwargs)
