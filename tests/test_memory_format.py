"""RunSpec.memory_format: channels-last runs are other runs (their own key), train, and keep every 4-d tensor in
channels-last order; the default leaves every existing record's key as it was."""
from __future__ import annotations

import pytest
import torch

from adaptact.train import RunSpec, run
from adaptact.train.memory_format import apply_memory_format

SPEC = RunSpec(model="lenet", data="digits", act="relu", steps=3, batch_size=16, device="cpu")


def test_the_default_is_not_part_of_any_key_and_channels_last_is():
    assert SPEC.key() == RunSpec(**{**SPEC.to_dict(), "memory_format": "contiguous"}).key()
    assert SPEC.replace(memory_format="channels_last").key() != SPEC.key()


def test_an_unknown_memory_format_is_refused():
    with pytest.raises(ValueError, match="memory_format"):
        SPEC.replace(memory_format="nhwc").validate()
    with pytest.raises(ValueError, match="memory_format must be"):
        apply_memory_format(torch.nn.Conv2d(1, 2, 3), "nhwc")


def test_channels_last_converts_weights_and_every_4d_input():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 4, 3))
    seen = []
    model[0].register_forward_pre_hook(lambda m, args: seen.append(args[0].is_contiguous(
        memory_format=torch.channels_last)))
    apply_memory_format(model, "channels_last")
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in model.parameters() if p.dim() == 4)
    y = model(torch.randn(2, 1, 8, 8))
    assert seen == [True] and y.is_contiguous(memory_format=torch.channels_last)
    ref = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 4, 3))
    ref.load_state_dict(model.state_dict())
    x = torch.randn(2, 1, 8, 8)
    torch.testing.assert_close(model(x), ref(x), rtol=1e-5, atol=1e-6)  # the same math, another order


def test_a_channels_last_run_trains_like_the_default_one():
    a, b = run(SPEC.replace(steps=20)), run(SPEC.replace(steps=20, memory_format="channels_last"))
    assert a.status == b.status == "ok" and b.spec["memory_format"] == "channels_last"
    assert abs(a.metrics["test_accuracy"] - b.metrics["test_accuracy"]) < 0.05
