"""Properties every registered unit must have: dtypes, gradients, state, compile, extreme inputs."""
from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

import adaptact as aa
from conftest import expected_shape, make_input


def build(case, **extra):
    name, opts = case
    torch.manual_seed(0)
    return aa.create(name, **{**opts, **extra})


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_shape_and_dtype_kept(unit_case, dtype):
    unit = build(unit_case)
    x = make_input(unit_case[0], dtype)
    y = unit(x)
    assert y.dtype == dtype
    assert tuple(y.shape) == expected_shape(unit_case[0], x)
    assert torch.isfinite(y).all()


def test_half_precision_matches_float32(unit_case):
    """float16/bfloat16 results are the float32 result rounded (the math is done in float32)."""
    unit = build(unit_case).eval()
    x = make_input(unit_case[0], torch.bfloat16)
    ref = unit(x.float())
    for dtype, tol in ((torch.float16, 2e-3), (torch.bfloat16, 1.6e-2)):
        got = unit(x.to(dtype)).float()
        torch.testing.assert_close(got, ref, rtol=tol, atol=tol)


def test_gradcheck_float64_input_and_every_parameter(unit_case):
    unit = build(unit_case, dtype=torch.float64).eval()  # eval: no RReLU/RPAU noise
    names = [n for n, p in unit.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in unit.parameters())
    x = make_input(unit_case[0], torch.float64, shape=(2, 6, 2, 2)).requires_grad_(True)

    def f(x, *ps):
        return functional_call(unit, dict(zip(names, ps)), (x,))

    assert torch.autograd.gradcheck(f, (x,) + params, eps=1e-6, atol=1e-5, rtol=1e-4)


def test_state_dict_round_trip(unit_case):
    a = build(unit_case)
    with torch.no_grad():
        for p in a.parameters():
            p.add_(0.1 * torch.randn_like(p))
    torch.manual_seed(123)
    b = aa.create(unit_case[0], **unit_case[1])
    b.load_state_dict(a.state_dict())
    a.eval(), b.eval()
    x = make_input(unit_case[0])
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)


def test_extreme_inputs_finite_outputs_and_gradients(unit_case):
    unit = build(unit_case)
    name = unit_case[0]
    values = torch.tensor([-1e4, -1e3, -100.0, -10.0, -1.0, -1e-4, 0.0, 1e-4, 1.0, 10.0, 100.0, 1e3, 1e4])
    x = make_input(name)
    x = values[torch.arange(x.numel()) % len(values)].reshape(x.shape).requires_grad_(True)
    for mode in (unit.train, unit.eval):
        mode()
        y = unit(x)
        assert torch.isfinite(y).all(), f"{name}: non-finite output at extreme inputs"
        grads = torch.autograd.grad(y.sum(), [x] + [p for p in unit.parameters()], allow_unused=True)
        for g in grads:
            assert g is None or torch.isfinite(g).all(), f"{name}: non-finite gradient at extreme inputs"


def test_repr_echoes_options(unit_case):
    unit = build(unit_case)
    text = repr(unit)
    if unit_case[1].get("num_features"):
        assert "num_features=3" in text or "num_parameters=3" in text  # torch's PReLU names it so


@pytest.mark.compile
def test_torch_compile_gives_same_output(unit_case):
    unit = build(unit_case).eval()
    x = make_input(unit_case[0])
    compiled = torch.compile(unit, backend="inductor", fullgraph=False)
    torch.testing.assert_close(compiled(x), unit(x), rtol=1e-5, atol=1e-5)
    # dynamo really traced it (a frame that ran eagerly after a fallback would compare eager with eager)
    assert torch._dynamo.utils.counters["frames"]["ok"] >= 1
