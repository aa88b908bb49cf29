"""Double backward, torch.export, ONNX and torch.func.vmap for every registered unit.

The fused kernels are opaque to autograd's second pass and to tracers: a
backward run with ``create_graph=True`` is recomputed through the reference
(:mod:`adaptact.functional`), and every tracing or transforming context
routes the call to the reference. These tests check both, per layer and per
channel, on each unit's default path.
"""
from __future__ import annotations

import logging
import weakref

import pytest
import torch
import torch.autograd.forward_ad as fwAD
from torch import nn
from torch.func import functional_call, vmap

import adaptact as aa
from adaptact import functional as AF
from adaptact import kernels
from adaptact.kernels.c_engine import CEngine
from adaptact.kernels.formulas import FUSED_BASES, FUSED_CDFS
from adaptact.kernels.fused import ReferenceCall, counter_uniform, run
from adaptact.kernels.lowering import lower_blend
from adaptact.registry import entry

from conftest import CASES, case_id, make_input

TRAINABLE = [c for c in CASES if entry(c[0]).trainable]
TRAINABLE_IDS = [case_id(c) for c in TRAINABLE]
#: units whose output is random in training mode
STOCHASTIC = {"adact", "rpau", "rrelu"}

needs_c = pytest.mark.skipif("c" not in kernels.available(), reason="no C compiler: no fused CPU path to test")


def _fusable(name: str, opts: dict) -> bool:
    """Whether a fused kernel serves the unit's default path: it goes through the dispatcher, with fused formulas."""
    unit = aa.create(name, **opts)
    with kernels.use("reference"), kernels.record() as used:
        unit(make_input(name))
    functions = [getattr(unit, "base", None)] + list(getattr(unit, "basis", ()))
    cdf_fused = getattr(unit, "cdf", None) in (None, *FUSED_CDFS)  # normal and cauchy: the reference
    return bool(used) and cdf_fused and all(f is None or f in FUSED_BASES for f in functions)


FUSABLE = [c for c in TRAINABLE if _fusable(*c)]


def _unit(name: str, opts: dict, dtype=torch.float32) -> nn.Module:
    """The unit in a deterministic mode: training, except for the stochastic ones (evaluation)."""
    torch.manual_seed(0)
    unit = aa.create(name, **opts).to(dtype)
    with torch.no_grad():  # move the parameters off their special initial values (0 weights, 1 scales)
        for p in unit.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return unit.train(entry(name).name not in STOCHASTIC)


def _as_function(unit: nn.Module):
    names = [n for n, _ in unit.named_parameters()]

    def fn(x, *params):
        return functional_call(unit, dict(zip(names, params)), (x,))

    return fn


def test_the_stochastic_units_are_the_ones_random_in_training():
    random = set()
    for name, opts in CASES:
        unit, x = aa.create(name, **opts).train(), make_input(name)
        if not torch.equal(unit(x), unit(x)):
            random.add(entry(name).name)
    assert random == STOCHASTIC


# --------------------------------------------------------------------------- second-order gradients


@pytest.mark.parametrize("case", TRAINABLE, ids=TRAINABLE_IDS)
def test_gradgradcheck_float64_on_the_default_path(case):
    name, opts = case
    unit = _unit(name, opts, torch.float64)
    x = make_input(name, torch.float64, shape=(2, 6, 2)).requires_grad_()
    params = [p.detach().clone().requires_grad_() for p in unit.parameters()]
    assert torch.autograd.gradgradcheck(_as_function(unit), (x, *params), fast_mode=True)


def _second_order(unit: nn.Module, x: torch.Tensor, mode: str):
    """First derivatives (with a graph) of a random projection of the output, then their own derivatives."""
    g = torch.Generator().manual_seed(1)
    x = x.clone().requires_grad_()
    inputs = [x] + list(unit.parameters())
    with kernels.use(mode), kernels.record() as used:
        y = unit(x)
        v = torch.randn(y.shape, generator=g)
        first = torch.autograd.grad((y * v).sum(), inputs, create_graph=True)
        directions = [torch.randn(t.shape, generator=g) for t in first]
        s = sum((d * t).sum() for d, t in zip(directions, first))
        second = torch.autograd.grad(s, inputs, allow_unused=True)
    second = [torch.zeros_like(t) if h is None else h for t, h in zip(inputs, second)]
    return used, list(first), second


