"""The per-call path of the fused kernels: no backend asked about a device it cannot serve, plans built
once per signature, parameters packed outside autograd (timings: benchmarks/overhead.py)."""
import pytest
import torch

import adaptact.kernels as K
from adaptact import functional as AF
from adaptact.kernels import backends, dispatch as _  # noqa: F401  (registers the backends)
from adaptact.kernels.fused import Gather
from adaptact.kernels.lowering import LOWERINGS, lower_blend, lower_pau

PLAIN_BASIS = ("tanh", "relu", "identity")  # basis functions without parameters
needs_c = pytest.mark.skipif("c" not in K.available(), reason="no C compiler: no fused CPU path to test")
dispatch_module = __import__("adaptact.kernels.dispatch", fromlist=["_IMPLEMENTATIONS"])


@needs_c
def test_a_cpu_call_never_asks_the_triton_backend(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)  # test_kernels_triton sets it for its own process

    def asked(*args, **kwargs):
        raise AssertionError("the Triton backend was asked about a CPU call")

    impl = dispatch_module._IMPLEMENTATIONS["pau"]["triton"]
    monkeypatch.setitem(dispatch_module._IMPLEMENTATIONS["pau"], "triton", type(impl)("pau", "triton", asked))
    x, a, b = torch.randn(3, 5), torch.randn(6), torch.randn(4)
    with K.record() as used:
        y = K.pau(x, a, b)
    assert used == ["c"]
    torch.testing.assert_close(y, AF.pau(x, a, b), rtol=1e-5, atol=1e-5)


def counted_lowering(monkeypatch, family, lower) -> list:
    """Replace ``family``'s lowering by one that counts its calls (in the returned list); start with no plans."""
    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return lower(*args, **kwargs)

    monkeypatch.setitem(LOWERINGS, family, counted)
    monkeypatch.setattr(backends, "_PLANS", {})
    return calls


@needs_c
def test_the_lowering_runs_once_per_signature(monkeypatch):
    calls = counted_lowering(monkeypatch, "pau", lower_pau)
    a, b = torch.randn(6, requires_grad=True), torch.randn(4, requires_grad=True)
    K.pau(torch.randn(3, 7), a, b).sum().backward()
    first = len(calls)
    for _ in range(3):
        K.pau(torch.randn(3, 7), a, b).sum().backward()
    assert first > 0 and len(calls) == first
    K.pau(torch.randn(3, 8), a, b)  # another shape: another plan
    assert len(calls) > first


@needs_c
def test_parameters_enter_the_fused_node_without_packing_nodes():
    a, b = torch.randn(6, requires_grad=True), torch.randn(4, requires_grad=True)
    x = torch.randn(3, 7, requires_grad=True)
    y = K.pau(x, a, b)
    assert type(y.grad_fn).__name__ == "FusedUnitBackward"
    inputs = [fn for fn, _ in y.grad_fn.next_functions if fn is not None]
    assert [type(fn).__name__ for fn in inputs] == ["AccumulateGrad"] * 3
    y.square().sum().backward()
    xr, ar, br = (t.detach().clone().requires_grad_(True) for t in (x, a, b))
    AF.pau(xr, ar, br).square().sum().backward()
    for got, want in ((x.grad, xr.grad), (a.grad, ar.grad), (b.grad, br.grad)):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_gather_probe_finds_a_selection_and_its_inverse():
    x, a, b = torch.randn(2, 3, 4), torch.randn(3, 6), torch.randn(3, 4)
    gather = Gather.probe(lower_pau, (x, a, b), {}, (x, a, b), 0)
    assert gather is not None and gather.shape == (3, 10)
    torch.testing.assert_close(gather.pack((x, a, b)), lower_pau(x, a, b).theta, rtol=0, atol=0)
    dtheta = torch.randn(3, 10)
    _, da, db = gather.unpack(dtheta, (x, a, b), (False, True, True))
    torch.testing.assert_close(torch.cat([da, db], 1), dtheta, rtol=0, atol=0)


@pytest.mark.parametrize("normalization", ["softmax", "sum", "abs", "pos"])
def test_gather_probe_refuses_a_packing_that_computes(normalization):
    x, w = torch.randn(2, 5), torch.randn(len(PLAIN_BASIS))
    args = (x, w, PLAIN_BASIS, None, normalization)
    assert Gather.probe(lower_blend, args, {}, (x, w), 0) is None
    assert Gather.probe(lower_blend, (x, w, PLAIN_BASIS, None, "none"), {}, (x, w), 0) is not None


def test_gather_probe_refuses_an_absolute_value():
    def lower_abs(x, a):
        return type(lower_pau(x, a, a[:1]))(None, a.abs().reshape(1, -1).to(torch.float32))

    x, a = torch.randn(4), torch.randn(5)
    assert Gather.probe(lower_abs, (x, a), {}, (x, a), 0) is None


