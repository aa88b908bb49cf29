"""Records and reports are never destroyed or silently changed: damaged or foreign records are named and set
aside, never deleted, before their runs are redone; a report is never replaced by an emptier one."""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
from pathlib import Path

import pytest

from adaptact.experiments import get_experiment, reproduce
from adaptact.experiments.runner import load_records, read_manifest, record_path
from adaptact.report import write_figures, write_report
from adaptact.report.collect import runs_table
from adaptact.train import DamagedRecord, ResultsError, RunRecord, RunSpec, run, write_json_atomic

REPO = Path(__file__).resolve().parents[1]
TINY = {"epochs": 1, "device": "cpu"}


def digits(rows=("ReLU", "PAU")):
    """The digits experiment cut to a few rows (one spawned sweep of it takes a few seconds)."""
    exp = get_experiment("digits")
    return dataclasses.replace(exp, profiles={"quick": dataclasses.replace(exp.profiles["quick"], rows=rows)})


@pytest.fixture(scope="module")
def good_record() -> dict:
    spec = RunSpec(model="mlp", data="digits", act="relu", model_options={"hidden": [8]}, steps=2, device="cpu")
    return run(spec).to_dict()


def _variant(record: dict, **changes) -> dict:
    out = json.loads(json.dumps(record))
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = out
        for p in parents:
            target = target[p]
        target[last] = value
    return out


