"""The C fast path equals the reference of adaptact.functional: outputs and every gradient.

Tolerances are stated in ``kernel_cases``. Stochastic RReLU (AdAct in
training) cannot equal the reference's draws: the equality cases use eval
mode; ``test_rrelu_training_*`` check the distribution of the fused slopes and
that backward redraws the forward's slopes.
"""
from __future__ import annotations

import pytest
import torch

import adaptact as aa
from adaptact import functional as AF
from adaptact import kernels as K
from kernel_cases import CASE_IDS, CASES, SHAPE_IDS, SHAPES, check_equal, make_x

pytestmark = pytest.mark.skipif("c" not in K.available(), reason="no C compiler: the C kernels are off")


@pytest.mark.parametrize("shape,channels", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_c_equals_reference(case, shape, channels):
    check_equal(case, make_x(shape), channels, "c")


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_c_equals_reference_at_extreme_inputs(case):
    check_equal(case, make_x((2, 3, 13), extreme=True), 3, "c")


@pytest.mark.parametrize("case", CASES[:2] + CASES[7:9] + CASES[-3:], ids=CASE_IDS[:2] + CASE_IDS[7:9] + CASE_IDS[-3:])
@pytest.mark.parametrize("layout", ["transposed", "strided"])
def test_c_equals_reference_on_non_contiguous_inputs(case, layout):
    transform = {"transposed": lambda x: x.transpose(2, 3), "strided": lambda x: x[..., ::2]}[layout]
    check_equal(case, make_x((2, 3, 6, 6)), 3, "c", transform=transform)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"])
@pytest.mark.parametrize("case", CASES[:2] + CASES[7:9] + CASES[-3:], ids=CASE_IDS[:2] + CASE_IDS[7:9] + CASE_IDS[-3:])
def test_c_half_precision_equals_reference(case, dtype):
    check_equal(case, make_x((2, 3, 5, 7)), 3, "c", dtype=dtype)


def test_units_use_the_fused_path_by_default():
    x = torch.randn(2, 3, 4, requires_grad=True)
    for name in ("pau", "abu", "adact", "scaled_relu", "agumbel", "arelu", "swish_beta", "frelu", "slaf", "apl",
                 "srelu", "metaneuron", "vaf"):
        unit = aa.create(name).eval()  # eval: AdAct's RReLU is deterministic
        with K.use("c"):
            fused = unit(x)
        with K.use("reference"):
            ref = unit(x)
        torch.testing.assert_close(fused, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name, params", [("pau", 3 * 10), ("apl", 3 * 2 * 2), ("srelu", 3 * 4), ("metaneuron", 3 * 18),
                                          ("vaf", 3 * 16)])
def test_backward_saves_only_the_input_and_the_parameters(name, params):
    unit = aa.create(name, num_features=3)
    x = torch.randn(4, 3, 8, 8, requires_grad=True)
    saved = []
    with K.use("c"), torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        unit(x)
    big = [t for t in saved if t.numel() > 64]
    assert len(big) == 1 and big[0].data_ptr() == x.data_ptr()
    assert sum(t.numel() for t in saved if t.numel() <= 64) == params


def _adact_training(x, seed):
    w, slope = torch.zeros(7), torch.tensor(0.25)
    rrelu_only = torch.full((7,), -1e4)
    rrelu_only[4] = 0.0  # softmax puts all weight on RReLU
    torch.manual_seed(seed)
    with K.use("c"):
        return K.blend(x, rrelu_only + w, AF.ADACT_BASIS, slope.unsqueeze(-1), "softmax", training=True)


def test_rrelu_training_slopes_are_uniform_between_one_eighth_and_one_third():
    x = -torch.ones(200_000)
    slopes = _adact_training(x, 0) / x
    assert slopes.min() >= 1 / 8 and slopes.max() <= 1 / 3
    u = ((slopes - 1 / 8) / (1 / 3 - 1 / 8)).sort().values
    uniform = torch.linspace(0, 1, len(u))
    assert (u - uniform).abs().max() < 0.01  # Kolmogorov-Smirnov distance
    assert torch.equal(_adact_training(torch.ones(10), 0), torch.ones(10))  # positive inputs pass


