"""The papers' architectures: parameter counts as published, activation placement, errors."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import adaptact as aa
from adaptact.models import create_model, list_models, model_info
from adaptact.units import PAU, AdaptiveGumbel, AdaptiveReLU, Blend, Maxout


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def act_count(model: nn.Module) -> int:
    return sum(p.numel() for p in aa.activation_parameters(model))


@pytest.mark.parametrize("name,kwargs,expected", [
    ("lenet", {}, 61_706),                                               # PAU paper App. A.3.1
    ("vgg8", {}, 9_224_458),                                             # PAU paper App. A.3.1
    ("vgg8_cifar", {"in_channels": 3}, 3_918_858),                       # PAU paper App. A.4.2
    ("vgg8_cifar", {"in_channels": 3, "act": "maxout"}, 7_829_642),      # PAU paper App. A.4.2
    ("smcn", {"in_channels": 3}, 1_797_514),                             # ABU paper: "roughly 1.8M"
    ("smcn10", {"in_channels": 3}, 2_010_762),                           # ABU paper: "about 2.0M"
    ("adact_convnet", {"input_size": 28}, 391_370),
    ("adact_convnet", {"in_channels": 3, "input_size": 32}, 399_626),
    ("adact_convnet", {"input_size": 48, "num_classes": 7}, 404_935),
])
def test_parameter_counts_match_the_papers(name, kwargs, expected):
    n = count(create_model(name, **kwargs))
    print(f"{name} {kwargs}: {n:,} parameters")
    assert n == expected


def test_pau_lenet_has_61746_parameters_with_four_paus():
    net = create_model("lenet", act="pau")
    assert count(net) == 61_746 and act_count(net) == 40
    assert sum(isinstance(m, PAU) for m in net.modules()) == 4
    assert count(create_model("vgg8", act="pau")) == 9_224_508


def test_adact_convnet_has_four_units_of_eight_parameters():
    assert act_count(create_model("adact_convnet", act="adact", input_size=28)) == 32


def test_farhadi_lenet5_separate_conv_and_dense_units_per_neuron():
    net = create_model("lenet5", input_size=28, act_conv="agumbel", act_fc="arelu")
    assert 0.83e6 < count(net) - act_count(net) < 0.85e6
    conv = [m for m in net.modules() if isinstance(m, AdaptiveGumbel)]
    dense = [m for m in net.modules() if isinstance(m, AdaptiveReLU)]
    assert [m.rho.shape[0] for m in conv] == [20, 50] and [m.rho.shape[0] for m in dense] == [1000]
    assert net(torch.randn(3, 1, 28, 28)).shape == (3, 10)


@pytest.mark.parametrize("name,shape,kwargs", [
    ("lenet", (2, 1, 32, 32), {}),
    ("vgg8", (2, 1, 32, 32), {"width_divisor": 8}),
    ("vgg8_cifar", (2, 3, 32, 32), {"in_channels": 3, "width_divisor": 4}),
    ("smcn", (2, 3, 32, 32), {"in_channels": 3, "width_divisor": 4}),
    ("smcn10", (2, 3, 32, 32), {"in_channels": 3, "width_divisor": 4}),
    ("smcn_s", (2, 3, 32, 32), {"in_channels": 3, "width_divisor": 4}),
    ("smcn_bn", (2, 3, 32, 32), {"in_channels": 3, "width_divisor": 4}),
    ("adact_convnet", (2, 3, 32, 32), {"in_channels": 3, "input_size": 32}),
    ("lenet5", (2, 1, 28, 28), {"input_size": 28}),
    ("mlp", (2, 1, 28, 28), {"input_size": 28, "hidden": (7, 7)}),
])
@pytest.mark.parametrize("act", ["relu", "pau", "abu", "agumbel", "maxout"])
def test_every_model_runs_forward_and_backward_with_every_kind_of_unit(name, shape, kwargs, act):
    info = model_info(name)
    acts = {a: act for a in info.act_arguments}
    torch.manual_seed(0)
    net = create_model(name, **kwargs, **acts)
    y = net(torch.randn(shape))
    assert y.shape == (2, 10)
    y.sum().backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


def test_maxout_widens_the_layer_before():
    net = create_model("lenet", act="maxout")
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [12, 32, 240]
    assert sum(isinstance(m, Maxout) for m in net.modules()) == 4


def test_smcn_variants_differ_as_the_paper_says():
    def has(name, cls):
        return any(isinstance(m, cls) for m in create_model(name, in_channels=3).modules())

    assert has("smcn", nn.Dropout) and not has("smcn_s", nn.Dropout) and not has("smcn_bn", nn.Dropout)
    assert has("smcn_s", nn.AvgPool2d) and not has("smcn", nn.AvgPool2d)
    assert has("smcn_bn", nn.BatchNorm2d) and has("smcn_bn", nn.BatchNorm1d)
    acts = [m for m in create_model("smcn10", in_channels=3, act="abu").modules() if isinstance(m, aa.ActivationUnit)]
    assert len(acts) == 10


def test_smcn_bn_can_use_batch_statistics_at_test_time():
    net = create_model("smcn_bn", in_channels=3, width_divisor=8, bn_batch_stats_at_test=True).eval()
    x = torch.randn(4, 3, 32, 32)
    a = net(x)
    b = net(torch.cat([x[:2], 5 * x[2:]]))
    assert not torch.allclose(a[:2], b[:2])  # the other images changed the statistics


def test_smcn_bn_batch_normalises_the_basis_outputs_of_its_abu_units():
    net = create_model("smcn_bn", in_channels=3, width_divisor=8, act="abu", blend_basis_batchnorm=True)
    blends = [m for m in net.modules() if isinstance(m, Blend)]
    assert len(blends) == 6 and all(m.basis_batchnorm for m in blends)
    assert net(torch.randn(4, 3, 32, 32)).shape == (4, 10)
    fixed = create_model("smcn_bn", in_channels=3, width_divisor=8, act="relu", blend_basis_batchnorm=True)
    assert not any(isinstance(m, Blend) for m in fixed.modules())  # fixed activations are left alone
    with pytest.raises(ValueError, match="blend_basis_batchnorm"):
        create_model("smcn", in_channels=3, act="abu", blend_basis_batchnorm=True)


def test_sentence_cnn():
    net = create_model("sentence_cnn", vocab_size=50, num_classes=2, act_conv="agumbel", act_fc="relu",
                       embed_dim=16, maps=8, hidden=10)
    tokens = torch.randint(1, 50, (3, 12))
    assert net(tokens).shape == (3, 2)
    assert [m.rho.shape[0] for m in net.modules() if isinstance(m, AdaptiveGumbel)] == [8, 8, 8]




def test_sentence_cnn_is_kims_layers_written_out_bit_for_bit():
    """The forward (one contiguous copy of the transposed embedding for the three convolutions) gives the bits,
    loss and every gradient of the layers applied one after the other to the transposed view."""
    torch.manual_seed(0)
    net = create_model("sentence_cnn", vocab_size=300, num_classes=2, act_conv="arelu", act_fc="relu",
                       embed_dim=40, maps=12, hidden=10).eval()
    tokens = torch.randint(0, 300, (7, 19))
    y = torch.randint(0, 2, (7,))

    def written_out(tokens):
        e = net.embedding(tokens).transpose(1, 2)
        pooled = [act(conv(e)).amax(dim=2) for conv, act in zip(net.convs, net.conv_acts)]
        return net.classifier(net.dropout(torch.cat(pooled, dim=1)))

    grads = []
    for forward in (net, written_out):
        net.zero_grad()
        loss = nn.functional.cross_entropy(forward(tokens), y)
        loss.backward()
        grads.append((loss.detach(), [p.grad.clone() for p in net.parameters()]))
    assert torch.equal(grads[0][0], grads[1][0])
    assert all(torch.equal(a, b) for a, b in zip(grads[0][1], grads[1][1]))
def test_act_as_class_or_factory():
    net = create_model("lenet", act=nn.Tanh)
    assert sum(isinstance(m, nn.Tanh) for m in net.modules()) == 4
    net = create_model("lenet", act=lambda c: aa.create("pau", num_features=c))
    assert [m.numerator.shape[0] for m in net.modules() if isinstance(m, PAU)] == [6, 16, 120, 84]


def test_model_errors_are_clear():
    with pytest.raises(ValueError, match="unknown model 'lenett'.*lenet"):
        create_model("lenett")
    with pytest.raises(ValueError, match="32x32"):
        create_model("lenet", input_size=28)
    with pytest.raises(ValueError, match="maxout"):
        create_model("sentence_cnn", vocab_size=10, act_conv="maxout")
    with pytest.raises(ValueError, match="unknown activation"):
        create_model("lenet", act="nope")
    assert "smcn_bn" in list_models()
