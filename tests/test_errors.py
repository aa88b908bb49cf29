"""Bad input is rejected with a clear message that names the problem."""
from __future__ import annotations

import pytest
import torch

import adaptact as aa


def test_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError) as err:
        aa.create("paux")
    msg = str(err.value)
    assert "paux" in msg and "Did you mean 'pau'" in msg
    for name in ("relu", "abu", "adact", "agumbel", "metaneuron", "srelu"):
        assert name in msg


def test_unknown_option_is_named():
    with pytest.raises(ValueError, match="'degree'.*options are.*degrees"):
        aa.create("pau", degree=3)


@pytest.mark.parametrize("name,opts,option", [
    ("pau", {"degrees": (-1, 4)}, "degrees"),
    ("pau", {"degrees": (5, -2)}, "degrees"),
    ("pau", {"degrees": (5,)}, "degrees"),
    ("pau", {"degrees": (2.5, 1)}, "degrees"),
    ("pau", {"form": "C"}, "form"),
    ("pau", {"init": "cubic"}, "init"),
    ("rpau", {"delta": -0.1}, "delta"),
    ("abu", {"normalization": "l2"}, "normalization"),
    ("abu", {"basis": ("relu", "nope")}, "basis"),
    ("abu", {"basis": ()}, "basis"),
    ("abu", {"init": [1, 2]}, "init"),
    ("arelu", {"cdf": "gauss"}, "cdf"),
    ("agumbel", {"alpha": 0.0}, "alpha"),
    ("metaneuron", {"width": 0}, "width"),
    ("metaneuron", {"depth": 0}, "depth"),
    ("metaneuron", {"inner": "rrelu"}, "inner"),
    ("vaf", {"inner": "swish_beta"}, "inner"),
    ("apl", {"hinges": 0}, "hinges"),
    ("slaf", {"degree": -1}, "degree"),
    ("scaled_relu", {"base": "nope"}, "base"),
    ("pau", {"num_features": 0}, "num_features"),
    ("pau", {"num_features": -3}, "num_features"),
    ("pau", {"num_features": "many"}, "num_features"),
    ("relu", {"num_features": 2.5}, "num_features"),
    ("maxout", {"k": 0}, "k"),
])
def test_invalid_option_raises_value_error_naming_it(name, opts, option):
    with pytest.raises(ValueError, match=option):
        aa.create(name, **opts)


@pytest.mark.parametrize("name", ["pau", "abu", "adact", "agumbel", "arelu", "scaled_relu", "swish_beta",
                                  "metaneuron", "vaf", "apl", "srelu", "slaf", "affine_tanh"])
def test_wrong_num_features_for_the_input_is_named(name):
    unit = aa.create(name, num_features=4)
    with pytest.raises(ValueError, match="num_features"):
        unit(torch.randn(2, 3, 5))


def test_per_channel_unit_needs_a_channel_axis():
    with pytest.raises(ValueError, match=r"\(N, C, \*\)"):
        aa.create("pau", num_features=4)(torch.randn(4))


def test_maxout_needs_a_multiple_of_k_channels():
    with pytest.raises(ValueError, match="multiple of k"):
        aa.create("maxout")(torch.randn(2, 3))
