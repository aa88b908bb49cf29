"""The C++ autograd node of served CPU calls (adaptact.kernels.native_node): the same bits as the Python
node for every fused family, layout, dtype and stride; the same saved tensors; double backward through the
reference; a clear fallback when it cannot be built or loaded."""
import pytest
import torch

import adaptact as aa
import adaptact.kernels as K
from adaptact.kernels import backends, native_node

needs_c = pytest.mark.skipif("c" not in K.available(), reason="no C compiler: no fused CPU path")


@pytest.fixture(scope="module")
def native():
    if "c" not in K.available():
        pytest.skip("no C compiler: no fused CPU path")
    if not native_node.wait(timeout=300):
        pytest.skip(f"no C++ autograd node here: {native_node.problem()}")
    return native_node


#: every family a served signature can have: deterministic with gathered parameters, stochastic (RPAU in
#: training; AdAct's RReLU), and with a packing that computes (normalised blends, AdAct)
UNITS = ["scaled", "scaled_tanh", "pau", "swish_beta", "arelu", "agumbel", "agsig", "abu", "affine", "apl", "srelu",
         "metaneuron", "vaf", "slaf", "frelu", "cdf_gumbel", "arelu_gumbel", "rpau", "adact", "abu_soft", "abu_nrm",
         "abu_abs", "abu_pos"]


def _fused_node(y) -> str:
    """The name of the fused node in y's graph (the C++ or the Python one), else of y's own node."""
    todo, seen = [y.grad_fn], set()
    while todo:
        fn = todo.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        if type(fn).__name__ in ("CppFunction", "FusedUnitBackward"):
            return type(fn).__name__
        todo.extend(f for f, _ in fn.next_functions)
    return type(y.grad_fn).__name__


def _step(unit, x, dy):
    """One forward+backward; the fused node's name, y, dx and the parameters' gradients."""
    for p in unit.parameters():
        p.grad = None
    if x.requires_grad:
        x.grad = None
    torch.manual_seed(123)  # the seed a stochastic call draws
    y = unit(x)
    y.backward(dy)
    return (_fused_node(y), y.detach().clone(), None if x.grad is None else x.grad.clone(),
            [None if p.grad is None else p.grad.clone() for p in unit.parameters()])


def _same(a, b):
    return all((u is None and v is None) or (u is not None and v is not None and u.dtype == v.dtype and torch.equal(u, v))
               for u, v in zip([a[1], a[2], *a[3]], [b[1], b[2], *b[3]]))


def _both_nodes(unit, x, dy):
    """The step through the Python node (first call, then forced) and through the C++ node (a served call)."""
    first = _step(unit, x, dy)
    native = _step(unit, x, dy)
    was = native_node.set_enabled(False)
    try:
        python = _step(unit, x, dy)
    finally:
        native_node.set_enabled(was)
    return first, native, python


#: (input shape, num_features): one row per layer; per-channel rows (H W >= 128); per-channel columns
LAYOUTS = [((7, 13), None), ((2, 3, 16, 9), 3), ((5, 3, 7), 3)]


@pytest.mark.parametrize("layout", LAYOUTS, ids=["layer", "channel-rows", "channel-columns"])
@pytest.mark.parametrize("name", UNITS)
def test_the_cpp_node_gives_the_python_nodes_bits(native, name, layout):
    shape, features = layout
    torch.manual_seed(0)
    unit = aa.create(name, num_features=features)
    with torch.no_grad():  # parameters off their initial values, so that every gradient is exercised
        for p in unit.parameters():
            p.add_(0.05 * torch.randn_like(p))
    x = torch.randn(shape, requires_grad=True)
    dy = torch.randn(shape)
    first, via_cpp, via_python = _both_nodes(unit, x, dy)
    assert first[0] == "FusedUnitBackward" and via_python[0] == "FusedUnitBackward"
    assert via_cpp[0] == "CppFunction", f"{name}: the served call did not take the C++ node"
    assert _same(via_cpp, via_python) and _same(first, via_python)


@pytest.mark.parametrize("case", ["float16", "bfloat16", "strided", "frozen-parameters", "constant-input"])
def test_the_cpp_node_handles_dtypes_strides_and_partial_gradients(native, case):
    torch.manual_seed(1)
    unit = aa.create("pau", num_features=4)
    base = torch.randn(3, 4, 6, 30)
    x = base.to(getattr(torch, case)) if case in ("float16", "bfloat16") else base
    if case == "strided":
        x = base.transpose(2, 3)[..., ::2]
    if case == "frozen-parameters":
        unit.requires_grad_(False)
    x = x.detach().requires_grad_(case != "constant-input")
    dy = torch.randn(x.shape, dtype=x.dtype)
    first, via_cpp, via_python = _both_nodes(unit, x, dy)
    assert via_cpp[0] == "CppFunction" and _same(via_cpp, via_python)
    assert via_cpp[1].dtype == x.dtype and (via_cpp[2] is None) == (case == "constant-input")
    assert all(g is None for g in via_cpp[3]) == (case == "frozen-parameters")


