"""A plain, non-editable install in a fresh virtual environment (no extras) runs the README's main job, and an
optional feature used without its extra ends in one line naming the extra.

Slow (a few minutes: it installs torch and the core dependencies into a new venv, from pip's configured
indexes and caches); set ``ADAPTACT_SKIP_INSTALL_TEST=1`` to skip it where no package index is reachable.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.environ.get("ADAPTACT_SKIP_INSTALL_TEST") == "1",
                                                   reason="ADAPTACT_SKIP_INSTALL_TEST=1")]


def _run(args, cwd, timeout=900):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return done


@pytest.fixture(scope="module")
def plain_venv(tmp_path_factory):
    """A fresh venv (no system site-packages) with torch and the wheel of this checkout, no extras."""
    tmp = tmp_path_factory.mktemp("plain")
    source = tmp / "source"  # a copy, so building leaves no build/ or egg-info in the checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", tmp / "dist",
                  source], tmp)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next((tmp / "dist").glob("adaptact-*.whl"))
    venv = tmp / "venv"
    made = _run([sys.executable, "-m", "venv", venv], tmp)
    assert made.returncode == 0, made.stderr
    torch_version = torch.__version__.split("+")[0]
    installed = _run([venv / "bin" / "python", "-m", "pip", "install", "-q", f"torch=={torch_version}", wheel], tmp)
    assert installed.returncode == 0, installed.stderr[-3000:]
    return venv


def test_plain_install_is_not_editable_and_has_no_extras(plain_venv, tmp_path):
    where = _run([plain_venv / "bin" / "python", "-c", "import adaptact, sys; print(adaptact.__file__)"], tmp_path)
    assert where.returncode == 0, where.stderr
    assert str(plain_venv) in where.stdout and str(ROOT) not in where.stdout
    package = Path(where.stdout.strip()).parent
    for shipped in ("kernels/cmath.h", "kernels/native_node.cpp"):  # sources built at first use
        assert (package / shipped).is_file(), f"the wheel lacks {shipped}"
    for extra in ("ray", "statsmodels"):  # (Pillow comes with matplotlib, a core dependency)
        probe = _run([plain_venv / "bin" / "python", "-c", f"import {extra}"], tmp_path)
        assert probe.returncode != 0, f"{extra} is installed: the venv is not plain"


def test_main_job_and_listing_work(plain_venv, tmp_path):
    adaptact = plain_venv / "bin" / "adaptact"
    listed = _run([adaptact, "list", "--experiments"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "digits" in listed.stdout
    job = _run([adaptact, "reproduce", "digits", "--seeds", "1", "--set", "epochs=1", "--out", "res", "--quiet"],
               tmp_path)
    assert job.returncode == 0, job.stderr[-3000:]
    assert (tmp_path / "res" / "report.md").is_file() and list((tmp_path / "res" / "figures").glob("*.png"))


def test_missing_extra_is_one_line_naming_it(plain_venv, tmp_path):
    adaptact = plain_venv / "bin" / "adaptact"
    ray = _run([adaptact, "reproduce", "digits", "--engine", "ray", "--out", "r"], tmp_path)
    assert ray.returncode == 2  # refused before any work (a usage error)
    assert ray.stderr.strip() == ("adaptact reproduce: error: --engine ray needs the package 'ray': "
                                  "pip install 'adaptact[distributed]'")
