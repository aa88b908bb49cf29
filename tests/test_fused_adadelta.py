"""The one-pass C Adadelta against torch.optim.Adadelta and against the formulas in float64."""
from __future__ import annotations

import copy

import pytest
import torch

from adaptact import kernels
from adaptact.kernels import c_build
from adaptact.train import fused_adadelta as FA

pytestmark = pytest.mark.skipif(c_build.compiler() is None, reason="no C compiler")

RHO, EPS, LR = 0.95, 1e-6, 1.0


def _params(seed: int = 0, shapes=((300, 17), (100,), (70_001,))):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=g)) for s in shapes]


def _gradient_stream(params, steps: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return [[torch.randn(p.shape, generator=g) * 10.0 ** torch.randint(-4, 2, (), generator=g).item()
             for p in params] for _ in range(steps)]


def _train(opt_class, params, grads, **options):
    opt = opt_class(params, lr=LR, rho=RHO, eps=EPS, **options)
    for step in grads:
        for p, g in zip(params, step):
            p.grad = g.clone()
        opt.step()
    return opt


def _float64_step(p, g, s, a):
    """One Adadelta step in float64 from float32 inputs (the formulas of the module docstring)."""
    p, g, s, a = (t.double() for t in (p, g, s, a))
    s = RHO * s + (1 - RHO) * g * g
    d = torch.sqrt(a + EPS) / torch.sqrt(s + EPS) * g
    return p - LR * d, s, RHO * a + (1 - RHO) * d * d


def test_every_float32_cpu_parameter_is_served(monkeypatch):
    p, bias = _params(shapes=((300, 17), (100,)))
    calls = []
    c_step = FA._c_step
    monkeypatch.setattr(FA, "_c_step", lambda *a: calls.append(a[0].shape) or c_step(*a))
    opt = _train(FA.Adadelta, [p, bias], _gradient_stream([p, bias], 2))
    assert calls == [p.shape, bias.shape] * 2
    state = opt.state[p]
    assert FA.served(p, p.grad, state["square_avg"], state["acc_delta"])
    with kernels.use("reference"):
        assert not FA.served(p, p.grad, state["square_avg"], state["acc_delta"])
    assert not FA.served(p.double(), p.grad.double(), state["square_avg"].double(), state["acc_delta"].double())
    strided = torch.randn(p.shape[::-1]).t()
    assert not FA.served(p, strided, state["square_avg"], state["acc_delta"])


def test_twenty_steps_agree_with_torch_to_float32_rounding():
    """Parameters and both running averages within 2e-6 relative of torch's after 20 steps, for gradients
    from 1e-4 to 10 (the one difference: torch's vectorised sqrt is not correctly rounded)."""
    ours, theirs = _params(), _params()
    grads = _gradient_stream(ours, 20)
    a = _train(FA.Adadelta, ours, grads)
    b = _train(torch.optim.Adadelta, theirs, grads)
    for p, q in zip(ours, theirs):
        torch.testing.assert_close(p, q, rtol=2e-6, atol=1e-7)
        for key in ("square_avg", "acc_delta"):
            torch.testing.assert_close(a.state[p][key], b.state[q][key], rtol=2e-6, atol=1e-12)
        assert a.state[p]["step"].item() == b.state[q]["step"].item() == 20


def test_each_step_is_at_least_as_close_to_float64_as_torchs():
    """From the same float32 state, one step of each against the float64 formulas: ours is as close or closer
    in total, element for element within an ulp of the correctly rounded float64 result's float32 neighbours."""
    params = _params(shapes=((4096,),))
    grads = _gradient_stream(params, 6)
    warm = _train(torch.optim.Adadelta, params, grads[:5])  # a state with nonzero acc_delta
    p0, = params
    s0, a0 = warm.state[p0]["square_avg"].clone(), warm.state[p0]["acc_delta"].clone()
    g = grads[5][0]
    exact_p, exact_s, exact_a = _float64_step(p0.detach(), g, s0, a0)
    errors = {}
    for name, cls in (("ours", FA.Adadelta), ("torch", torch.optim.Adadelta)):
        p = torch.nn.Parameter(p0.detach().clone())
        opt = cls([p], lr=LR, rho=RHO, eps=EPS)
        p.grad = g.clone()
        opt.step()  # creates the state: overwrite it with the warm one and step again from p0
        with torch.no_grad():
            p.copy_(p0)
        opt.state[p]["square_avg"].copy_(s0)
        opt.state[p]["acc_delta"].copy_(a0)
        opt.step()
        errors[name] = ((p.detach().double() - exact_p).abs().sum().item(),
                        (opt.state[p]["acc_delta"].double() - exact_a).abs().sum().item())
    assert errors["ours"][0] <= errors["torch"][0] and errors["ours"][1] <= errors["torch"][1]


@pytest.mark.parametrize("case", ["weight_decay", "maximize", "float64", "reference", "tensor_lr"])
def test_what_the_pass_does_not_serve_takes_torchs_step_bit_for_bit(case):
    ours, theirs = _params(), _params()
    options = {"weight_decay": {"weight_decay": 1e-2}, "maximize": {"maximize": True}}.get(case, {})
    if case == "float64":
        ours, theirs = ([torch.nn.Parameter(p.detach().double()) for p in ps] for ps in (ours, theirs))
    grads = [[g.to(p.dtype) for g, p in zip(step, ours)] for step in _gradient_stream(ours, 5)]
    lr = torch.tensor(LR) if case == "tensor_lr" else LR

    def train(cls, params):
        opt = cls(params, lr=lr, rho=RHO, eps=EPS, **options)
        for step in grads:
            for p, g in zip(params, step):
                p.grad = g.clone()
            opt.step()

    if case == "reference":
        with kernels.use("reference"):
            train(FA.Adadelta, ours)
    else:
        train(FA.Adadelta, ours)
    train(torch.optim.Adadelta, theirs)
    assert all(torch.equal(p, q) for p, q in zip(ours, theirs))


def test_state_dicts_move_between_the_two():
    ours, theirs = _params(), _params()
    grads = _gradient_stream(ours, 8)
    a = _train(FA.Adadelta, ours, grads[:4])
    b = torch.optim.Adadelta(theirs, lr=LR, rho=RHO, eps=EPS)
    with torch.no_grad():
        for p, q in zip(ours, theirs):
            q.copy_(p)
    b.load_state_dict(copy.deepcopy(a.state_dict()))
    assert a.state_dict()["param_groups"] == b.state_dict()["param_groups"]
    c = FA.Adadelta(_params(), lr=LR, rho=RHO, eps=EPS)
    c.load_state_dict(copy.deepcopy(b.state_dict()))  # and back
    assert set(c.state_dict()["state"][0]) == {"step", "square_avg", "acc_delta"}
    for step in grads[4:]:
        for p, q, g in zip(ours, theirs, step):
            p.grad, q.grad = g.clone(), g.clone()
        a.step()
        b.step()
    for p, q in zip(ours, theirs):
        torch.testing.assert_close(p, q, rtol=2e-6, atol=1e-7)


def test_the_step_bumps_version_counters_and_returns_the_closure_loss():
    p = _params(shapes=((64,),))[0]
    opt = FA.Adadelta([p], lr=LR, rho=RHO, eps=EPS)

    def closure():
        opt.zero_grad()
        loss = (p ** 2).sum()
        loss.backward()
        return loss

    before = p._version
    loss = opt.step(closure)
    assert loss.item() > 0 and p._version > before
    state = opt.state[p]
    versions = (p._version, state["square_avg"]._version, state["acc_delta"]._version)
    opt.step(closure)
    assert all(after > v for after, v in zip((p._version, state["square_avg"]._version,
                                              state["acc_delta"]._version), versions))


def test_threads_do_not_change_the_bits():
    """Above 65,536 elements the pass runs on every thread; each element's arithmetic is the same."""
    results = []
    threads = torch.get_num_threads()
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            params = _params(shapes=((200_003,),))
            _train(FA.Adadelta, params, _gradient_stream(params, 3))
            results.append(params[0].detach().clone())
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(results[0], results[1])


def test_the_runner_trains_adadelta_runs_with_the_pass():
    from adaptact.train.optim import build_optimizer
    from adaptact.train.spec import RunSpec

    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    opt = build_optimizer(model, RunSpec(model="mlp", data="teacher", optimizer="adadelta", lr=1.0, rho=0.95))
    assert type(opt) is FA.Adadelta and opt.defaults["rho"] == 0.95 and opt.defaults["eps"] == 1e-6