def test_the_cpp_node_saves_only_the_input_and_the_parameters(native):
    unit = aa.create("pau", num_features=3)
    x = torch.randn(4, 3, 8, 16, requires_grad=True)
    unit(x)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        y = unit(x)
    assert type(y.grad_fn).__name__ == "CppFunction"
    assert sorted(t.data_ptr() for t in saved) == sorted([x.data_ptr(), *[p.data_ptr() for p in unit.parameters()]])


@pytest.mark.parametrize("name", ["pau", "abu", "metaneuron", "rpau", "adact", "abu_soft"])
def test_double_backward_through_the_cpp_node_follows_the_reference(native, name):
    """A gradient penalty: the C++ node's backward with create_graph=True differentiates the reference (a
    stochastic call with the kernel's draws), as the Python node's does."""
    torch.manual_seed(2)
    unit = aa.create(name, num_features=3)

    def penalty_grads():
        x = torch.randn(5, 3, 7, generator=torch.Generator().manual_seed(3)).requires_grad_(True)
        torch.manual_seed(4)
        y = unit(x)
        (gx,) = torch.autograd.grad(y.square().sum(), x, create_graph=True)
        for p in unit.parameters():
            p.grad = None
        gx.square().sum().backward()
        return _fused_node(y), [p.grad.clone() for p in unit.parameters()]

    penalty_grads()
    kind, via_cpp = penalty_grads()
    was = native_node.set_enabled(False)
    try:
        python_kind, via_python = penalty_grads()
    finally:
        native_node.set_enabled(was)
    assert (kind, python_kind) == ("CppFunction", "FusedUnitBackward")
    for got, want in zip(via_cpp, via_python):
        assert torch.equal(got, want)
    if name not in ("rpau", "adact"):  # deterministic: the reference itself
        with K.use("reference"):
            _, reference = penalty_grads()
        for got, want in zip(via_cpp, reference):
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_switched_off_the_served_calls_take_the_python_node(native):
    unit = aa.create("scaled")
    x = torch.randn(6, 5, requires_grad=True)
    unit(x)
    was = native_node.set_enabled(False)
    try:
        assert type(unit(x).grad_fn).__name__ == "FusedUnitBackward"
        assert native_node.problem().startswith("turned off")
    finally:
        native_node.set_enabled(was)
    assert type(unit(x).grad_fn).__name__ == "CppFunction"


def test_a_bad_registration_is_refused_with_a_clear_message(native):
    prepare = torch.ops.adaptact_native.prepare
    with pytest.raises(RuntimeError, match="x_index out of range"):
        prepare(0, 0, 0, 0, False, 1, 1, 1, 1, 1, 5, [0, 1], -1, True, None, False, "", -1, -1, 1e-12)
    with pytest.raises(RuntimeError, match="needs its int64 index"):
        prepare(0, 0, 0, 0, False, 1, 1, 1, 1, 1, 0, [0, 1], -1, False, None, False, "", -1, -1, 1e-12)
    with pytest.raises(RuntimeError, match="unknown normalization 'bogus'"):
        prepare(0, 0, 0, 0, False, 1, 1, 1, 1, 1, 0, [0, 1], -1, True, None, True, "bogus", 1, -1, 1e-12)
    for weights, params in ((0, -1), (2, -1), (1, 1), (-1, -1)):  # the input, out of range, twice, absent
        with pytest.raises(RuntimeError, match="computed theta needs its weights"):
            prepare(0, 0, 0, 0, False, 1, 1, 1, 1, 1, 0, [0, 1], -1, True, None, True, "softmax", weights, params,
                    1e-12)
    with pytest.raises(RuntimeError, match="unknown handle"):
        torch.ops.adaptact_native.call(10**9, 0, None, [torch.randn(3)])


@pytest.mark.parametrize("name", ["adact", "abu_soft", "abu_nrm", "abu_abs", "abu_pos"])  # plain ABU: a gather
def test_a_blend_served_by_the_cpp_node_makes_its_theta_there(native, name, monkeypatch):
    """After the first call no Python packing runs (the C++ node computes the normalised weights with the
    same torch operations: the bit test above); with the node off, the Python packing serves again."""
    monkeypatch.setattr(backends, "_PLANS", {})
    unit, x = aa.create(name, num_features=3), torch.randn(4, 3, 8, requires_grad=True)
    unit(x).sum().backward()  # first call: served by the general path
    calls = []
    original = backends.THETAS["blend"]
    monkeypatch.setitem(backends.THETAS, "blend", lambda *a, **k: calls.append(1) or original(*a, **k))
    ready = next(v for k, v in backends._PLANS.items() if k[0] is backends._READY)
    assert ready.theta is original and ready.native is None
    monkeypatch.setattr(ready, "theta", backends.THETAS["blend"])
    for _ in range(2):
        y = unit(x)
        y.sum().backward()
    assert _fused_node(y) == "CppFunction" and ready.packs and len(calls) == 1  # the call that prepared
    was = native_node.set_enabled(False)
    try:
        y = unit(x)
    finally:
        native_node.set_enabled(was)
    assert _fused_node(y) == "FusedUnitBackward" and len(calls) == 2