def _damaged_files(record: dict) -> dict[str, tuple[bytes, str]]:
    """File name -> (content, what the report must say): every bad record file the runner must set aside
    (the names are not the records' keys, so in a results folder each is also foreign by its name)."""
    key = record["key"]
    text = json.dumps(record)
    other = _variant(record, key="0123456789abcdef")
    edited = _variant(record, spec__lr=0.5)
    return {
        "notes.json": (b'{"x": 1}', "not a run record: no 'key', 'spec', 'status'"),
        "array.json": (b"[]", "a JSON array, not a run record"),
        "object.json": (b"{}", "not a run record"),
        "null.json": (b"null", "a JSON null, not a run record"),
        "string.json": (b'"str"', "a JSON string, not a run record"),
        "number.json": (b"3", "a JSON number, not a run record"),
        "empty.json": (b"", "not valid JSON"),
        "truncated.json": (text[: len(text) // 2].encode(), "not valid JSON"),
        "binary.json": (b"\x00\xff\xfe\x89PNG", "not"),
        f"{'f' * 16}.json": (text.encode(), f"its key {key!r} differs from its file name {'f' * 16!r}"),
        "mixed-key.json": (json.dumps(other).encode(), "is not the identity"),
        "edited.json": (json.dumps(edited).encode(), "is not the identity"),
        "no-metric.json": (json.dumps(_variant(record, metrics={})).encode(), "without a finite test_accuracy"),
        "nan-metric.json": (text.replace(f'"test_accuracy": {record["metrics"]["test_accuracy"]}',
                                         '"test_accuracy": NaN').encode(), "without a finite test_accuracy"),
        "null-metric.json": (json.dumps(_variant(record, metrics__test_accuracy=None)).encode(), "without a finite"),
        "text-metric.json": (json.dumps(_variant(record, metrics__test_accuracy="0.9")).encode(), "without a finite"),
        "big-metric.json": (json.dumps(_variant(record, metrics__test_accuracy=1.5)).encode(), "in [0, 1]"),
        "bool-metric.json": (json.dumps(_variant(record, metrics__test_accuracy=True)).encode(), "without a finite"),
        "list-metrics.json": (json.dumps(_variant(record, metrics=[0.9])).encode(), "'metrics' is a JSON array"),
        "int-key.json": (json.dumps(_variant(record, key=7)).encode(), "its key is a JSON number"),
        "bad-status.json": (json.dumps(_variant(record, status="done")).encode(), "unknown status 'done'"),
        "foreign-spec.json": (json.dumps(_variant(record, spec__modle="x")).encode(), "its spec is not a run spec"),
        "spec-array.json": (json.dumps(_variant(record, spec=[1])).encode(), "'spec' is a JSON array"),
        "nan-loss.json": (json.dumps(_variant(record, curves__test_loss=[None] * len(record["curves"]["test_loss"])))
                          .encode(), "non-finite test loss in its curves"),
    }, edited


def test_every_kind_of_damaged_record_is_named(good_record, tmp_path):
    files, edited = _damaged_files(good_record)
    for name, (content, reason) in files.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(DamagedRecord) as err:
            RunRecord.load(path, check_name=name == f"{'f' * 16}.json")
        assert str(path) in str(err.value) and reason in str(err.value), (name, str(err.value))
    # without the file-name check a copied record still loads; an edited spec still does not
    path = tmp_path / "copy.json"
    path.write_text(json.dumps(good_record))
    assert RunRecord.load(path).key == good_record["key"]
    path.write_text(json.dumps(edited))
    with pytest.raises(DamagedRecord, match="is not the identity"):
        RunRecord.load(path)


def test_a_record_made_with_another_thread_count_is_damaged(good_record, tmp_path):
    """Same key, same numbers: a record that ran at 2 threads cannot stand for a spec that says 1."""
    path = tmp_path / f"{good_record['key']}.json"
    path.write_text(json.dumps(_variant(good_record, environment__threads=2)))
    with pytest.raises(DamagedRecord, match=r"made with 2 thread\(s\) but its spec says threads=1"):
        RunRecord.load(path, check_name=True)
    failed = _variant(good_record, status="failed", environment__threads=2)
    path.write_text(json.dumps(failed))
    assert RunRecord.load(path, check_name=True).status == "failed"  # a failed run is redone anyway


def test_damaged_files_are_moved_to_quarantine_never_deleted(good_record, tmp_path, caplog):
    files, _ = _damaged_files(good_record)
    records = tmp_path / "records"
    records.mkdir()
    for name, (content, _) in files.items():
        (records / name).write_bytes(content)
    write_json_atomic(records / f"{good_record['key']}.json", good_record)
    (tmp_path / "quarantine").mkdir()
    (tmp_path / "quarantine" / "notes.json").write_text("an older one")  # never overwritten
    with caplog.at_level(logging.WARNING, logger="adaptact.records"):
        assert [r.key for r in load_records(tmp_path)] == [good_record["key"]]  # reading only: reported, left
    assert all((records / name).exists() for name in files)
    assert all(any(name in m for m in caplog.messages) for name in files)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="adaptact.records"):
        assert [r.key for r in load_records(tmp_path, set_aside=True)] == [good_record["key"]]
    assert sorted(p.name for p in records.iterdir()) == [f"{good_record['key']}.json"]
    quarantined = {p.name: p.read_bytes() for p in (tmp_path / "quarantine").iterdir()}
    assert quarantined.pop("notes.json") == b"an older one" and quarantined.pop("notes.1.json") == b'{"x": 1}'
    assert quarantined == {name: content for name, (content, _) in files.items() if name != "notes.json"}
    assert len(caplog.messages) == len(files) and all("set aside" in m for m in caplog.messages)
    log = (tmp_path / "executions.log").read_text()
    assert all(f"records/{name}" in log for name in files)


def test_an_ok_record_without_a_finite_metric_is_not_a_finished_run():
    exp = get_experiment("digits")
    (cell, spec), = exp.plan("quick", 1, **TINY)[0][:1]
    bad = RunRecord(key=spec.key(), spec=spec.to_dict(), status="ok", metrics={"test_accuracy": math.nan})
    table = runs_table(exp, [(cell, spec, bad)])
    assert table.loc[0, "status"] == "damaged" and "finite test_accuracy" in table.loc[0, "error"]
    assert table.loc[0, "value"] is None


def _swept(exp, out: Path, seeds: int) -> None:
    """The records of a sweep made here, one run after the other, and its manifest (the sweep finds them all)."""
    for _, spec in exp.plan("quick", seeds, **TINY)[0]:
        run(spec).save(record_path(out, spec))
    assert reproduce(exp, "quick", seeds=seeds, out=out, progress=False, overrides=TINY).ran == 0


@pytest.mark.slow
def test_damaged_records_are_set_aside_and_their_runs_redone_with_the_same_numbers(tmp_path, caplog):
    exp = digits()
    _swept(exp, tmp_path, 2)
    write_report(tmp_path)
    report = (tmp_path / "report-digits.csv").read_bytes()
    planned = [spec for _, spec in exp.plan("quick", 2, **TINY)[0]]
    paths = [record_path(tmp_path, spec) for spec in planned]
    before = {p.name: json.loads(p.read_text()) for p in paths}
    damage = {
        paths[0]: paths[0].read_bytes()[:100],                     # truncated
        paths[1]: paths[2].read_bytes(),                           # another run's record under this name
        paths[3]: json.dumps(_variant(before[paths[3].name], metrics={})).encode(),   # ok without its metric
        tmp_path / "records" / "notes.json": b'{"x": 1}',          # a stray file
    }
    for path, content in damage.items():
        path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="adaptact.records"):
        summary = reproduce(exp, "quick", seeds=2, out=tmp_path, progress=False, workers=1, overrides=TINY)
    assert summary.ran == 3 and summary.failed == 0
    assert {p.name: p.read_bytes() for p in (tmp_path / "quarantine").iterdir()} == {
        p.name: c for p, c in damage.items()}
    assert all(any(p.name in m for m in caplog.messages) for p in damage)
    after = {p.name: json.loads(p.read_text()) for p in paths}
    drop = ("wall_time", "throughput")
    assert {k: {f: v for f, v in r.items() if f not in drop} for k, r in after.items()} == \
        {k: {f: v for f, v in r.items() if f not in drop} for k, r in before.items()}
    write_report(tmp_path)
    assert (tmp_path / "report-digits.csv").read_bytes() == report


