"""torch.compile keeps the fused kernels: they are the custom ops adaptact::fused_forward/backward."""
import pytest
import torch

import adaptact.kernels as K
from adaptact import units as U
from adaptact.kernels import custom_ops

needs_c = pytest.mark.skipif("c" not in K.available(), reason="no C compiler: no fused CPU path to test")

UNITS = {
    "pau": lambda: U.PAU(num_features=4),
    "abu": lambda: U.Blend(),
    "adact": lambda: U.AdAct(num_features=4).eval(),
    "agumbel": lambda: U.AdaptiveGumbel(),
    "arelu": lambda: U.AdaptiveReLU(num_features=4),
    "swish_beta": lambda: U.SwishBeta(),
}


def _step(module, x):
    for p in module.parameters():
        p.grad = None
    x = x.detach().clone().requires_grad_(True)
    y = module(x)
    (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
    return y.detach(), x.grad, [p.grad.clone() for p in module.parameters()]


def _same_as_eager(got, eager):
    """y and dx bit-equal to eager fused; the parameters' gradients within float32 summation order."""
    torch.testing.assert_close(got[0], eager[0], rtol=0, atol=0)
    torch.testing.assert_close(got[1], eager[1], rtol=0, atol=0)
    for g, e in zip(got[2], eager[2]):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-6)


