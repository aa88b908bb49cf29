"""Records say which code made them (the git commit of the source tree, None outside a checkout) and stay small
(float32 parameter histories in 9 digits, no whitespace)."""
import re
import subprocess

import pytest

from adaptact.source_revision import source_revision
from adaptact.train.record import environment


def _in_git_checkout() -> bool:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True).returncode == 0
    except OSError:
        return False


@pytest.mark.skipif(not _in_git_checkout(), reason="the tests do not run from a git checkout")
def test_a_record_environment_names_the_source_commit():
    source = environment("cpu")["source"]
    assert source is not None and re.fullmatch(r"[0-9a-f]{40}", source["commit"])
    assert source["modified"] in (True, False)


def test_outside_a_git_checkout_the_revision_is_none(tmp_path):
    assert source_revision(str(tmp_path)) is None


def test_a_fresh_repository_reports_its_commit_and_modifications(tmp_path):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    try:
        git("init", "-q")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("no git")
    (tmp_path / "a.py").write_text("x = 1\n")
    git("add", "a.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    clean = source_revision.__wrapped__(str(tmp_path))
    assert clean is not None and clean["modified"] is False
    (tmp_path / "a.py").write_text("x = 2\n")
    assert source_revision.__wrapped__(str(tmp_path))["modified"] is True


def test_parameter_histories_keep_every_float32_bit_in_nine_digits():
    import torch

    from adaptact.train.recorders import float32_values

    t = torch.randn(5, 7, generator=torch.Generator().manual_seed(0)) * 10.0 ** torch.arange(-3, 4).float()
    values = float32_values(t)
    assert torch.equal(torch.tensor(values, dtype=torch.float32), t)
    assert all(len(repr(v).lstrip("-").replace(".", "").lstrip("0").split("e")[0]) <= 9 for row in values for v in row)
    assert float32_values(torch.tensor(0.5)) == 0.5


def test_a_run_record_is_written_without_whitespace(tmp_path):
    from adaptact.train.record import write_json_atomic

    write_json_atomic(tmp_path / "r.json", {"a": [1.0, 2.0], "b": {"c": None}}, compact=True)
    assert (tmp_path / "r.json").read_text() == '{"a":[1.0,2.0],"b":{"c":null}}'