@pytest.mark.parametrize("name, inside", [("adact", True), ("abu_soft", True), ("abu_nrm", False)])
def test_a_softmax_blend_has_no_autograd_node_but_the_cpp_one(native, name, inside):
    """AdAct's and ABU-softmax's weights are normalised inside the C++ node and differentiated there (torch's
    softmax backward kernel: the bit test above), so the graph of a served call is the node and the
    parameters' AccumulateGrad nodes; the other normalisations keep their autograd nodes."""
    unit, x = aa.create(name, num_features=3), torch.randn(4, 3, 8, requires_grad=True)
    unit(x)
    y = unit(x)
    assert type(y.grad_fn).__name__ == "CppFunction"
    kinds = {type(f).__name__ for f, _ in y.grad_fn.next_functions if f is not None}
    assert (kinds == {"AccumulateGrad"}) == inside, kinds


@needs_c
def test_without_a_cpp_compiler_the_python_node_serves_and_says_why(monkeypatch):
    monkeypatch.setattr(native_node._State, "enabled", True)  # also where ADAPTACT_NATIVE_NODE=0 turned it off
    monkeypatch.setattr(native_node, "_cxx", lambda: None)
    monkeypatch.setattr(native_node._State, "stage", "building")
    monkeypatch.setattr(native_node._State, "problem", None)
    native_node._build()
    assert native_node._State.stage == "failed" and "no C++ compiler" in native_node.problem()
    assert not native_node.ready()
    monkeypatch.setattr(backends, "_PLANS", {})
    unit = aa.create("scaled")
    x = torch.randn(4, 3, requires_grad=True)
    unit(x)
    assert type(unit(x).grad_fn).__name__ == "FusedUnitBackward"


def test_a_damaged_built_node_is_not_loaded(monkeypatch, tmp_path):
    damaged = tmp_path / "adaptact_native_x.so"
    damaged.write_bytes(b"not a library")
    monkeypatch.setattr(native_node._State, "enabled", True)
    monkeypatch.setattr(native_node._State, "stage", "built")
    monkeypatch.setattr(native_node._State, "library", damaged)
    monkeypatch.setattr(native_node._State, "problem", None)
    native_node._load()
    assert native_node._State.stage == "failed" and "damaged" in native_node.problem()


@needs_c
def test_a_process_that_exits_during_the_build_leaves_no_compiler_and_no_scratch(tmp_path):
    """The build runs in the background; exiting stops it (else cc1plus would outlive the process)."""
    import os
    import subprocess
    import sys
    import time

    script = (
        "import time, torch, adaptact as aa\n"
        "from adaptact.kernels import native_node as n\n"
        "u = aa.create('scaled'); x = torch.randn(3, 4); u(x); u(x)\n"
        "for _ in range(100):\n"
        "    if n._State.process is not None: break\n"
        "    time.sleep(0.05)\n"
        "print(n._State.process.pid if n._State.process is not None else -1)\n"
    )
    env = {**os.environ, "ADAPTACT_CACHE": str(tmp_path), "ADAPTACT_NATIVE_NODE": "1"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout.split()[-1])
    assert pid > 0, "the build did not start"
    for _ in range(100):  # the killed compiler's processes are gone once init has reaped them
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the compiler outlived the process")
    assert not list(tmp_path.rglob("native-build-*")) and not list(tmp_path.rglob("adaptact_native_*.so"))


def test_a_build_removes_the_scratch_left_by_a_killed_build(monkeypatch, tmp_path):
    stale = tmp_path / "native-build-old"
    stale.mkdir()
    (stale / "native.so").write_bytes(b"half written")
    monkeypatch.setattr(native_node, "_command", lambda cxx, source, out: ["false"])
    with pytest.raises(RuntimeError, match="failed"):
        native_node._compile("false", tmp_path / "adaptact_native_x.so")
    assert not stale.exists() and not list(tmp_path.glob("native-build-*"))


@pytest.mark.parametrize("name", ["rpau", "adact"])
def test_the_cpp_node_draws_a_stochastic_calls_seed_as_torch_randint_does(native, name):
    """The node draws the seed from torch's default generator itself: the draw and the generator's state after
    it are those of kernels.fused.draw_seed (torch.randint), so runs stay reproducible under manual_seed and the
    random numbers drawn after a call are the same on either node."""
    from adaptact.kernels.fused import _SEED_RANGE

    unit = aa.create(name, num_features=3).train()
    x = torch.randn(5, 3, 7)
    unit(x)  # the first call plans the signature; the served ones below take the C++ node
    torch.manual_seed(11)
    y = unit(x)
    after = torch.rand(3)
    assert type(y.grad_fn).__name__ == "CppFunction"
    torch.manual_seed(11)
    torch.randint(0, _SEED_RANGE, (1,))  # draw_seed's draw on the Python node
    assert torch.equal(torch.rand(3), after)
    was = native_node.set_enabled(False)
    try:
        torch.manual_seed(11)
        assert torch.equal(unit(x), y)  # the Python node draws with torch.randint
    finally:
        native_node.set_enabled(was)