@needs_c
@pytest.mark.slow
@pytest.mark.compile
@pytest.mark.parametrize("name", sorted(UNITS))
def test_compiled_unit_equals_eager_fused_and_calls_the_fused_op(name, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    torch.manual_seed(0)
    unit = UNITS[name]()
    x = torch.randn(2, 4, 5, 6)
    with K.record() as used:
        eager = _step(unit, x)
    assert used == ["c"]
    compiled = torch.compile(unit, fullgraph=True)
    before = custom_ops.calls()
    got = _step(compiled, x)
    after = custom_ops.calls()
    assert after["fused_forward"] == before["fused_forward"] + 1
    assert after["fused_backward"] == before["fused_backward"] + 1
    _same_as_eager(got, eager)


@needs_c
@pytest.mark.slow
@pytest.mark.compile
def test_the_compiled_graph_holds_the_custom_op_not_the_formulas():
    graphs = []

    def backend(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    unit = U.AdAct().eval()
    torch.compile(unit, backend=backend, fullgraph=True)(torch.randn(3, 8))
    targets = {str(n.target) for n in graphs[0].graph.nodes if n.op == "call_function"}
    assert "adaptact.fused_forward.default" in targets or any("fused_forward" in t for t in targets)
    assert not any("softplus" in t or "tanh" in t or "exp" in t for t in targets)
    # the token names the version of the ops' sources: torch's graph caches key on it, not on the op's code
    tokens = [a for n in graphs[0].graph.nodes if "fused_forward" in str(n.target) for a in n.args if isinstance(a, str)]
    assert tokens and all(custom_ops.source_digest() in t for t in tokens)


@needs_c
@pytest.mark.compile
def test_the_reference_mode_still_compiles_the_formulas():
    before = custom_ops.calls()
    unit = U.PAU()
    with K.use("reference"):
        compiled = torch.compile(unit, backend="eager", fullgraph=True)
        x = torch.randn(3, 5)
        torch.testing.assert_close(compiled(x), unit(x))
    assert custom_ops.calls() == before


@needs_c
@pytest.mark.slow
@pytest.mark.compile
def test_a_training_adact_compiles_with_its_stochastic_term():
    unit = U.AdAct().train()
    compiled = torch.compile(unit, fullgraph=True)
    x = torch.randn(4, 16, requires_grad=True)
    y = compiled(x)
    y.sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()
    assert not torch.equal(compiled(x), compiled(x))  # fresh RReLU slopes each call


#: per-layer units (any channel count), and one per channel (4 channels)
DYNAMIC = {"pau": lambda: U.PAU(), "abu": lambda: U.Blend(), "arelu": lambda: U.AdaptiveReLU(num_features=4)}


@needs_c
@pytest.mark.compile
@pytest.mark.parametrize("name", sorted(DYNAMIC))
def test_dynamic_shapes_keep_the_fused_op_and_its_values(name):
    """``dynamic=True`` (and a shape that changed between calls, which makes dynamo trace sizes as symbols)
    once failed with fullgraph=True: a symbolic channel count reached the compile-time check. Per-layer
    units see the channel count change too. aot_eager: the failure and the op's place are in the trace."""
    torch.manual_seed(0)
    unit = DYNAMIC[name]()
    compiled = torch.compile(unit, backend="aot_eager", fullgraph=True, dynamic=True)
    shapes = [(2, 4, 5, 6), (3, 4, 7, 2)] + ([] if name == "arelu" else [(5, 8), (6, 3, 2)])
    for shape in shapes:
        x = torch.randn(shape)
        eager = _step(unit, x)
        before = custom_ops.calls()["fused_forward"]
        got = _step(compiled, x)
        assert custom_ops.calls()["fused_forward"] == before + 1, shape
        _same_as_eager(got, eager)


@needs_c
@pytest.mark.compile
@pytest.mark.parametrize("name", ["pau", "adact", "arelu", "abu"])
def test_a_compiled_cpu_call_runs_the_kernels_from_cpp_with_the_same_bits(name):
    """Once the C++ node is loaded, the compiled graph's ops run the kernels from C++ (a handle per token and
    signature, no Python per call); values and gradients equal those of the ops' Python kernels (the node
    switched off). aot_eager: AOTAutograd calls the graph's ops with grad mode off, as in a compiled model."""
    from adaptact.kernels import native_node

    if not native_node.wait(timeout=300):
        pytest.skip(f"no C++ autograd node here: {native_node.problem()}")
    torch.manual_seed(0)
    unit = UNITS[name]()
    x = torch.randn(2, 4, 5, 6)
    compiled = torch.compile(unit, backend="aot_eager", fullgraph=True)
    _step(compiled, x)  # the first call of a signature asks Python for its handle
    before = custom_ops.calls()
    through_cpp = _step(compiled, x)
    after = custom_ops.calls()
    assert after["native_forward"] == before["native_forward"] + 1
    assert after["native_backward"] == before["native_backward"] + 1
    was = native_node.set_enabled(False)
    try:
        through_python = _step(compiled, x)
    finally:
        native_node.set_enabled(was)
    assert custom_ops.calls()["native_forward"] == after["native_forward"]
    assert custom_ops.calls()["fused_forward"] == after["fused_forward"] + 1
    for a, b in zip([through_cpp[0], through_cpp[1], *through_cpp[2]],
                    [through_python[0], through_python[1], *through_python[2]]):
        assert torch.equal(a, b)


@needs_c
@pytest.mark.compile
@pytest.mark.parametrize("backend", ["eager", "aot_eager"])
def test_a_second_order_backward_through_a_compiled_fused_unit_is_refused(backend):
    """The compiled backward is first-order: a create_graph=True backward must fail, never return
    gradients that silently miss their second-order terms."""
    unit = U.PAU()
    compiled = torch.compile(unit, backend=backend, fullgraph=True)
    x = torch.randn(3, 5, requires_grad=True)
    with pytest.raises(RuntimeError, match="first-order|double backward"):
        (g,) = torch.autograd.grad(compiled(x).sum(), x, create_graph=True)
        g.sum().backward()


@needs_c
@pytest.mark.compile
def test_the_first_compile_in_a_process_traces_once_and_a_mode_change_retraces(monkeypatch):
    """The dispatcher's memo of the checked mode once changed during the first trace of a process, so the
    graph's guard on it failed at the next call and every first compile traced twice."""
    import importlib

    dispatch = importlib.import_module("adaptact.kernels.dispatch")  # the package exports a function so named
    monkeypatch.setattr(dispatch._State, "checked", None)  # as in a process that dispatched nothing yet
    traces = []

    def backend(gm, example_inputs):
        traces.append(gm)
        return gm.forward

    torch._dynamo.reset()
    unit = U.PAU()
    compiled = torch.compile(unit, backend=backend, fullgraph=True)
    x = torch.randn(3, 5)
    for _ in range(3):
        compiled(x)
    assert len(traces) == 1
    with K.use("reference"):
        torch.testing.assert_close(compiled(x), unit(x))
    assert len(traces) == 2


@needs_c
@pytest.mark.compile
def test_compiled_calls_from_two_threads_give_the_eager_values():
    """The compiled path's C++ table of handles is shared by threads (ops run without the GIL): two threads
    calling compiled units of several shapes at once get the eager values."""
    import threading

    from adaptact.kernels import native_node

    if not native_node.wait(timeout=300):
        pytest.skip(f"no C++ autograd node here: {native_node.problem()}")
    torch.manual_seed(0)
    unit = U.PAU(num_features=4)
    compiled = torch.compile(unit, backend="aot_eager", fullgraph=True, dynamic=False)
    inputs = [torch.randn(n, 4, 3, 5) for n in (2, 3, 5)]
    with torch.no_grad():
        expected = [unit(x) for x in inputs]
        for x in inputs:
            compiled(x)  # trace each shape once, in this thread
    failures = []

    def work(k):
        with torch.no_grad():
            for i in range(60):
                j = (i + k) % len(inputs)
                if not torch.equal(compiled(inputs[j]), expected[j]):
                    failures.append((k, i))

    before = custom_ops.calls()["native_forward"]
    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert custom_ops.calls()["native_forward"] == before + 120  # every call ran from C++
