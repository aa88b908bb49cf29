"""Identities from the papers and between units, in float64."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import adaptact as aa
from adaptact import functional as AF

X = torch.linspace(-6, 6, 241, dtype=torch.float64)


def f64(name, **opts):
    return aa.create(name, dtype=torch.float64, **opts)


# --- adaptive Gumbel and adaptive ReLU (Farhadi et al.)


def test_agumbel_alpha_one_is_the_sigmoid():
    torch.testing.assert_close(f64("agumbel")(X), torch.sigmoid(X), rtol=1e-12, atol=1e-14)


def test_agumbel_tends_to_the_gumbel_cdf_as_alpha_goes_to_zero():
    gumbel = 1 - torch.exp(-torch.exp(X))
    errors = [(f64("agumbel", alpha=a)(X) - gumbel).abs().max().item() for a in (1e-1, 1e-2, 1e-4, 1e-7)]
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 1e-5


def test_agumbel_stable_formula_equals_the_paper_formula():
    for alpha in (0.3, 1.0, 4.0):
        direct = 1 - (1 + alpha * torch.exp(X)) ** (-1 / alpha)
        torch.testing.assert_close(f64("agumbel", alpha=alpha)(X), direct, rtol=1e-9, atol=1e-12)


def test_arelu_tends_to_relu_as_alpha_grows():
    errors = [(f64("arelu", alpha=a)(X) - F.relu(X)).abs().max().item() for a in (1.0, 10.0, 100.0, 1e4)]
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 1e-3


def test_arelu_formulas():
    alpha = 2.5
    exp_cdf = torch.where(X > 0, X * (1 - torch.exp(-alpha * X)), torch.zeros_like(X))
    torch.testing.assert_close(f64("arelu", alpha=alpha)(X), exp_cdf)
    torch.testing.assert_close(f64("arelu", alpha=alpha, cdf="logistic")(X), X * torch.sigmoid(alpha * X))


def test_cdf_units_keep_alpha_positive_under_training():
    unit = f64("agumbel", num_features=4)
    opt = torch.optim.SGD(unit.parameters(), lr=10.0)
    x = torch.randn(64, 4, dtype=torch.float64)
    for _ in range(20):
        opt.zero_grad()
        (unit(x) ** 2).sum().backward()  # pushes the outputs (and alpha) hard
        opt.step()
    assert (unit.alpha > 0).all()


# --- adaptive scaling, Swish, affine presets


@pytest.mark.parametrize("base", ["relu", "tanh", "elu", "selu", "identity", "silu"])
def test_scaled_unit_is_alpha_times_its_base(base):
    unit = f64(f"scaled_{base}", init=0.7)
    ref = AF.basis_function(base).fn(X)
    torch.testing.assert_close(unit(X), 0.7 * ref)


def test_swish_beta_one_is_silu():
    torch.testing.assert_close(f64("swish_beta")(X), F.silu(X))
    torch.testing.assert_close(f64("scaled_swish_beta")(X), F.silu(X))


def test_affine_presets():
    agsig = f64("agsig")
    with torch.no_grad():
        agsig.a_out.fill_(1.7), agsig.a_in.fill_(0.4)
    torch.testing.assert_close(agsig(X), 1.7 / (1 + torch.exp(-0.4 * X)))
    frelu = f64("frelu")
    with torch.no_grad():
        frelu.b_in.fill_(0.3), frelu.b_out.fill_(-0.2)
    torch.testing.assert_close(frelu(X), F.relu(X + 0.3) - 0.2)
    assert sum(p.numel() for p in agsig.parameters()) == 2 and sum(p.numel() for p in frelu.parameters()) == 2


# --- blends: ABU, AdAct, Mixture


def test_abu_default_is_the_mean_of_its_basis():
    beta_swish = X * torch.sigmoid(X)
    mean = (torch.tanh(X) + F.elu(X) + F.relu(X) + X + beta_swish) / 5
    torch.testing.assert_close(f64("abu")(X), mean)


@pytest.mark.parametrize("name,check", [
    ("abu_nrm", lambda w: torch.allclose(w.sum(-1), torch.ones(()).double())),
    ("abu_abs", lambda w: torch.allclose(w.abs().sum(-1), torch.ones(()).double())),
    ("abu_pos", lambda w: bool((w >= 0).all()) and torch.allclose(w.sum(-1), torch.ones(()).double())),
    ("abu_soft", lambda w: bool((w >= 0).all()) and torch.allclose(w.sum(-1), torch.ones(()).double())),
])
@pytest.mark.parametrize("num_features", [None, 4])
def test_abu_normalisation_constraints_hold_after_optimizer_steps(name, check, num_features):
    torch.manual_seed(0)
    unit = f64(name, num_features=num_features)
    opt = torch.optim.Adam(unit.parameters(), lr=0.2)
    x = torch.randn(256, 4, dtype=torch.float64)
    target = -2 * torch.tanh(x) + 0.5 * x  # wants negative weights on tanh
    for _ in range(50):
        opt.zero_grad()
        F.mse_loss(unit(x), target).backward()
        opt.step()
    raw = unit.weight.detach()
    assert not torch.allclose(raw, torch.full_like(raw, 0.2)), "weights did not move"
    assert check(unit.effective_weights().detach())
    if name == "abu_pos":
        assert (raw < 0).any(), "the test should drive some raw weight negative"


def test_abu_pos_clips_instead_of_normalising_by_the_sum():
    w = torch.tensor([0.6, -0.2, 0.6], dtype=torch.float64)
    torch.testing.assert_close(AF.blend_weights(w, "pos"), torch.tensor([0.5, 0.0, 0.5], dtype=torch.float64))
    torch.testing.assert_close(AF.blend_weights(w, "sum"), w / 1.0)


def test_one_hot_blend_is_its_basis_function():
    unit = f64("abu", init=[0, 0, 1, 0, 0])
    torch.testing.assert_close(unit(X), F.relu(X))


def _standardized(t: torch.Tensor) -> torch.Tensor:
    """(t - mean) / sqrt(var + eps), biased statistics per channel (dim 1) over the other dims."""
    dims = [d for d in range(t.dim()) if d != 1] if t.dim() > 1 else [0]
    mean = t.mean(dims, keepdim=True)
    var = ((t - mean) ** 2).mean(dims, keepdim=True)
    return (t - mean) / torch.sqrt(var + AF.BATCH_NORM_EPS)


@pytest.mark.parametrize("shape", [(16, 3, 5, 4), (32, 7), (50,), (4, 3, 2, 5, 2)])
def test_batch_standardize_is_the_batch_norm_formula(shape):
    t = 3 * torch.randn(shape, dtype=torch.float64) + 1
    y = AF.batch_standardize(t)
    torch.testing.assert_close(y, _standardized(t))
    dims = [d for d in range(len(shape)) if d != 1] if len(shape) > 1 else [0]
    torch.testing.assert_close(y.mean(dims), torch.zeros_like(y.mean(dims)), atol=1e-12, rtol=0)
    # its gradients, and their gradients (a gradient penalty through SMCN_BN's ABU), are the formula's
    t = t[:4].clone().requires_grad_(True) if len(shape) > 1 else t[:6].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(AF.batch_standardize, (t,))
    assert torch.autograd.gradgradcheck(AF.batch_standardize, (t,))


def test_batch_standardize_channels_last_one_value_per_channel_and_other_dtypes():
    t = torch.randn(8, 3, 4, 4)
    torch.testing.assert_close(AF.batch_standardize(t.to(memory_format=torch.channels_last)), AF.batch_standardize(t))
    torch.testing.assert_close(AF.batch_standardize(t), _standardized(t.double()).float(), atol=1e-5, rtol=1e-5)
    one = torch.randn(1, 3)  # one value per channel: torch's batch norm refuses it; the formula gives 0
    torch.testing.assert_close(AF.batch_standardize(one), torch.zeros(1, 3))
    half = t.half()
    torch.testing.assert_close(AF.batch_standardize(half).float(), _standardized(t.double()).float(),
                               atol=2e-2, rtol=2e-2)


def test_abu_with_basis_batchnorm_blends_normalised_basis_outputs():
    """SMCN_BN's ABU in the authors' code: y = sum_j w_j BN(f_j(x)), batch statistics in eval too."""
    unit = f64("abu", basis_batchnorm=True, init=[0.1, 0.2, 0.3, 0.25, 0.15])
    x = torch.randn(8, 4, 3, 3, dtype=torch.float64)
    beta = unit.basis_params.detach()
    outputs = [torch.tanh(x), F.elu(x), F.relu(x), x, x * torch.sigmoid(beta * x)]
    want = sum(w * AF.batch_standardize(f) for w, f in zip([0.1, 0.2, 0.3, 0.25, 0.15], outputs))
    torch.testing.assert_close(unit(x), want)
    torch.testing.assert_close(unit.eval()(x), want)
    assert "basis_batchnorm=True" in repr(unit)


def test_abu_basis_batchnorm_gradcheck():
    x = torch.randn(6, 2, 3, dtype=torch.float64, requires_grad=True)
    w = torch.tensor([0.3, -0.2, 0.5, 0.1, 0.4], dtype=torch.float64, requires_grad=True)
    beta = torch.tensor([0.8], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: AF.abu(x, w, b, basis_batchnorm=True), (x, w, beta))


def test_basis_batchnorm_runs_fused_in_float32_and_a_forced_fused_mode_says_why_not_otherwise():
    """CPU float32: the four-pass C blend (tests/test_basis_batchnorm.py); float64: the reference, and a forced
    fused mode names the reason."""
    unit = aa.create("abu", basis_batchnorm=True)
    x = torch.randn(4, 3, 5, 5)
    with aa.kernels.record() as used:
        unit(x)
    assert used == ["c"]
    unit64 = aa.create("abu", basis_batchnorm=True, dtype=torch.float64)
    with aa.kernels.record() as used:
        unit64(x.double())
    assert used == ["reference"]
    with aa.kernels.use("fused"), pytest.raises(aa.kernels.KernelUnavailable, match="dtype torch.float64"):
        unit64(x.double())
    with pytest.raises(ValueError, match="basis_batchnorm"):
        aa.create("abu", basis_batchnorm="yes")


def test_mixture_starts_as_half_identity_half_relu():
    torch.testing.assert_close(f64("mixture")(X), 0.5 * X + 0.5 * F.relu(X))


def test_adact_is_a_softmax_blend_of_its_seven_functions():
    unit = f64("adact").eval()
    with torch.no_grad():
        unit.weight.copy_(torch.tensor([0.3, -1.0, 0.2, 0.5, 0.1, 1.2, -0.4]))
        unit.basis_params.fill_(0.1)
    fns = [F.relu, F.elu, lambda x: F.leaky_relu(x, 0.01), lambda x: torch.where(x >= 0, x, 0.1 * x),
           lambda x: F.rrelu(x, 1 / 8, 1 / 3, training=False), F.silu, F.mish]
    w = torch.softmax(unit.weight.detach(), 0)
    ref = sum(wi * f(X) for wi, f in zip(w, fns))
    torch.testing.assert_close(unit(X), ref)
    assert sum(p.numel() for p in unit.parameters()) == 8


@pytest.mark.parametrize("index,cls", [(0, nn.ReLU), (1, nn.ELU), (2, nn.LeakyReLU), (3, nn.PReLU),
                                       (4, nn.RReLU), (5, nn.SiLU), (6, nn.Mish)])
def test_adact_harden_picks_the_argmax(index, cls):
    unit = aa.create("adact")
    with torch.no_grad():
        unit.weight.zero_()
        unit.weight[index] = 2.0
        unit.basis_params.fill_(0.37)
    hard = unit.hardened()
    assert isinstance(hard, cls)
    if cls is nn.PReLU:
        assert torch.allclose(hard.weight, torch.tensor([0.37]))


def test_harden_a_model_replaces_every_adact_unit():
    model = nn.Sequential(nn.Linear(4, 8), aa.create("adact"), nn.Linear(8, 8), aa.create("adact"))
    with torch.no_grad():
        model[1].weight[6] = 1.0  # mish
        model[3].weight[1] = 1.0  # elu
    assert aa.hardened_choices(model) == {"1": "mish", "3": "elu"}
    aa.harden(model)
    assert isinstance(model[1], nn.Mish) and isinstance(model[3], nn.ELU)
    assert aa.activation_parameters(model) == []


def test_harden_refuses_per_channel_adact():
    with pytest.raises(ValueError, match="per-layer"):
        aa.create("adact", num_features=3).hardened()


# --- PAU and RPAU


def test_pau_form_b_and_its_denominator():
    a = torch.tensor([0.1, 1.0, 0.5], dtype=torch.float64)
    b = torch.tensor([-0.3, 0.2], dtype=torch.float64)
    p = 0.1 + X + 0.5 * X**2
    torch.testing.assert_close(AF.pau(X, a, b, "A"), p / (1 + 0.3 * X.abs() + 0.2 * X**2))
    torch.testing.assert_close(AF.pau(X, a, b, "B"), p / (1 + (-0.3 * X + 0.2 * X**2).abs()))


def test_pau_any_degrees():
    for m, n in ((0, 0), (1, 0), (3, 1), (8, 7)):
        unit = f64("pau", degrees=(m, n), init="identity")
        assert unit.numerator.shape == (m + 1,) and unit.denominator.shape == (n,)
        assert torch.isfinite(unit(X)).all()


def test_rpau_adds_noise_only_in_training():
    torch.manual_seed(0)
    unit = f64("rpau", delta=0.05)
    pau = f64("pau")
    x = torch.randn(1000, dtype=torch.float64)
    unit.eval()
    torch.testing.assert_close(unit(x), pau(x), rtol=0, atol=0)
    unit.train()
    y1, y2 = unit(x), unit(x)
    assert not torch.equal(y1, y2)
    deviation = (y1 - pau(x)).abs().max()
    assert 0 < deviation < 0.1 * pau(x).abs().max()


def test_rpau_functional_with_fixed_noise_gradcheck():
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    a = torch.randn(6, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    ua, ub = AF.rpau_noise(x, a, b, 0.1)
    assert torch.autograd.gradcheck(lambda x, a, b: AF.rpau(x, a, b, ua, ub), (x, a, b))


# --- subnetworks


def _metaneuron_loop(unit, x):
    """One neuron at a time, plain tensors: the definition, for comparison with the batched unit."""
    f = AF.basis_function(unit.inner).fn
    out = torch.empty_like(x)
    for c in range(x.shape[1]):
        z = x[:, c].reshape(-1, 1)
        u = f(unit.in_weight[c] * z + unit.in_bias[c])
        h = f(u * unit.hidden_weight[c] + unit.hidden_bias[c])
        for layer in range(unit.depth - 1):
            h = h + f(h @ unit.inner_weights[c, layer].T + unit.inner_biases[c, layer])
        out[:, c] = f(h @ unit.out_weight[c] + unit.out_bias[c]).reshape(x[:, c].shape)
    return out


@pytest.mark.parametrize("depth,inner", [(1, "sigmoid"), (3, "tanh"), (2, "relu")])
def test_metaneuron_batched_equals_one_neuron_at_a_time(depth, inner):
    torch.manual_seed(0)
    unit = f64("metaneuron", num_features=4, width=3, depth=depth, inner=inner)
    x = torch.randn(5, 4, 2, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(unit(x), _metaneuron_loop(unit, x))


def test_vaf_formula():
    torch.manual_seed(0)
    unit = f64("vaf", num_features=2, width=4, inner="tanh")
    x = torch.randn(7, 2, dtype=torch.float64)
    with torch.no_grad():
        ref = torch.stack([
            (unit.out_weight[c] * torch.tanh(x[:, c, None] * unit.in_weight[c] + unit.in_bias[c])).sum(-1)
            + unit.out_bias[c] for c in range(2)], dim=1)
        torch.testing.assert_close(unit(x), ref)


# --- PAU paper baselines


def test_apl_starts_as_relu_and_srelu_as_leaky_relu():
    torch.testing.assert_close(f64("apl")(X), F.relu(X))
    x = X[X < 1]
    torch.testing.assert_close(f64("srelu")(x), F.leaky_relu(x, 0.01))


def test_slaf_starts_close_to_leaky_relu():
    grid = torch.linspace(-3, 3, 601, dtype=torch.float64)
    assert (f64("slaf")(grid) - F.leaky_relu(grid, 0.01)).abs().max() < 0.2


def test_maxout_is_the_max_over_channel_pairs():
    x = torch.randn(3, 8, 5)
    y = aa.create("maxout")(x)
    torch.testing.assert_close(y, torch.maximum(x[:, 0::2], x[:, 1::2]))
