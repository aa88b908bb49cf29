"""docs/use-in-your-model.md: every Python block of the guide runs, in order, in one namespace."""
from __future__ import annotations

import linecache
import re
import warnings
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "use-in-your-model.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.S)


def test_the_guide_has_examples():
    assert len(blocks()) >= 6


def test_every_example_in_the_guide_runs(capsys):
    pytest.importorskip("transformers")
    namespace: dict = {}
    for i, code in enumerate(blocks()):
        name = f"<{GUIDE.name} block {i}>"
        linecache.cache[name] = (len(code), None, code.splitlines(True), name)  # as a notebook keeps its cells
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the guide shows its own warnings
            exec(compile(code, name, "exec"), namespace)
    out = capsys.readouterr().out
    assert "kept 3.gate.4 (sigmoid" in out
    assert "[4, 4, 16]" in out
    assert "gelu_tanh -> pau | layer | fitted to gelu_tanh" in out
