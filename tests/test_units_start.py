"""Units' starting points and bounds: meta-neuron/VAF init='fixed', channel-count bound."""
from __future__ import annotations

import pytest
import torch

import adaptact as aa
from adaptact import functional as AF
from adaptact.units.base import MAX_NUM_FEATURES


@pytest.mark.parametrize("inner", ["sigmoid", "tanh", "relu", "elu"])
def test_vaf_with_fixed_init_is_exactly_its_inner_activation(inner):
    torch.manual_seed(0)
    unit = aa.create("vaf", num_features=3, inner=inner, init="fixed")
    x = torch.randn(4, 3, 7) * 3
    torch.testing.assert_close(unit(x), AF.basis_function(inner).fn(x))
    unit(x).sum().backward()
    assert unit.out_weight.grad[:, 1:].abs().sum() > 0  # the other hidden neurons can still learn


@pytest.mark.parametrize("inner,depth,tol", [("relu", 1, 0.0), ("relu", 3, 0.0), ("sigmoid", 1, 0.05),
                                             ("tanh", 2, 0.05)])
def test_meta_neuron_with_fixed_init_starts_near_its_inner_activation(inner, depth, tol):
    unit = aa.create("metaneuron", num_features=2, inner=inner, depth=depth, init="fixed")
    x = torch.linspace(-4, 4, 161).expand(1, 2, -1)
    err = (unit(x) - AF.basis_function(inner).fn(x)).abs().max().item()
    assert err <= tol
    default = aa.create("metaneuron", num_features=2, inner=inner, depth=depth)
    assert (default(x) - AF.basis_function(inner).fn(x)).abs().max().item() > 0.1  # the PyTorch init does not


def test_meta_neuron_fixed_init_is_deterministic():
    a = aa.create("metaneuron", num_features=2, init="fixed")
    b = aa.create("metaneuron", num_features=2, init="fixed")
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_unknown_subnet_init_is_refused():
    with pytest.raises(ValueError, match=r"init must be one of \['pytorch', 'fixed'\]"):
        aa.create("vaf", init="zeros")


def test_a_huge_channel_count_is_refused_before_allocating():
    with pytest.raises(ValueError, match=f"num_features=1000000000 is above the limit of {MAX_NUM_FEATURES}"):
        aa.create("agumbel", num_features=10**9)
