"""replace_activations, activation_parameters, param_groups and lazy per-channel units in real models."""
from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import adaptact as aa
from adaptact.units import PAU, AdaptiveGumbel, Blend


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 10),
    )


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3))


def train_steps(model, x, y, steps=30, lr=1e-2):
    opt = torch.optim.Adam(aa.param_groups(model), lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("name", ["pau", "abu", "adact", "agumbel", "apl"])
def test_replace_in_a_cnn_trains_and_exposes_exactly_the_new_parameters(name):
    torch.manual_seed(0)
    model = small_cnn()
    old = set(map(id, model.parameters()))
    returned = aa.replace_activations(model, name)
    assert returned is model
    assert not any(isinstance(m, nn.ReLU) for m in model.modules())
    new_units = [m for m in model.modules() if isinstance(m, aa.ActivationUnit)]
    assert len(new_units) == 2
    act = aa.activation_parameters(model)
    assert {id(p) for p in act} == {id(p) for u in new_units for p in u.parameters()}
    assert not ({id(p) for p in act} & old)
    before = [p.detach().clone() for p in act]
    x, y = torch.randn(32, 1, 8, 8), torch.randint(0, 10, (32,))
    losses = train_steps(model, x, y, steps=80)
    assert losses[-1] < 0.8 * losses[0]  # memorising 32 random labels
    assert any(not torch.equal(b, p) for b, p in zip(before, act)), "activation parameters did not train"


@pytest.mark.parametrize("name,count", [("swish_beta", 2), ("vaf", 8), ("rpau", 4)])
def test_replace_in_an_mlp_swaps_gelu_and_tanh(name, count):
    torch.manual_seed(0)
    model = aa.replace_activations(mlp(), name)
    units = [m for m in model.modules() if isinstance(m, aa.ActivationUnit)]
    assert len(units) == 2
    assert len(aa.activation_parameters(model)) == count
    losses = train_steps(model, torch.randn(64, 8), torch.randint(0, 3, (64,)), steps=60)
    assert losses[-1] < 0.8 * losses[0]


def test_metaneurons_train_in_an_mlp():
    """Meta-neurons with sigmoid inside start nearly flat (slope <= |W1||v|/64), so they learn slowly."""
    torch.manual_seed(0)
    model = aa.replace_activations(mlp(), "metaneuron", num_features="lazy")
    x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    model(x)
    before = [p.detach().clone() for p in aa.activation_parameters(model)]
    losses = train_steps(model, x, y, steps=100)
    assert losses[-1] < losses[0] - 0.01
    assert all(not torch.equal(b, p) for b, p in zip(before, aa.activation_parameters(model)))


def test_targets_select_which_modules_are_swapped():
    model = aa.replace_activations(mlp(), "pau", targets=["gelu"])
    assert isinstance(model[1], PAU) and isinstance(model[3], nn.Tanh)
    model = aa.replace_activations(mlp(), "pau", targets=[nn.Tanh])
    assert isinstance(model[1], nn.GELU) and isinstance(model[3], PAU)
    with pytest.raises(ValueError, match="targets"):
        aa.replace_activations(mlp(), "pau", targets=["pau"])


def test_options_reach_every_new_unit_and_units_are_independent():
    model = aa.replace_activations(mlp(), "abu", normalization="softmax")
    units = [m for m in model.modules() if isinstance(m, Blend)]
    assert all(u.normalization == "softmax" for u in units)
    assert units[0].weight is not units[1].weight


def test_lazy_per_channel_units_learn_their_channel_count():
    model = aa.replace_activations(small_cnn(), "agumbel", num_features="lazy")
    opt = torch.optim.SGD(aa.activation_parameters(model), lr=0.1)  # built before the first batch
    model(torch.randn(2, 1, 8, 8))
    units = [m for m in model.modules() if isinstance(m, AdaptiveGumbel)]
    assert [u.rho.shape for u in units] == [torch.Size([4]), torch.Size([6])]
    assert [u.num_features for u in units] == [4, 6]
    model(torch.randn(2, 1, 8, 8)).sum().backward()
    opt.step()
    # a fresh lazy model takes the shapes from a state dict
    fresh = aa.replace_activations(small_cnn(), "agumbel", num_features="lazy")
    fresh.load_state_dict(model.state_dict())
    x = torch.randn(3, 1, 8, 8)
    torch.testing.assert_close(fresh(x), model(x))


def test_lazy_unit_reports_its_state():
    unit = aa.create("pau", num_features="lazy")
    assert unit.is_lazy and "lazy" in repr(unit)
    unit(torch.randn(2, 5, 3))
    assert not unit.is_lazy and unit.numerator.shape == (5, 6)


def test_replace_on_the_model_dtype():
    model = mlp().double()
    aa.replace_activations(model, "pau")
    assert model[1].numerator.dtype == torch.float64
    model(torch.randn(2, 8, dtype=torch.float64))


def test_replace_warns_when_activations_are_functional():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            return F.relu(self.fc(x))

    with pytest.warns(UserWarning, match="called as functions"):
        aa.replace_activations(Functional(), "pau")


def test_replace_refuses_maxout_and_accepts_factories():
    with pytest.raises(ValueError, match="maxout"):
        aa.replace_activations(mlp(), "maxout")
    model = aa.replace_activations(mlp(), lambda: aa.create("pau", degrees=(3, 2)))
    assert model[1].degrees == (3, 2)
    with pytest.raises(ValueError, match="options"):
        aa.replace_activations(mlp(), lambda: nn.ReLU(), degrees=(3, 2))


def test_replacing_a_bare_activation_returns_the_new_unit():
    assert isinstance(aa.replace_activations(nn.ReLU(), "pau"), PAU)


def test_param_groups_split_network_and_activation_parameters():
    model = aa.replace_activations(small_cnn(), "pau")
    groups = aa.param_groups(model, weight_decay=5e-4, act_lr=0.01)
    net, act = groups
    assert net["weight_decay"] == 5e-4 and act["weight_decay"] == 0.0 and act["lr"] == 0.01
    assert len(act["params"]) == 4
    assert len(net["params"]) + len(act["params"]) == len(list(model.parameters()))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        torch.optim.AdamW(groups, lr=1e-3)