@needs_c
@pytest.mark.parametrize("case", FUSABLE, ids=[case_id(c) for c in FUSABLE])
def test_float32_double_backward_of_the_fused_path_equals_the_reference(case):
    name, opts = case
    unit = _unit(name, opts)
    x = make_input(name)
    used, first, second = _second_order(unit, x, "auto")
    assert used and "reference" not in used, used  # the forward really ran fused
    _, first_ref, second_ref = _second_order(unit, x, "reference")
    for a, b in zip(first + second, first_ref + second_ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def _gradient_penalty_grads(unit: nn.Module, x: torch.Tensor, mode: str):
    """WGAN-GP: ``((||d out / d x|| - 1)^2).mean()`` and its gradients with respect to the unit's parameters."""
    x = x.clone().requires_grad_()
    params = list(unit.parameters())
    with kernels.use(mode), kernels.record() as used:
        (gx,) = torch.autograd.grad(unit(x).sum(), x, create_graph=True)
        penalty = ((gx.flatten(1).norm(dim=1) - 1) ** 2).mean()
        grads = torch.autograd.grad(penalty, params, allow_unused=True)
    return used, penalty, [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


@pytest.mark.parametrize("case", TRAINABLE, ids=TRAINABLE_IDS)
def test_gradient_penalty_equals_the_reference_path_in_float32(case):
    name, opts = case
    unit = _unit(name, opts)
    x = make_input(name)
    used, penalty, grads = _gradient_penalty_grads(unit, x, "auto")
    _, penalty_ref, grads_ref = _gradient_penalty_grads(unit, x, "reference")
    if case in FUSABLE and "c" in kernels.available():
        assert used and "reference" not in used, used
    torch.testing.assert_close(penalty, penalty_ref, rtol=1e-5, atol=1e-6)
    for g, r in zip(grads, grads_ref):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-5)


_ADACT_INPUTS = {
    "column-layout": lambda: torch.randn(4, 3, 5),
    "row-layout": lambda: torch.randn(4, 3, 200),
    "channels-last": lambda: torch.randn(2, 3, 12, 12).to(memory_format=torch.channels_last),
    "transposed": lambda: torch.randn(3, 4, 150).transpose(0, 1),
}


@needs_c
@pytest.mark.parametrize("layout", list(_ADACT_INPUTS))
@pytest.mark.parametrize("num_features", [None, 3], ids=["per-layer", "per-channel"])
def test_double_backward_of_adact_in_training_redraws_the_kernels_rrelu_slopes(num_features, layout):
    unit = _unit("adact", {"num_features": num_features}).train()
    x = (_ADACT_INPUTS[layout]() * 2).requires_grad_()
    v = torch.randn(x.shape)
    inputs = [x] + list(unit.parameters())

    def first_derivatives(create_graph):
        torch.manual_seed(5)  # the same seed for the kernel's draws
        with kernels.record() as used:
            y = unit(x)
        assert used == ["c"]
        return torch.autograd.grad((y * v).sum(), inputs, create_graph=create_graph)

    fused = first_derivatives(False)
    recomputed = first_derivatives(True)
    # parameter gradients are float32 sums over ~900 elements, in the kernel's block order on one
    # path and torch's reduction order on the other: they agree to the rounding of such sums
    for a, b in zip(fused, recomputed):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    # the second derivative exists: the penalty reaches the blend weights
    penalty = sum((g**2).sum() for g in recomputed)
    (dw,) = torch.autograd.grad(penalty, [unit.weight])
    assert torch.isfinite(dw).all() and dw.abs().sum() > 0


def test_counter_uniform_gives_the_slopes_the_c_kernel_draws():
    x = -torch.ones(3, 1000)
    w = torch.full((7,), -1e4)
    w[4] = 0.0  # all weight on RReLU
    torch.manual_seed(3)
    seed = int(torch.randint(0, 2**62, (1,)).item())
    torch.manual_seed(3)
    with kernels.use("c"):
        slopes = -kernels.blend(x, w, AF.ADACT_BASIS, torch.tensor([0.25]), "softmax", training=True)
    expected = AF.RRELU_LOWER + (AF.RRELU_UPPER - AF.RRELU_LOWER) * counter_uniform(x, seed)
    torch.testing.assert_close(slopes, expected, rtol=1e-6, atol=0)


@needs_c
def test_double_backward_refuses_a_stochastic_call_whose_reference_draws_elsewhere():
    x = torch.randn(2, 3, 4, requires_grad=True)
    w, slope = torch.zeros(7, requires_grad=True), torch.tensor([0.25])
    lowered = lower_blend(x, w, AF.ADACT_BASIS, slope, "softmax", True)
    # the reference call of the evaluation mode: it never draws RReLU slopes
    args = (x, w, AF.ADACT_BASIS, slope, "softmax", False)
    reference, tensors = ReferenceCall.of(AF.blend, x, args, {}), (x, w, slope)
    y = run(lowered, reference, tensors, CEngine())
    (gx,) = torch.autograd.grad(y.sum(), x)  # the fused first derivative needs no redraw
    assert gx.shape == x.shape
    with pytest.raises(RuntimeError, match=r"cannot redraw its noise through the reference \(1 stochastic terms, 0"):
        torch.autograd.grad(run(lowered, reference, tensors, CEngine()).sum(), x, create_graph=True)


@needs_c
def test_only_create_graph_backward_leaves_the_fused_kernel(monkeypatch):
    calls = []
    fused_backward = CEngine.backward
    monkeypatch.setattr(CEngine, "backward", lambda self, *a: calls.append(1) or fused_backward(self, *a))
    unit = aa.create("pau")
    x = torch.randn(4, 3, 8, requires_grad=True)
    torch.autograd.grad(unit(x).sum(), x)
    assert len(calls) == 1
    torch.autograd.grad(unit(x).sum(), x, create_graph=True)
    assert len(calls) == 1


@needs_c
def test_a_fused_call_holds_its_input_only_as_a_saved_tensor():
    # saved-tensor hooks (checkpointing, offloading) must see every reference to the input
    unit = aa.create("pau")
    x = torch.randn(4, 3, 8, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(lambda t: t.clone(), lambda t: t), kernels.record() as used:
        h = x * 2
        alive = weakref.ref(h)
        y = unit(h)
        del h
    assert used == ["c"] and alive() is None
    (gx,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    with kernels.use("reference"):
        (expected,) = torch.autograd.grad(unit(x * 2).sum(), x)
    torch.testing.assert_close(gx, expected)


def test_the_double_backward_of_a_unit_on_a_computed_input_is_the_partial_derivative():
    # x depends on the unit's own parameter: the recomputed backward must not follow that path twice
    unit = aa.create("swish_beta")
    z = torch.randn(4, 3, 8, requires_grad=True)

    def grads(mode):
        with kernels.use(mode):
            x = z * unit.beta
            (gz,) = torch.autograd.grad(unit(x).sum(), z, create_graph=True)
            return torch.autograd.grad((gz**2).sum(), [z, unit.beta])

    for a, b in zip(grads("auto"), grads("reference")):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------- tracing contexts route to the reference


@needs_c
def test_make_fx_traces_the_reference_ops_not_an_opaque_kernel():
    from torch.fx.experimental.proxy_tensor import make_fx

    unit = aa.create("pau").eval()
    x, other = torch.randn(4, 3, 8), torch.randn(4, 3, 8)
    with kernels.record() as used:
        graph = make_fx(unit)(x)
    assert used == ["reference"]
    torch.testing.assert_close(graph(other), unit(other), rtol=1e-5, atol=1e-6)


@needs_c
def test_forward_mode_ad_of_a_fused_unit_uses_the_reference():
    unit = aa.create("pau")
    x, t = torch.randn(4, 3, 8), torch.randn(4, 3, 8)
    with fwAD.dual_level(), kernels.record() as used:
        tangent = fwAD.unpack_dual(unit(fwAD.make_dual(x, t))).tangent
    assert used == ["reference"]
    _, expected = torch.func.jvp(unit, (x,), (t,))
    torch.testing.assert_close(tangent, expected)


# --------------------------------------------------------------------------- torch.func.vmap

@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_vmap_equals_a_loop_over_the_batch(case):
    name, opts = case
    unit = _unit(name, opts)
    xs = torch.stack([make_input(name, seed=s) for s in range(3)])
    with torch.no_grad():
        expected = torch.stack([unit(x) for x in xs])
        torch.testing.assert_close(vmap(unit)(xs), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["adact", "rpau"])
def test_vmap_of_a_stochastic_unit_in_training_follows_the_randomness_option(name):
    unit = aa.create(name).train()
    xs = make_input(name).expand(4, *make_input(name).shape)  # four copies of one input
    with torch.no_grad():
        same, different = vmap(unit, randomness="same")(xs), vmap(unit, randomness="different")(xs)
        with pytest.raises(RuntimeError, match="randomness"):
            vmap(unit)(xs)  # torch's default refuses random draws
    assert all(torch.equal(same[0], s) for s in same[1:])
    assert not any(torch.equal(different[0], d) for d in different[1:])
    torch.testing.assert_close(different.mean(0), unit.eval()(xs[0]), rtol=0.2, atol=0.1)


# --------------------------------------------------------------------------- RReLU of the blends


def test_rrelu_basis_is_a_leaky_relu_with_the_mean_slope_in_evaluation():
    x = torch.randn(1000)
    rrelu = AF.basis_function("rrelu").fn
    assert torch.equal(rrelu(x, training=False), torch.nn.functional.leaky_relu(x, 11 / 48))
    assert AF.RRELU_MEAN == pytest.approx(11 / 48)


def test_rrelu_basis_in_training_draws_uniform_slopes_between_one_eighth_and_one_third():
    torch.manual_seed(0)
    x = -torch.ones(100_000)
    slopes = AF.basis_function("rrelu").fn(x, training=True) / x
    u = ((slopes - 1 / 8) / (1 / 3 - 1 / 8)).sort().values
    assert slopes.min() >= 1 / 8 and slopes.max() <= 1 / 3
    assert (u - torch.linspace(0, 1, len(u))).abs().max() < 0.01  # Kolmogorov-Smirnov distance
    assert torch.equal(AF.basis_function("rrelu").fn(-x, training=True), -x)  # positive inputs pass
    with AF.rrelu_uniform_source(torch.zeros_like):
        assert torch.equal(AF.basis_function("rrelu").fn(x, training=True), x / 8)


# --------------------------------------------------------------------------- torch.export and ONNX


class _Every(nn.Module):
    """Every unit applied to the same input (maxout to a twice wider one): one export for all of them."""

    def __init__(self, cases) -> None:
        super().__init__()
        units = {case_id(c).replace("[per-channel]", "_per_channel"): _unit(*c).eval() for c in cases}
        self.units = nn.ModuleDict(units)

    def forward(self, x: torch.Tensor, wide: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(u(wide if name.startswith("maxout") else x) for name, u in self.units.items())


def _every_input(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    return make_input("relu", seed=seed), make_input("maxout", seed=seed)


def _assert_each_close(model: _Every, outputs, expected) -> None:
    assert len(outputs) == len(expected) == len(model.units)
    for name, y, e in zip(model.units, outputs, expected):
        torch.testing.assert_close(y, e, rtol=1e-5, atol=1e-5, msg=lambda m, name=name: f"{name}: {m}")


def test_torch_export_of_every_unit_in_evaluation_equals_eager():
    model = _Every(CASES).eval()
    with kernels.record() as used:
        program = torch.export.export(model, _every_input(0))
    assert used and "c" not in used and "triton" not in used
    with torch.no_grad():
        _assert_each_close(model, program.module()(*_every_input(1)), model(*_every_input(1)))


def _onnx_outputs(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    log = logging.getLogger("torch.onnx")
    level = log.level
    log.setLevel(logging.ERROR)  # its "torchvision is not installed" notes
    try:
        onnx_program = torch.onnx.export(model, inputs, verbose=False)  # the default exporter: dynamo=True
    finally:
        log.setLevel(level)
    session = ort.InferenceSession(onnx_program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {i.name: t.numpy() for i, t in zip(session.get_inputs(), inputs)}
    return [torch.from_numpy(y) for y in session.run(None, feed)]


_ONNX_WARNINGS = pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated:FutureWarning")


@pytest.mark.slow
@_ONNX_WARNINGS
def test_onnx_export_of_every_unit_in_evaluation_matches_onnxruntime():
    model = _Every(CASES).eval()
    inputs = _every_input(2)
    outputs = _onnx_outputs(model, inputs)
    with torch.no_grad():
        _assert_each_close(model, outputs, model(*inputs))


@_ONNX_WARNINGS
def test_onnx_export_of_the_fixed_rrelu_in_evaluation():
    unit = aa.create("rrelu").eval()
    x = make_input("rrelu")
    torch.testing.assert_close(_onnx_outputs(unit, (x,))[0], unit(x), rtol=1e-5, atol=1e-5)


@_ONNX_WARNINGS
def test_onnx_export_of_a_linear_then_adact_in_evaluation():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), aa.create("adact")).eval()
    x = torch.randn(3, 6)
    torch.testing.assert_close(_onnx_outputs(model, (x,))[0], model(x), rtol=1e-5, atol=1e-5)
