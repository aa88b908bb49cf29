"""adaptact's C max pooling equals torch's F.max_pool2d bit for bit, forward, backward and double backward,
and leaves every call it does not serve to torch."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from adaptact import kernels
from adaptact.kernels import c_build
from adaptact.kernels import max_pool as M
from adaptact.models.layers import MaxPool2d, SamePadMaxPool2d

pytestmark = pytest.mark.skipif(c_build.compiler() is None, reason="needs a C compiler")

CASES = [((4, 20, 24, 24), 2, 2), ((3, 5, 7, 9), 2, 2), ((2, 4, 17, 17), 3, 2), ((2, 3, 9, 11), (2, 3), (1, 2)),
         ((5, 6, 6), 2, 2), ((1, 2, 5, 5), 5, 1), ((2, 2, 8, 8), 2, 1), ((1, 1, 31, 33), (4, 3), (3, 2)),
         ((5, 10, 8, 8), 2, 2), ((2, 3, 40, 40), 2, 2), ((7, 9, 11, 11), 3, 2)]  # groups of planes, a remainder, one plane a group


def bits(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(torch.int32)


def sample(shape, kind: str, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if kind == "ties":  # few distinct values: equal maxima in most windows
        return torch.randint(-2, 3, shape, generator=g).float()
    x = torch.randn(shape, generator=g)
    if kind == "specials":
        u = torch.rand(shape, generator=g)
        x[u < 0.1] = float("nan")
        x[(u >= 0.1) & (u < 0.2)] = float("-inf")
        x[(u >= 0.2) & (u < 0.25)] = float("inf")
        x[(u >= 0.25) & (u < 0.35)] = -0.0
    if kind == "all-minus-inf":
        x[:] = float("-inf")
    return x


def both(x: torch.Tensor, k, s, grad: torch.Tensor | None = None):
    """(ours, torch's): outputs and input gradients for the same output gradient."""
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = M.max_pool2d(a, k, s), F.max_pool2d(b, k, s)
    g = torch.randn(ya.shape, generator=torch.Generator().manual_seed(1)) if grad is None else grad
    ya.backward(g)
    yb.backward(g)
    return (ya, a.grad), (yb, b.grad)


@pytest.mark.parametrize("kind", ["randn", "ties", "specials", "all-minus-inf"])
@pytest.mark.parametrize("shape, k, s", CASES)
def test_values_and_gradients_are_torchs_bit_for_bit(shape, k, s, kind):
    x = sample(shape, kind)
    assert M.served(x, k, s) is not None
    (ya, ga), (yb, gb) = both(x, k, s)
    assert ya.shape == yb.shape and torch.equal(bits(ya), bits(yb))
    assert torch.equal(bits(ga), bits(gb))  # overlapping windows sum in torch's order, signed zeros included


def test_equal_maxima_send_the_gradient_where_torch_sends_it():
    x = torch.tensor([[[[1.0, 3.0], [3.0, 3.0]]]])  # three equal maxima: torch takes the first (row-major)
    (_, ga), (_, gb) = both(x, 2, 2, grad=torch.ones(1, 1, 1, 1))
    assert ga.flatten().tolist() == gb.flatten().tolist() == [0.0, 1.0, 0.0, 0.0]
    x = torch.tensor([[[[float("nan"), 1.0], [float("nan"), 5.0]]]])  # NaNs: torch takes the last one
    (ya, ga), (yb, gb) = both(x, 2, 2, grad=torch.ones(1, 1, 1, 1))
    assert ya.isnan().all() and ga.flatten().tolist() == gb.flatten().tolist() == [0.0, 0.0, 1.0, 0.0]


@pytest.mark.parametrize("shape, k, s", [((3, 4, 12, 12), 2, 2), ((2, 3, 11, 11), 3, 2)])
def test_double_backward_a_gradient_penalty_equals_torchs(shape, k, s):
    x = sample(shape, "randn")
    w = torch.randn(shape[:-2] + ((shape[-2] - k) // s + 1,) * 2, generator=torch.Generator().manual_seed(2))

    scale = 1.0 + torch.rand(shape, generator=torch.Generator().manual_seed(3))

    def penalty(pool):
        """A WGAN-GP-like penalty: the squared norm of d(critic)/d(input), differentiated for the parameters."""
        xx, ww, pp = x.clone().requires_grad_(), w.clone().requires_grad_(), scale.clone().requires_grad_()
        (g,) = torch.autograd.grad((pool(xx * pp, k, s) * ww).sum(), xx, create_graph=True)
        return (g, *torch.autograd.grad((g * g).sum(), (ww, pp)))

    ours, theirs = penalty(M.max_pool2d), penalty(F.max_pool2d)
    assert all(torch.equal(bits(a), bits(b)) for a, b in zip(ours, theirs))
    assert ours[1].abs().sum() > 0  # the penalty does reach the weights after the pooling


def test_third_order_is_closed_scatter_gather_scatter():
    """The input gradient is a scatter of the output gradient; its derivative a gather at the same positions;
    that one's a scatter again (torch's pooling backward of the same gradient)."""
    x = sample((2, 2, 6, 6), "randn").requires_grad_()
    v = torch.randn(2, 2, 6, 6, generator=torch.Generator().manual_seed(3), requires_grad=True)
    y = M.max_pool2d(x, 2, 2)
    gy = torch.randn(y.shape, generator=torch.Generator().manual_seed(4), requires_grad=True)
    (scattered,) = torch.autograd.grad(y, x, gy, create_graph=True)
    (gathered,) = torch.autograd.grad((scattered * v).sum(), gy, create_graph=True)
    (again,) = torch.autograd.grad((gathered * gathered).sum(), v)
    xx = x.detach().clone().requires_grad_()
    F.max_pool2d(xx, 2, 2).backward(2 * gathered.detach())
    assert torch.equal(again, xx.grad)
    yy = F.max_pool2d(x.detach(), 2, 2, return_indices=True)[1]
    assert torch.equal(gathered, v.detach().flatten(2).gather(2, yy.flatten(2)).view_as(gathered))


@pytest.mark.parametrize("call, why", [
    (lambda x: (x.double(), dict(kernel_size=2)), "float64"),
    (lambda x: (x.half(), dict(kernel_size=2)), "float16"),
    (lambda x: (x.contiguous(memory_format=torch.channels_last), dict(kernel_size=2)), "channels last"),
    (lambda x: (x.transpose(-1, -2), dict(kernel_size=2)), "not contiguous"),
    (lambda x: (x, dict(kernel_size=2, padding=1)), "padding"),
    (lambda x: (x, dict(kernel_size=2, dilation=2)), "dilation"),
    (lambda x: (x, dict(kernel_size=3, stride=2, ceil_mode=True)), "ceil mode"),
    (lambda x: (x, dict(kernel_size=2, return_indices=True)), "indices"),
    (lambda x: (x.bfloat16(), dict(kernel_size=2)), "bfloat16"),
    (lambda x: (x, dict(kernel_size=(16, 16), stride=1)), "more than 255 window positions"),
])
def test_every_call_it_does_not_serve_is_torchs(call, why):
    x, kwargs = call(sample((2, 3, 16, 16), "ties"))
    assert M.served(x, **kwargs) is None, why
    ours, theirs = M.max_pool2d(x, **kwargs), F.max_pool2d(x, **kwargs)
    ours, theirs = (ours, theirs) if isinstance(ours, tuple) else ((ours,), (theirs,))
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs))


def test_forced_reference_kernels_and_transforms_use_torch():
    x = sample((2, 3, 8, 8), "randn")
    with kernels.use("reference"):
        assert M.served(x, 2) is None
    out = torch.func.vmap(lambda t: M.max_pool2d(t, 2))(x)  # an autograd.Function would fail under vmap
    assert torch.equal(out, F.max_pool2d(x, 2))


def test_compiled_fullgraph_keeps_torchs_pooling():
    model = MaxPool2d(2)
    x = sample((2, 3, 8, 8), "randn")
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    assert torch.equal(compiled(x), F.max_pool2d(x, 2))


def test_the_models_pooling_modules_are_torchs_module_computed_here(monkeypatch):
    """A LeNet-5 training step with the C pooling equals the same step with torch's, bit for bit."""
    from adaptact.models.lenet import LeNet5

    def trained(pooling_served: bool) -> list[torch.Tensor]:
        if not pooling_served:
            monkeypatch.setattr(M, "served", lambda *a, **k: None)
        torch.manual_seed(0)
        model = LeNet5(act_conv="relu", act_fc="relu")
        assert any(isinstance(m, torch.nn.MaxPool2d) and type(m) is MaxPool2d for m in model.modules())
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        g = torch.Generator().manual_seed(5)
        for _ in range(3):
            x, y = torch.randn(8, 1, 28, 28, generator=g), torch.randint(0, 10, (8,), generator=g)
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        monkeypatch.undo()
        return [p.detach().clone() for p in model.parameters()]

    assert all(torch.equal(bits(a), bits(b)) for a, b in zip(trained(True), trained(False)))


def test_same_padding_pooling_is_served_and_unchanged(monkeypatch):
    pool = SamePadMaxPool2d(3, 2)
    x = sample((2, 4, 15, 15), "ties")
    assert M.served(F.pad(x, [1, 1, 1, 1], value=float("-inf")), 3, 2) is not None

    def pooled():
        xx = x.clone().requires_grad_()
        y = pool(xx)
        y.backward(torch.ones_like(y))
        return y, xx.grad

    (ya, ga) = pooled()
    monkeypatch.setattr(M, "served", lambda *a, **k: None)
    (yb, gb) = pooled()
    assert ya.shape == (2, 4, 8, 8) and torch.equal(bits(ya), bits(yb)) and torch.equal(bits(ga), bits(gb))


def test_two_threads_give_the_same_bits():
    x = sample((8, 16, 32, 32), "ties")  # above the size where the planes are shared out between threads
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        (ya, ga), (yb, gb) = both(x, 2, 2)
        (y3, g3), (y3t, g3t) = both(x, 3, 2)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(bits(ya), bits(yb)) and torch.equal(bits(ga), bits(gb))
    assert torch.equal(bits(y3), bits(y3t)) and torch.equal(bits(g3), bits(g3t))