@needs_c
def test_a_normalised_blend_still_differentiates_through_its_packing():
    x, w = torch.randn(4, 6, requires_grad=True), torch.randn(len(PLAIN_BASIS), requires_grad=True)
    K.blend(x, w, PLAIN_BASIS, None, "softmax").square().sum().backward()
    xr, wr = x.detach().clone().requires_grad_(True), w.detach().clone().requires_grad_(True)
    AF.blend(xr, wr, PLAIN_BASIS, None, "softmax").square().sum().backward()
    torch.testing.assert_close(w.grad, wr.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(x.grad, xr.grad, rtol=1e-4, atol=1e-5)


@needs_c
def test_a_deterministic_call_reuses_its_plans_fused_call(monkeypatch):
    monkeypatch.setattr(backends, "_PLANS", {})
    a, b = torch.randn(6, requires_grad=True), torch.randn(4, requires_grad=True)
    for _ in range(3):
        K.pau(torch.randn(3, 7), a, b)
    (plan,) = [p for p in backends._PLANS.values() if isinstance(p, backends.Plan)]
    assert plan.call is not None and plan.call.program is plan.program and plan.call.seed == 0
    # the dispatcher's fast path holds that same call for the signature
    assert [v.call for v in backends._PLANS.values() if not isinstance(v, backends.Plan)] == [plan.call]


@needs_c
def test_the_fast_path_defers_to_the_general_one_when_the_moment_differs(monkeypatch):
    """A served signature takes the fast path, but not under record(), a forced reference mode or a
    torch.func transform; all give the reference's values."""
    monkeypatch.setattr(backends, "_PLANS", {})
    a, b = torch.randn(6), torch.randn(4)
    x = torch.randn(3, 7)
    K.pau(x, a, b)
    ready = [v for v in backends._PLANS.values() if not isinstance(v, backends.Plan)]
    assert len(ready) == 1 and backends._fast_cpu_call("pau", (x, a, b), {}) is not None
    with K.record() as used:
        K.pau(x, a, b)
    assert used == ["c"]
    with K.use("reference"), K.record() as used:
        K.pau(x, a, b)
    assert used == ["reference"]
    assert backends._fast_cpu_call("pau", (x.double(), a, b), {}) is None  # another signature
    per_row = torch.func.vmap(lambda row: K.pau(row, a, b))(x)
    torch.testing.assert_close(per_row, AF.pau(x, a, b), rtol=1e-5, atol=1e-5)


def test_a_single_float32_parameter_is_packed_without_a_copy_and_unpacked_to_its_shape():
    x, a = torch.randn(5, 3, 4), torch.randn(3)
    gather = Gather.probe(LOWERINGS["scaled"], (x, a, "relu", None, False), {}, (x, a), 0)
    assert gather is not None and gather.single == 1
    theta = gather.pack((x, a))
    assert theta.data_ptr() == a.data_ptr() and theta.shape == gather.shape
    dtheta = torch.randn(gather.shape)
    _, da = gather.unpack(dtheta, (x, a), (False, True))
    assert da.shape == a.shape and torch.equal(da.reshape(-1), dtheta.reshape(-1))


def test_several_parameters_unpack_to_their_own_shapes_and_dtypes():
    x, a, b = torch.randn(2, 3, 4), torch.randn(3, 6, dtype=torch.float64), torch.randn(3, 4)
    gather = Gather.probe(lower_pau, (x, a, b), {}, (x, a, b), 0)
    torch.testing.assert_close(gather.pack((x, a, b)), lower_pau(x, a, b).theta, rtol=0, atol=0)
    dtheta = torch.randn(3, 10)
    _, da, db = gather.unpack(dtheta, (x, a, b), (False, True, False))
    assert da.dtype == torch.float64 and da.shape == (3, 6) and db is None
    torch.testing.assert_close(da.float(), dtheta[:, :6], rtol=0, atol=0)


def test_a_bogus_mode_is_refused_at_the_next_call(monkeypatch):
    monkeypatch.setattr(dispatch_module._State, "mode", "bogus")
    with pytest.raises(ValueError, match="unknown kernel backend 'bogus'"):
        K.pau(torch.randn(3), torch.randn(6), torch.randn(4))


@needs_c
def test_a_normalised_blend_repacks_its_weights_per_call_without_lowering_again(monkeypatch):
    calls = counted_lowering(monkeypatch, "blend", lower_blend)
    w = torch.randn(len(PLAIN_BASIS), requires_grad=True)
    K.blend(torch.randn(3, 7), w, PLAIN_BASIS, None, "softmax").sum().backward()
    first = len(calls)
    with torch.no_grad():
        w.add_(1.0)  # new weights: the packing must follow them
    x = torch.randn(3, 7, requires_grad=True)
    y = K.blend(x, w, PLAIN_BASIS, None, "softmax")
    assert len(calls) == first
    torch.testing.assert_close(y, AF.blend(x, w, PLAIN_BASIS, None, "softmax"), rtol=1e-5, atol=1e-5)