def _committed_digits(tmp_path: Path) -> Path:
    out = tmp_path / "digits"
    shutil.copytree(REPO / "docs" / "results" / "digits", out)
    return out


def test_a_report_folder_without_records_is_refused_and_left_as_it_is(tmp_path):
    out = _committed_digits(tmp_path)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with pytest.raises(ResultsError, match=r"records holds no record of the 55 planned runs of digits"):
        write_report(out)
    with pytest.raises(ResultsError, match="nothing to report"):
        write_figures(out)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert not (out / "figures" / "new").exists()


@pytest.mark.parametrize("content,match", [
    (b'{"experiments": {"digits": {"profile": "qu', "is damaged"),
    (b"\xff\xfe", "is damaged"),
    (b"[]", "is not a results manifest"),
    (b'{"experiments": {"digits": 3}}', "is not a results manifest"),
    (b'{"experiments": {"digits": {"seeds": 2}}}', "is not a results manifest"),
])
def test_a_damaged_manifest_is_named(tmp_path, content, match):
    (tmp_path / "manifest.json").write_bytes(content)
    for attempt in (lambda: write_report(tmp_path), lambda: read_manifest(tmp_path),
                    lambda: reproduce(digits(("ReLU",)), "quick", seeds=1, out=tmp_path, progress=False,
                                      overrides=TINY)):
        with pytest.raises(ResultsError, match=match) as err:
            attempt()
        assert str(tmp_path / "manifest.json") in str(err.value)
    assert (tmp_path / "manifest.json").read_bytes() == content
    assert not (tmp_path / "records").exists() or not list((tmp_path / "records").iterdir())


def test_a_manifest_that_collapses_the_grid_is_refused_by_the_report(tmp_path):
    out = _committed_digits(tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["experiments"]["digits"]["overrides"]["seed"] = 7
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ResultsError, match=r"manifest.json: digits: digits: cannot override 'seed'"):
        write_report(out)


def _failed_folder(tmp_path: Path, seeds: int = 1) -> Path:
    """A results folder written by hand: the manifest of a digits sweep, and a record per run (all failed)."""
    exp = get_experiment("digits")
    write_json_atomic(tmp_path / "manifest.json", {"experiments": {"digits": {
        "profile": "quick", "seeds": seeds, "overrides": TINY}}})
    for _, spec in exp.plan("quick", seeds, **TINY)[0]:
        RunRecord(key=spec.key(), spec=spec.to_dict(), status="failed", error="RuntimeError: boom").save(
            record_path(tmp_path, spec))
    return tmp_path


def test_plot_refuses_to_draw_nothing(tmp_path):
    out = _failed_folder(tmp_path)
    with pytest.raises(ResultsError, match=r"none could be drawn from their 0 finished run\(s\)"):
        write_figures(out)
    assert not (out / "figures").exists()
    text = write_report(out)[0].read_text()  # the failures themselves are worth a report
    assert "RuntimeError: boom" in text


