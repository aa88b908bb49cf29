"""Drop-in anywhere: replace_activations inside other people's models (PyTorch blocks, ResNets, call sites)."""
from __future__ import annotations

import copy
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import adaptact as aa
from adaptact.callsites import CallSites, call_site_counts
from adaptact.units import ActivationUnit


def units_of(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, ActivationUnit)]


# ---------------------------------------------------------------------------------------------- a ResNet


class Bottleneck(nn.Module):
    """torchvision's ResNet-50 block, written here: one ``self.relu`` called three times."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


def resnet_stack() -> nn.Module:
    down = nn.Sequential(nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16))
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
        Bottleneck(8, 4, downsample=down), Bottleneck(16, 4),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5),
    )


def test_call_sites_are_counted_from_the_source():
    block = Bottleneck(8, 4, downsample=nn.Conv2d(8, 16, 1))
    counts = call_site_counts(block)
    assert counts["relu"] == 3 and counts["conv1"] == 1
    assert counts["downsample"] == 1  # "if self.downsample is not None" is a test, not a use


def test_resnet_gets_one_unit_per_call_site_each_with_its_channel_count():
    torch.manual_seed(0)
    model = aa.replace_activations(resnet_stack(), "agumbel")
    block = model[3]
    assert isinstance(block.relu, CallSites) and len(block.relu.sites) == 3
    x = torch.randn(2, 3, 6, 6)
    y = model(x)
    assert [u.num_features for u in block.relu.sites] == [4, 4, 16]
    assert [u.num_features for u in model[4].relu.sites] == [4, 4, 16]
    assert model[2].num_features == 8  # stem: count from the BatchNorm before it, no lazy needed
    assert len(units_of(model)) == 7
    assert all(u.channel_dim == 1 for _, u in units_of(model))
    # the sites really compute: changing site 2 of block 0 changes the output
    with torch.no_grad():
        block.relu.sites[2].rho.fill_(2.0)
    assert not torch.allclose(model(x), y)


def test_resnet_with_sharing_keeps_one_unit_per_module():
    model = aa.replace_activations(resnet_stack(), "pau", share=True)
    assert not any(isinstance(m, CallSites) for m in model.modules())
    assert len(units_of(model)) == 3
    model(torch.randn(2, 3, 6, 6))


def test_call_sites_survive_state_dict_deepcopy_and_compile():
    torch.manual_seed(0)
    model = aa.replace_activations(resnet_stack(), "pau").eval()
    x = torch.randn(2, 3, 6, 6)
    y = model(x)
    twin = copy.deepcopy(model)
    assert torch.equal(twin(x), y)
    with torch.no_grad():  # the copy's units are its own
        twin[3].relu.sites[0].numerator.add_(0.1)
    assert torch.equal(model(x), y)
    fresh = aa.replace_activations(resnet_stack(), "pau").eval()
    fresh.load_state_dict(model.state_dict())
    assert torch.equal(fresh(x), y)


@pytest.mark.slow
@pytest.mark.compile
def test_call_sites_under_torch_compile():
    torch.manual_seed(0)
    model = aa.replace_activations(resnet_stack(), "pau").eval()
    x = torch.randn(2, 3, 6, 6)
    compiled = torch.compile(model)
    torch.testing.assert_close(compiled(x), model(x))


def test_more_calls_than_call_sites_is_an_error():
    class Looped(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)
            self.act = nn.ReLU()

        def forward(self, x):
            for _ in range(3):
                x = self.act(self.lin(x))
            return x

    model = aa.replace_activations(Looped(), "pau", start="default")
    assert isinstance(model.act, nn.Module)
    model(torch.randn(2, 4))  # one call site in a loop: one unit
    model(torch.randn(2, 4))


def test_a_module_handed_on_is_guarded():
    class Passes(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)
            self.act = nn.ReLU()

        def forward(self, x):
            return apply_twice(self.act, self.lin(x))

    model = aa.replace_activations(Passes(), "pau", start="default")
    assert isinstance(model.act, CallSites) and len(model.act.sites) == 1
    with pytest.raises(RuntimeError, match=r"act was called 2 times .*does not show its calls.* share=True"):
        model(torch.randn(2, 4))
    shared = aa.replace_activations(Passes(), "pau", share=True, start="default")
    shared(torch.randn(2, 4))


def apply_twice(f, x):
    return f(f(x))


# ---------------------------------------------------------------------------------------------- slots


def test_a_module_registered_at_two_slots_becomes_two_units():
    r = nn.ReLU()
    model = nn.Sequential(nn.Linear(4, 4), r, nn.Linear(4, 4), r)
    aa.replace_activations(model, "pau", start="default")
    assert isinstance(model[1], ActivationUnit) and isinstance(model[3], ActivationUnit)
    assert model[1] is not model[3]

    class Aliased(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)
            self.a = self.b = nn.ReLU()

        def forward(self, x):
            return self.b(self.lin(self.a(x)))

    m = aa.replace_activations(Aliased(), "pau", start="default")
    assert isinstance(m.a, ActivationUnit) and isinstance(m.b, ActivationUnit) and m.a is not m.b
    kept = aa.replace_activations(Aliased(), "pau", start="default", share=True)
    assert kept.a is kept.b


def test_transformer_encoder_layer_fast_path_uses_the_new_unit():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, activation=nn.ReLU(), batch_first=True,
                                       dropout=0.0)
    original = copy.deepcopy(layer).eval()
    aa.replace_activations(layer, "pau", init="tanh")
    layer.eval()
    x = torch.randn(2, 5, 8)
    with torch.no_grad():
        fast = layer(x)
        plain = original(x)
    assert not torch.allclose(fast, plain)  # not the fused ReLU path
    with torch.no_grad():  # equals the same layer computed without the fast path
        layer.train()
        slow = layer(x)
    torch.testing.assert_close(fast, slow)


# ---------------------------------------------------------------------------------------------- gates


def test_gates_and_outputs_are_kept_and_reported():
    class SE(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.fc = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, c, 1), nn.ReLU(), nn.Conv2d(c, c, 1),
                                    nn.Sigmoid())

        def forward(self, x):
            return x * self.fc(x)

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Tanh(), SE(4), nn.Flatten(), nn.LazyLinear(1), nn.Sigmoid())
    with pytest.warns(UserWarning, match=r"replaced 2 of 4 .*kept .*sigmoid: a gate or output") as caught:
        aa.replace_activations(model, "pau", start="default")
    message = str(caught[0].message)
    assert "2.fc.4 (sigmoid" in message and "5 (sigmoid" in message
    assert isinstance(model[1], ActivationUnit)  # tanh feeding a layer: hidden
    assert isinstance(model[2].fc[2], ActivationUnit)
    assert isinstance(model[2].fc[4], nn.Sigmoid) and isinstance(model[5], nn.Sigmoid)
    everything = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sigmoid())
    aa.replace_activations(everything, "pau", include_gates=True, start="default")
    assert isinstance(everything[1], ActivationUnit)


# ---------------------------------------------------------------------------------------------- feature axis


def test_per_channel_units_take_the_feature_axis_of_the_layer_before():
    model = nn.Sequential(nn.Linear(6, 12), nn.GELU(), nn.Linear(12, 3))
    aa.replace_activations(model, "arelu")
    unit = model[1]
    assert unit.channel_dim == -1 and unit.num_features == 12
    y = model(torch.randn(2, 9, 6))  # (B, T, D): the features are last, not T
    assert y.shape == (2, 9, 3)
    model(torch.randn(2, 4, 6))  # another sequence length


def test_an_undecidable_feature_axis_is_refused_naming_the_module():
    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(4, 4, 1)
            self.lin = nn.Linear(4, 4)
            self.act = nn.ReLU()

        def forward(self, x):
            return self.lin(self.act(self.conv(x)).transpose(1, 2))

    with pytest.raises(ValueError, match=r"feature axis of act .*channel_dim=1 .*channel_dim=-1"):
        aa.replace_activations(Mixed(), "agumbel")
    model = aa.replace_activations(Mixed(), "agumbel", channel_dim={"act": 1})
    model(torch.randn(2, 4, 7))
    assert model.act.num_features == 4
    aa.replace_activations(Mixed(), "pau", start="default")  # per layer: no axis needed


def test_channel_dim_out_of_range_is_a_clear_error():
    unit = aa.create("agumbel", num_features=4, channel_dim=3)
    with pytest.raises(ValueError, match=r"channel_dim=3 is out of range for an input of shape \(2, 4\)"):
        unit(torch.randn(2, 4))
    with pytest.raises(ValueError, match="channel_dim must be an int"):
        aa.create("agumbel", num_features=4, channel_dim="last")


def test_lazy_unit_reads_its_count_from_channel_dim():
    unit = aa.create("metaneuron", num_features="lazy", channel_dim=-1)
    x = torch.randn(3, 5, 7)
    y = unit(x)
    assert unit.num_features == 7 and y.shape == x.shape and y.is_contiguous()


# ---------------------------------------------------------------------------------------------- start as replaced


def test_units_start_as_the_function_they_replaced():
    x = torch.linspace(-3, 3, 301)
    for old, name, tol in [(nn.ReLU(), "abu", 0.0), (nn.SiLU(), "abu", 1e-6), (nn.ReLU(), "mixture", 0.0),
                           (nn.GELU(), "scaled", 0.0), (nn.ELU(), "affine", 1e-6), (nn.Sigmoid(), "agumbel", 1e-6),
                           (nn.GELU(), "pau", 0.05), (nn.ELU(), "pau", 0.05), (nn.SiLU(), "pau", 0.05)]:
        model = nn.Sequential(nn.Linear(2, 2), copy.deepcopy(old), nn.Linear(2, 2))
        aa.replace_activations(model, name, num_features=None)
        with torch.no_grad():
            err = (model[1](x) - old(x)).abs().max().item()
        assert err <= tol, (old, name, err)
    report = aa.replacement_report(model)
    assert "1 | silu -> pau | layer | fitted to silu" in report


def test_default_start_keeps_the_papers_initialisation():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2))
    aa.replace_activations(model, "abu", start="default")
    assert torch.allclose(model[1].weight, torch.full((5,), 0.2))


# ---------------------------------------------------------------------------------------------- memory format


@pytest.mark.parametrize("name,nf", [("pau", None), ("agumbel", 6), ("abu", None), ("metaneuron", 6), ("apl", 6)])
def test_channels_last_in_channels_last_out_with_the_same_values(name, nf):
    torch.manual_seed(0)
    unit = aa.create(name, num_features=nf)
    x = torch.randn(2, 6, 5, 5)
    xl = x.to(memory_format=torch.channels_last)
    y, yl = unit(x), unit(xl)
    assert yl.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(yl, y)
    xl.requires_grad_(True)
    unit(xl).square().sum().backward()
    x.requires_grad_(True)
    unit(x).square().sum().backward()
    torch.testing.assert_close(xl.grad, x.grad)


def test_features_last_equals_moving_the_channels_to_dim_1():
    torch.manual_seed(0)
    last = aa.create("arelu", num_features=5, channel_dim=-1)
    first = aa.create("arelu", num_features=5)
    with torch.no_grad():
        last.rho.copy_(torch.randn(5))
        first.rho.copy_(last.rho)
    x = torch.randn(3, 4, 5)
    torch.testing.assert_close(last(x), first(x.transpose(1, 2)).transpose(1, 2))
    y = last(x.transpose(0, 1))  # a non-standard layout of the same data
    torch.testing.assert_close(y, last(x).transpose(0, 1))


# ---------------------------------------------------------------------------------------------- save and load


def test_save_and_load_a_replaced_model_in_a_fresh_process(tmp_path):
    torch.manual_seed(0)
    model = aa.replace_activations(resnet_stack(), "agumbel").eval()
    x = torch.randn(2, 3, 6, 6)
    model(x)
    torch.save(x, tmp_path / "x.pt")
    torch.save(model(x), tmp_path / "y.pt")
    aa.save_model(model, tmp_path / "model.pt")
    script = textwrap.dedent(f"""
        import sys, torch
        sys.path.insert(0, {str(__file__.rsplit('/', 1)[0])!r})
        import adaptact as aa
        from test_dropin import resnet_stack
        model = aa.load_model(resnet_stack(), {str(tmp_path / 'model.pt')!r}).eval()
        x = torch.load({str(tmp_path / 'x.pt')!r})
        assert torch.equal(model(x), torch.load({str(tmp_path / 'y.pt')!r}))
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_loading_into_another_architecture_names_the_module(tmp_path):
    model = aa.replace_activations(resnet_stack(), "pau", start="default")
    aa.save_model(model, tmp_path / "m.pt")
    with pytest.raises(ValueError, match=r"no module '2' to replace; is it built from the same architecture"):
        aa.load_model(nn.Sequential(nn.Linear(2, 2)), tmp_path / "m.pt")


def test_a_factory_replacement_cannot_be_saved(tmp_path):
    model = aa.replace_activations(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), lambda: nn.Tanh(), targets=[nn.ReLU])
    with pytest.raises(ValueError, match="user factory"):
        aa.save_model(model, tmp_path / "m.pt")


def test_replacing_nothing_warns():
    with pytest.warns(UserWarning, match="replaced nothing"):
        aa.replace_activations(nn.Sequential(nn.Linear(2, 2)), "pau")


def test_f_relu_in_forward_is_not_a_module():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)

        def forward(self, x):
            return F.relu(self.lin(x))

    with pytest.warns(UserWarning, match="called as functions"):
        aa.replace_activations(Functional(), "pau")


def test_call_sites_under_ddp(tmp_path):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        model = aa.replace_activations(resnet_stack(), "pau")
        ddp = DistributedDataParallel(model)
        x = torch.randn(2, 3, 6, 6)
        ddp(x).square().mean().backward()
        grads = [p.grad for p in aa.activation_parameters(model)]
        assert len(grads) == 14 and all(g is not None and torch.isfinite(g).all() for g in grads)
    finally:
        dist.destroy_process_group()
