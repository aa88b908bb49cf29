"""The CUDA engine (stub while being written)."""
from __future__ import annotations


def triton_unavailable():
    return "not written yet"


class TritonEngine:
    name = "triton"

    def unavailable(self, x):
        return triton_unavailable()
