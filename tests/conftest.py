"""Shared fixtures: one case per registered activation (and per-channel variants of the trainable ones)."""
from __future__ import annotations

import os

import pytest
import torch

if not torch.cuda.is_available():
    # before triton is first imported (adaptact's custom ops import torch._dynamo, which imports triton):
    # its interpreter replaces triton.language's functions at import. Triton serves CPU tensors only
    # when forced (kernels.use("triton")), so the other tests are unaffected.
    os.environ.setdefault("TRITON_INTERPRET", "1")

import adaptact as aa  # noqa: E402
from adaptact.registry import entry

CHANNELS = 3


def _shape_changes(name: str) -> bool:
    return entry(name).name == "maxout"


def unit_cases() -> list[tuple[str, dict]]:
    """(name, options) for every registered name, plus num_features=3 for every trainable unit."""
    cases = []
    for name in aa.list_activations():
        cases.append((name, {}))
        if entry(name).trainable:
            cases.append((name, {"num_features": CHANNELS}))
    return cases


def case_id(case) -> str:
    name, opts = case
    return name + ("[per-channel]" if opts.get("num_features") else "")


CASES = unit_cases()


@pytest.fixture(params=CASES, ids=[case_id(c) for c in CASES])
def unit_case(request):
    return request.param


def make_input(name: str, dtype=torch.float32, shape=(2, 2 * CHANNELS, 4, 3), seed=0) -> torch.Tensor:
    """A random input for ``name``: maxout needs twice the channels of the others."""
    g = torch.Generator().manual_seed(seed)
    if not _shape_changes(name):
        shape = (shape[0], CHANNELS) + tuple(shape[2:])
    return (torch.randn(shape, generator=g, dtype=torch.float64) * 2).to(dtype)


def expected_shape(name: str, x: torch.Tensor) -> tuple[int, ...]:
    if _shape_changes(name):
        return (x.shape[0], x.shape[1] // 2) + tuple(x.shape[2:])
    return tuple(x.shape)


@pytest.fixture(autouse=True)
def fresh_dynamo(request):
    """A ``compile`` test starts and ends with dynamo's caches empty: its recompile limit (8 per code
    object) counts across tests, and once a unit's ``forward`` reaches it dynamo runs it eagerly, so
    the later tests would compare eager with eager (or, after a partial fallback, trip on a warning)."""
    if request.node.get_closest_marker("compile") is None:
        yield
        return
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()  # reset() keeps them; tests read them
    yield
    torch._dynamo.reset()


@pytest.fixture
def one_thread():
    """Torch at one thread for the test: small batches gain nothing from threads, and threads on a busy
    machine cost seconds."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
