"""RUN.md of a published medium experiment: the machines, commits and times its records name."""
from __future__ import annotations

import json

import pytest

from adaptact.report.provenance import main, run_notes


def _record(folder, key, platform, commit, wall, modified=False):
    env = {"platform": platform, "torch": "2.13.0+cpu", "threads": 1,
           "source": {"commit": commit, "modified": modified}}
    (folder / "records" / f"{key}.json").write_text(json.dumps({"key": key, "environment": env, "wall_time": wall}))


def test_the_notes_name_every_machine_and_commit_of_the_records_not_the_publishers(tmp_path):
    (tmp_path / "records").mkdir()
    _record(tmp_path, "a", "Linux-v1", "af01340" + "0" * 33, 1800.0)
    _record(tmp_path, "b", "Linux-v1", "079ddb1" + "0" * 33, 3600.0)
    _record(tmp_path, "c", "Linux-v2", "079ddb1" + "0" * 33, 1800.0, modified=True)
    (tmp_path / "executions.log").write_text("2026-12-02T00:10:00 ok a {}\n2026-12-02T03:40:00 ok c {}\n")
    text = run_notes(tmp_path, "toy")
    assert text.startswith("# How toy (medium) was made")
    assert "2 run(s) on Linux-v1, torch 2.13.0+cpu, 1 thread(s); 1 run(s) on Linux-v2" in text
    assert "1 run(s) by `af01340`; 1 run(s) by `079ddb1`; 1 run(s) by `079ddb1` (with uncommitted changes)." in text
    _record(tmp_path, "d", "Linux-v2", None, 0.0)  # records made before they carried the commit
    text = run_notes(tmp_path, "toy")
    assert "1 run(s) by a commit the record does not name" in text
    assert "Runs: 4; time summed over the runs (one thread each): 2.00 CPU-hours" in text
    assert "3.50 hours, 2026-12-02 00:10 to 2026-12-02 03:40 UTC" in text


def test_a_folder_without_records_or_with_a_damaged_one_is_refused_in_one_line(tmp_path, capsys):
    (tmp_path / "records").mkdir()
    with pytest.raises(ValueError, match="no run records"):
        run_notes(tmp_path, "toy")
    (tmp_path / "records" / "x.json").write_text("{not json")
    assert main([str(tmp_path), "toy"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("provenance: ") and "x.json: not a readable run record" in err and "\n" not in err