def test_a_report_is_never_replaced_by_an_emptier_one(tmp_path):
    _swept(digits(("ReLU",)), tmp_path, 2)
    write_report(tmp_path)
    files = {p: p.read_bytes() for p in tmp_path.glob("report*")}
    moved = tmp_path / "elsewhere.json"
    next((tmp_path / "records").glob("*.json")).rename(moved)
    with pytest.raises(ResultsError, match=r"refusing to replace .*report-digits.csv \(2 finished runs\) "
                                           r"with a report of 1"):
        write_report(tmp_path)
    assert {p: p.read_bytes() for p in tmp_path.glob("report*")} == files
    write_report(tmp_path, force=True)
    assert (tmp_path / "report-digits.csv").read_bytes() != files[tmp_path / "report-digits.csv"]


# ------------------------------------------------------------------ records reused from other results folders


def _renamed(exp, names: dict[str, str]):
    """``exp`` with rows relabelled (labels are tags, not identity: the runs keep their keys)."""
    rows = [dataclasses.replace(r, label=names.get(r.label, r.label),
                                baseline=names.get(r.baseline, r.baseline)) for r in exp.rows]
    quick = exp.profiles["quick"]
    return dataclasses.replace(exp, name="digits-renamed", rows=rows, profiles={"quick": dataclasses.replace(
        quick, rows=tuple(names.get(r, r) for r in quick.rows), checks=())})


def test_finished_runs_of_another_folder_are_copied_not_run_again(tmp_path):
    exp = digits()
    _swept(exp, tmp_path / "campaign" / "digits-quick", 1)
    other = _renamed(exp, {"ReLU": "plain ReLU"})
    out = tmp_path / "campaign" / "renamed-quick"
    summary = reproduce(other, "quick", seeds=1, out=out, progress=False, overrides=TINY,
                        reuse=[tmp_path / "campaign"])  # a folder of results folders
    planned = [spec for _, spec in other.plan("quick", 1, **TINY)[0]]
    assert summary.ran == 0 and sorted(summary.reused) == sorted(s.key() for s in planned)
    for spec in planned:
        copied = json.loads(record_path(out, spec).read_text())
        source = json.loads(record_path(tmp_path / "campaign" / "digits-quick", spec).read_text())
        assert copied["spec"]["tags"] == spec.to_dict()["tags"]  # this experiment's cell, not the source's
        assert {**copied, "spec": None} == {**source, "spec": None}
    assert {spec.to_dict()["tags"]["row"] for spec in planned} == {"plain ReLU", "PAU"}
    assert "reused" in (out / "executions.log").read_text()
    write_report(out)  # the copies are ordinary records of this folder


def test_a_damaged_or_unfinished_record_elsewhere_is_not_reused(tmp_path, caplog):
    exp = digits(rows=("ReLU",))
    source = tmp_path / "a"
    _swept(exp, source, 2)
    specs = [spec for _, spec in exp.plan("quick", 2, **TINY)[0]]
    truncated = record_path(source, specs[0])
    truncated.write_bytes(truncated.read_bytes()[:80])
    failed = record_path(source, specs[1])
    failed.write_text(json.dumps(_variant(json.loads(failed.read_text()), status="failed", error="boom")))
    with caplog.at_level(logging.WARNING, logger="adaptact.records"):
        summary = reproduce(exp, "quick", seeds=2, out=tmp_path / "b", progress=False, workers=1, overrides=TINY,
                            reuse=[source])
    assert summary.ran == 2 and summary.reused == []
    assert any("not reused" in m and truncated.name in m for m in caplog.messages)
    assert truncated.exists() and not (source / "quarantine").exists()  # another folder's files are left alone


def test_a_reuse_folder_that_does_not_exist_is_refused(tmp_path):
    with pytest.raises(ValueError, match="reuse: .*nowhere is not a folder"):
        reproduce(digits(), "quick", seeds=1, out=tmp_path, progress=False, overrides=TINY,
                  reuse=[tmp_path / "nowhere"])


def test_sweep_workers_hold_their_heap_unless_told_not_to(monkeypatch):
    from adaptact import malloc_control
    from adaptact.experiments import runner

    calls = []
    monkeypatch.setattr(malloc_control, "hold_heap", lambda: calls.append(1) or {})
    monkeypatch.setattr(runner, "_HEAP_HELD", [])
    monkeypatch.setenv("ADAPTACT_HOLD_HEAP", "0")
    runner._hold_heap()
    assert calls == []
    monkeypatch.delenv("ADAPTACT_HOLD_HEAP")
    runner._hold_heap()
    runner._hold_heap()  # once per process
    assert calls == [1] and runner._HEAP_HELD == [True]