def test_rrelu_training_is_seeded_by_torch_and_backward_redraws_the_same_slopes():
    x = -torch.rand(1000, requires_grad=True) - 0.1
    y1 = _adact_training(x, 7)
    y2 = _adact_training(x, 7)
    torch.testing.assert_close(y1, y2, rtol=0, atol=0)
    assert not torch.equal(y1, _adact_training(x, 8))
    (dx,) = torch.autograd.grad(y1.sum(), x)
    torch.testing.assert_close(dx, (y1 / x).detach(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("case", CASES[:4], ids=CASE_IDS[:4])
def test_c_pau_chooses_the_direct_or_the_far_form_per_chunk(case):
    """One long row of three chunks (4096 elements each) and a tail: the first chunk moderate (direct
    Horner form), the second with one element at 1e4 (the direct form's bound overflows: 1/x form),
    the third with 1e30 and a NaN, the tail moderate again; all equal the reference."""
    from adaptact.kernels.c_source import CHUNK, fast_variant
    from adaptact.kernels.lowering import lower_pau

    params, options = case.make(None)
    assert fast_variant(lower_pau(torch.zeros(1), *params, **options).program) is not None
    x = make_x((3 * CHUNK + 37,), seed=3)
    x[CHUNK + 100] = 1e4
    check_equal(case, x, None, "c")
    x[2 * CHUNK + 5], x[2 * CHUNK + 6] = 1e30, float("nan")
    with K.use("c"):
        y = K.pau(x.float(), params[0].detach().float(), params[1].detach().float(), **options)
    ref = AF.pau(x.float(), params[0].detach().float(), params[1].detach().float(), **options)
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5, equal_nan=True)
    assert torch.isnan(y[2 * CHUNK + 6]) and torch.isfinite(y[: 2 * CHUNK]).all()


@pytest.mark.parametrize("form", ["A", "B"])
def test_pau_direct_form_guard_rejects_overflowing_blocks(form):
    """The guard admits max|x| = 8 (form B: 2, where its direct form is accurate) for the default-sized
    coefficients and refuses 1e4, inf and NaN."""
    from adaptact.kernels.c_source import fast_variant
    from adaptact.kernels.lowering import lower_pau

    a, b = torch.full((6,), 0.5), torch.full((4,), 0.5)
    _, guards = fast_variant(lower_pau(torch.zeros(1), a, b, form).program)
    code = guards[0].forward_code()

    def passes(xmax):
        env = {f"th{k}": float(v) for k, v in enumerate(torch.cat([a, b]))}
        env["x"] = xmax
        fns = {"max": lambda u, v: v if v > u else u, "abs": abs, "where": lambda c, u, v: u if c else v}
        for name, expr in code.statements:
            env[name] = eval(expr, fns, env)  # noqa: S307 - the formula language is a Python subset
        return env[code.output] > 0.0

    assert passes(0.0) and passes(2.0) and passes(8.0) == (form == "A")
    assert not passes(1e4) and not passes(float("inf")) and not passes(float("nan"))


def test_c_pau_form_b_is_accurate_where_its_direct_form_was_not():
    """Regression: these (5, 4) form-B coefficients near x = -3.7 put the direct Horner form's dx above the
    equality tolerance (float32 rounding); such blocks now take the overflow-free form."""
    g = torch.Generator().manual_seed(0)
    a, b = 0.5 * torch.randn(6, generator=g), 0.5 * torch.randn(4, generator=g)
    x = torch.linspace(-4.1, -3.5, 4096 * 3, dtype=torch.float32).requires_grad_(True)
    with K.use("c"):
        y = K.pau(x, a, b, form="B")
    x64 = x.detach().double().requires_grad_(True)
    ref = AF.pau(x64, a.double(), b.double(), form="B")
    torch.testing.assert_close(y.double(), ref, rtol=1e-5, atol=1e-5)
    (gx,) = torch.autograd.grad(y, x, torch.ones_like(y))
    (rx,) = torch.autograd.grad(ref, x64, torch.ones_like(ref))
    torch.testing.assert_close(gx.double(), rx, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["pau", "abu", "agumbel"])
def test_c_parameter_gradients_have_the_same_bits_at_any_thread_count_and_schedule(name):
    """Backward sums each chunk's parameter gradients into its own slots and adds them in chunk order, so
    under the dynamic schedule repeated calls, and 1 and 2 threads, give bit-identical gradients."""
    unit = aa.create(name)
    x = torch.randn(64, 16, 32, 32, generator=torch.Generator().manual_seed(0))  # 256 chunks: parallel
    dy = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    previous = torch.get_num_threads()
    grads = []
    try:
        for threads in (1, 2, 2, 2):
            torch.set_num_threads(threads)
            with K.use("c"):
                grads.append(torch.autograd.grad(unit(x), list(unit.parameters()), dy))
    finally:
        torch.set_num_threads(previous)
    for other in grads[1:]:
        for got, want in zip(other, grads[0]):
            assert torch.equal(got, want)


@pytest.mark.parametrize("options, reason", [
    ({"width": 20}, "too large for one fused formula"),
    ({"width": 5, "inner": "gelu"}, "has no fused formula"),
])
def test_c_subnetworks_beyond_the_fused_formula_fall_back_to_the_reference_or_refuse_when_forced(options, reason):
    unit = aa.create("metaneuron", **options)
    x = torch.randn(3, 7)
    with K.record() as used:
        y = unit(x)
    assert used == ["reference"]
    with K.use("reference"):
        torch.testing.assert_close(y, unit(x))
    with K.use("c"), pytest.raises(K.KernelUnavailable, match=reason):
        unit(x)


def test_rrelus_one_round_draws_pass_uniformity_serial_and_seed_tests():
    """RReLU's slopes come from one keyed hash round per element (f_keyed_hash): uniform in every used bit
    and in 256 bins, consecutive elements and the same element under neighbouring seeds uncorrelated (also
    seeds differing in their high half only), and the index's high half changes the draw."""
    from scipy import stats

    from adaptact.kernels.fused import _keyed_hash, counter_uniform

    n = 1 << 18
    x = torch.empty(n)
    u = counter_uniform(x, 12345).double()
    assert stats.kstest(u.numpy(), "uniform").pvalue > 1e-3
    assert stats.chisquare(torch.bincount((u * 256).long(), minlength=256).numpy()).pvalue > 1e-3
    bits = (u * 2**24).long()
    ones = torch.stack([(bits >> b) & 1 for b in range(24)]).double().mean(1)
    assert (ones - 0.5).abs().max() < 4 * 0.5 / n**0.5  # every bit balanced within 4 sigma
    pairs = torch.bincount((u[:-1:2] * 16).long() * 16 + (u[1::2] * 16).long(), minlength=256)
    assert stats.chisquare(pairs.numpy()).pvalue > 1e-3  # consecutive elements independent
    limit = 4 / n**0.5
    assert abs(stats.pearsonr(u[:-1].numpy(), u[1:].numpy())[0]) < limit
    for other in (12346, 12345 + (1 << 32), 12345 ^ (1 << 63)):
        v = counter_uniform(x, other).double()
        assert abs(stats.pearsonr(u.numpy(), v.numpy())[0]) < limit
        assert (u == v).double().mean() < 1e-3
    idx = torch.tensor([7, 7 + (1 << 32), 7 + (1 << 40)])
    assert len(set(_keyed_hash(idx, 99).tolist())) == 3
