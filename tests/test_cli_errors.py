"""Every command refuses bad arguments before any work, in one line ``adaptact <command>: error: ...``.

Each case runs :func:`adaptact.cli.main` with training, sweeps, timing, downloads and
drawing replaced by functions that fail the test if called, so a case passes only if the
refusal comes before any work. A few cases run the real ``adaptact`` process.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from adaptact import argcheck, cli

TRAIN = ["train", "--model", "mlp", "--data", "digits", "--quiet", "--device", "cpu"]
BIG_SEED = str(2**70)

# (argv, words the message must contain); {tmp} is a fresh folder, {file} a regular file in it,
# {results} a folder without a manifest.json
CASES = [
    # global
    ([], "adaptact", ["command"]),
    (["nosuch"], "adaptact", ["nosuch"]),
    (["data"], "adaptact data", ["data_command"]),
    # list
    (["list", "--experiments", "--datasets"], "adaptact list", ["--datasets", "--experiments"]),
    (["list", "--nosuch"], "adaptact list", ["--nosuch"]),
    # data fetch
    (["data", "fetch"], "adaptact data fetch", ["name"]),
    (["data", "fetch", "nosuch", "--data-dir", "{tmp}"], "adaptact data fetch", ["nosuch"]),
    (["data", "fetch", "fer2013", "--data-dir", "{tmp}"], "adaptact data fetch", ["fer2013"]),
    (["data", "fetch", "mnist"], "adaptact data fetch", ["--data-dir", "ADAPTACT_DATA"]),
    (["data", "fetch", "mnist", "--data-dir", "{file}"], "adaptact data fetch", ["{file}", "cannot write"]),
    (["data", "fetch", "mnist", "--data-dir", "{file}/sub"], "adaptact data fetch", ["{file}/sub", "cannot write"]),
    # reproduce
    (["reproduce"], "adaptact reproduce", ["name"]),
    (["reproduce", "nosuch"], "adaptact reproduce", ["nosuch", "digits"]),
    (["reproduce", "farhadi-url"], "adaptact reproduce", ["farhadi-url"]),
    (["reproduce", "digits", "--workers", "0"], "adaptact reproduce", ["--workers", "'0'"]),
    (["reproduce", "digits", "--workers", "-1"], "adaptact reproduce", ["--workers", "'-1'"]),
    (["reproduce", "digits", "--workers", "many"], "adaptact reproduce", ["--workers", "many"]),
    (["reproduce", "digits", "--seeds", "0"], "adaptact reproduce", ["--seeds", "'0'"]),
    (["reproduce", "digits", "--seeds", "100000"], "adaptact reproduce", ["--seeds", "100000"]),
    (["reproduce", "digits", "--profile", "huge"], "adaptact reproduce", ["--profile", "huge"]),
    (["reproduce", "digits", "--engine", "spark"], "adaptact reproduce", ["--engine", "spark"]),
    (["reproduce", "digits", "--set", "epochs"], "adaptact reproduce", ["--set", "'epochs'"]),
    (["reproduce", "digits", "--set", "epoch=1"], "adaptact reproduce", ["--set", "'epoch'"]),
    (["reproduce", "digits", "--set", "epochs=Infinity"], "adaptact reproduce", ["--set", "epochs=Infinity"]),
    (["reproduce", "digits", "--set", "lr=NaN"], "adaptact reproduce", ["--set", "lr=NaN"]),
    (["reproduce", "digits", "--set", "lr=fast"], "adaptact reproduce", ["--set", "lr", "fast"]),
    (["reproduce", "digits", "--set", "epochs=0", "--out", "{tmp}/r"], "adaptact reproduce", ["epochs", "0"]),
    (["reproduce", "digits", "--out", "{file}"], "adaptact reproduce", ["--out", "{file}"]),
    (["reproduce", "digits", "--out", "{file}/r"], "adaptact reproduce", ["--out", "{file}"]),
    (["reproduce", "digits", "--device", "cuda:99"], "adaptact reproduce", ["--device", "cuda:99"]),
    (["reproduce", "digits", "--device", "tpu"], "adaptact reproduce", ["--device", "tpu"]),
    (["reproduce", "digits", "--set", "device=cuda:99"], "adaptact reproduce", ["--device", "cuda:99"]),
    (["reproduce", "digits", "--data-dir", "{tmp}/missing"], "adaptact reproduce", ["--data-dir", "{tmp}/missing"]),
    (["reproduce", "digits", "--data-dir", "{file}"], "adaptact reproduce", ["--data-dir", "{file}"]),
    # report
    (["report"], "adaptact report", ["dir"]),
    (["report", "{tmp}/missing"], "adaptact report", ["{tmp}/missing"]),
    (["report", "{file}"], "adaptact report", ["{file}"]),
    (["report", "{results}"], "adaptact report", ["{results}", "manifest.json"]),
    # plot
    (["plot"], "adaptact plot", ["--figure", "results folder"]),
    (["plot", "{tmp}/missing"], "adaptact plot", ["{tmp}/missing"]),
    (["plot", "{results}"], "adaptact plot", ["{results}", "manifest.json"]),
    (["plot", "--figure", "nosuch"], "adaptact plot", ["--figure", "nosuch", "farhadi-fig1"]),
    (["plot", "--figure", "farhadi-fig1", "{file}"], "adaptact plot", ["{file}"]),
    (["plot", "--figure", "all", "{file}/figs"], "adaptact plot", ["{file}"]),
    # train: options argparse checks
    (["train", "--data", "digits"], "adaptact train", ["--model"]),
    (TRAIN + ["--epochs", "inf"], "adaptact train", ["--epochs", "inf"]),
    (TRAIN + ["--epochs", "nan"], "adaptact train", ["--epochs", "nan"]),
    (TRAIN + ["--epochs", "1e400"], "adaptact train", ["--epochs", "1e400"]),
    (TRAIN + ["--epochs", "0"], "adaptact train", ["--epochs", "'0'"]),
    (TRAIN + ["--epochs", "one"], "adaptact train", ["--epochs", "one"]),
    (TRAIN + ["--seed", BIG_SEED], "adaptact train", ["--seed", BIG_SEED]),
    (TRAIN + ["--seed", "-1"], "adaptact train", ["--seed", "'-1'"]),
    (TRAIN + ["--steps", "0"], "adaptact train", ["--steps", "'0'"]),
    (TRAIN + ["--batch-size", "0"], "adaptact train", ["--batch-size", "'0'"]),
    (TRAIN + ["--lr", "-1"], "adaptact train", ["--lr", "'-1'"]),
    (TRAIN + ["--optimizer", "nope"], "adaptact train", ["--optimizer", "nope"]),
    (TRAIN + ["--selection", "nope"], "adaptact train", ["--selection", "nope"]),
    (TRAIN + ["--device", "cuda:99"], "adaptact train", ["--device", "cuda:99"]),
    (TRAIN + ["--device", "tpu"], "adaptact train", ["--device", "tpu"]),
    (TRAIN + ["--workers", "0"], "adaptact train", ["--workers"]),
    (TRAIN + ["--data-dir", "{tmp}/missing"], "adaptact train", ["--data-dir", "{tmp}/missing"]),
    # train: paths (refused before training: the finished run would be lost)
    (TRAIN + ["--out", "{tmp}"], "adaptact train", ["--out", "{tmp}", "folder"]),
    (TRAIN + ["--out", "{file}/rec.json"], "adaptact train", ["--out", "{file}", "not a folder"]),
    # train: option syntax and values
    (TRAIN + ["--act-option", "foo"], "adaptact train", ["--act-option", "foo"]),
    (TRAIN + ["--model-option", "=3"], "adaptact train", ["--model-option", "=3"]),
    (TRAIN + ["--data-option", "val_size"], "adaptact train", ["--data-option", "val_size"]),
    (TRAIN + ["--act", "agumbel", "--act-option", "bogus=1"], "adaptact train", ["bogus", "agumbel"]),
    (TRAIN + ["--act", "agumbel", "--act-option", "alpha=abc"], "adaptact train", ["--act-option", "abc"]),
    (TRAIN + ["--act-option", "alpha=Infinity"], "adaptact train", ["--act-option", "alpha=Infinity"]),
    (TRAIN + ["--model-option", "hidden=abc"], "adaptact train", ["--model-option", "hidden", "abc"]),
    (TRAIN + ["--model-option", "nosuch=1"], "adaptact train", ["--model-option", "nosuch"]),
    (TRAIN + ["--data-option", "foo=1"], "adaptact train", ["foo", "digits"]),
    (TRAIN + ["--data-option", "test_fraction=abc"], "adaptact train", ["--data-option", "test_fraction", "abc"]),
    (TRAIN + ["--selection", "posthoc"], "adaptact train", ["posthoc", "val_size"]),
    (TRAIN + ["--set", "nosuch=1"], "adaptact train", ["--set", "nosuch"]),
    (TRAIN + ["--set", "batch_size=abc"], "adaptact train", ["--set", "batch_size", "abc"]),
    (TRAIN + ["--set", "seed=1.5"], "adaptact train", ["--set", "seed", "1.5"]),
    (TRAIN + ["--set", "act_options=3"], "adaptact train", ["--set", "act_options"]),
    (TRAIN + ["--set", f"seed={BIG_SEED}"], "adaptact train", ["seed", BIG_SEED]),
    (TRAIN + ["--set", "device=cuda:99"], "adaptact train", ["--device", "cuda:99"]),
    # train: names, model/data mismatch, data files
    (TRAIN + ["--model", "nosuch"], "adaptact train", ["nosuch"]),
    (TRAIN + ["--data", "nosuch"], "adaptact train", ["nosuch"]),
    (TRAIN + ["--act", "nosuch"], "adaptact train", ["nosuch", "pau"]),
    (TRAIN + ["--act", "act_conv=relu,act_fc"], "adaptact train", ["--act", "act_fc"]),
    (TRAIN + ["--act", "act_conv=relu"], "adaptact train", ["act_conv", "mlp"]),
    (TRAIN + ["--model", "sentence_cnn"], "adaptact train", ["sentence_cnn", "digits"]),
    (TRAIN + ["--data", "rt-polarity"], "adaptact train", ["rt-polarity", "--data-dir"]),
    (TRAIN + ["--data", "mnist", "--data-dir", "{tmp}"], "adaptact train", ["mnist", "{tmp}", "not found"]),
    # bench
    (["bench", "--shapes", "3,x"], "adaptact bench", ["--shapes", "3,x"]),
    (["bench", "--shapes", "0,4"], "adaptact bench", ["--shapes", "0,4"]),
    (["bench", "--shapes", "100000,100000"], "adaptact bench", ["--shapes", "100000,100000"]),
    (["bench", "--device", "cuda:99"], "adaptact bench", ["--device", "cuda:99"]),
    (["bench", "--device", "auto"], "adaptact bench", ["--device", "auto"]),
    (["bench", "--units", "pau", "nope"], "adaptact bench", ["--units", "nope"]),
    (["bench", "--repeats", "0"], "adaptact bench", ["--repeats", "'0'"]),
    (["bench", "--threads", "-2"], "adaptact bench", ["--threads", "'-2'"]),
    (["bench", "--out", "{tmp}"], "adaptact bench", ["--out", "{tmp}"]),
    (["bench", "--out", "{file}/bench.json"], "adaptact bench", ["--out", "{file}"]),
]
if not torch.cuda.is_available():
    CASES += [(TRAIN[:-1] + ["cuda"], "adaptact train", ["--device", "cuda", "CUDA is not available"]),
              (["bench", "--device", "cuda"], "adaptact bench", ["--device", "CUDA is not available"]),
              (["reproduce", "digits", "--device", "cuda"], "adaptact reproduce", ["--device", "CUDA"])]


def _unwritable_folder() -> Path | None:
    """A folder no one can create files in, even root (a read-only kernel file system), if there is one."""
    folder = Path("/sys")
    try:
        argcheck.output_folder(str(folder))
    except Exception:  # noqa: BLE001 - refused, as wanted
        return folder
    return None


UNWRITABLE = _unwritable_folder()
needs_unwritable = pytest.mark.skipif(UNWRITABLE is None, reason="no read-only folder on this machine")
UNWRITABLE_CASES = [
    (TRAIN + ["--out", "{ro}/rec.json"], "adaptact train", ["--out", "{ro}"]),
    (["data", "fetch", "mnist", "--data-dir", "{ro}/data"], "adaptact data fetch", ["{ro}/data"]),
    (["reproduce", "digits", "--out", "{ro}/results"], "adaptact reproduce", ["--out", "{ro}"]),
    (["bench", "--out", "{ro}/b.json"], "adaptact bench", ["--out", "{ro}"]),
    (["plot", "--figure", "all", "{ro}/figs"], "adaptact plot", ["{ro}"]),
]


def _case_id(argv: list[str]) -> str:
    text = " ".join(argv)
    return ("train " + " ".join(argv[len(TRAIN):])) if argv[:len(TRAIN)] == TRAIN else text or "(none)"


class WorkStarted(Exception):
    """Raised by the stand-ins of the functions that do a command's work."""


@pytest.fixture
def no_work(monkeypatch):
    """Training, sweeps, timing, downloads and drawing fail the test if a command reaches them."""

    def refuse(*args, **kwargs):
        raise WorkStarted("the command started working before refusing its arguments")

    import adaptact.bench
    import adaptact.experiments
    import adaptact.report
    import adaptact.report.paper_figures
    import adaptact.train

    for module, name in [(adaptact.train, "run"), (adaptact.experiments, "reproduce"),
                         (adaptact.bench, "bench_units"), (adaptact.bench, "bench_networks"),
                         (importlib.import_module("adaptact.data.fetch"), "_download"),
                         (adaptact.report, "write_report"), (adaptact.report, "write_figures"),
                         (adaptact.report.paper_figures, "draw_paper_figure")]:
        monkeypatch.setattr(module, name, refuse)
    monkeypatch.delenv("ADAPTACT_DATA", raising=False)


@pytest.fixture
def places(tmp_path) -> dict[str, str]:
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "results").mkdir()
    return {"tmp": str(tmp_path), "file": str(tmp_path / "afile"), "results": str(tmp_path / "results"),
            "ro": str(UNWRITABLE)}


def _fill(items: list[str], places: dict[str, str]) -> list[str]:
    return [item.format(**places) for item in items]


def _assert_one_line_refusal(code: int, err: str, prog: str, words: list[str], status: int = 2) -> None:
    assert code == status, err
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert lines[0].startswith(f"{prog}: error: "), lines[0]
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], f"{word!r} not named in: {lines[0]}"


@pytest.mark.parametrize("argv,prog,words", CASES, ids=[_case_id(c[0]) for c in CASES])
def test_a_bad_argument_is_refused_in_one_line_before_any_work(argv, prog, words, places, no_work, capsys):
    code = cli.main(_fill(argv, places))
    out, err = capsys.readouterr()
    _assert_one_line_refusal(code, err, prog, _fill(words, places))
    assert out == ""
    assert not Path(places["tmp"], "r").exists(), "a refused reproduce created its results folder"


@needs_unwritable
@pytest.mark.parametrize("argv,prog,words", UNWRITABLE_CASES, ids=[c[0][0] for c in UNWRITABLE_CASES])
def test_an_unwritable_destination_is_refused_before_any_work(argv, prog, words, places, no_work, capsys):
    code = cli.main(_fill(argv, places))
    out, err = capsys.readouterr()
    _assert_one_line_refusal(code, err, prog, _fill(words, places))
    assert out == ""


def test_a_missing_optional_package_is_named_with_its_extra(places, no_work, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    code = cli.main(["reproduce", "digits", "--engine", "ray", "--out", places["tmp"] + "/r"])
    _assert_one_line_refusal(code, capsys.readouterr().err, "adaptact reproduce",
                             ["--engine ray", "adaptact[distributed]"])


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_folder_without_write_permission_is_refused(tmp_path, no_work, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        code = cli.main(TRAIN + ["--out", str(locked / "rec.json")])
        _assert_one_line_refusal(code, capsys.readouterr().err, "adaptact train", ["--out", str(locked)])
    finally:
        locked.chmod(0o700)


def test_output_checks_create_nothing_and_accept_new_folders(tmp_path):
    target = tmp_path / "a" / "b" / "rec.json"
    assert argcheck.output_file(str(target)) == target
    assert argcheck.output_folder(str(tmp_path / "c" / "d")) == tmp_path / "c" / "d"
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_finished_run_that_cannot_be_written_is_kept_elsewhere(tmp_path, monkeypatch, capsys):
    """Should the record's file fail after training after all (disk full), the record goes to a temporary
    folder, and the one line says where."""
    import adaptact.train
    from adaptact.train import RunRecord
    from adaptact.train import record as record_module

    out = tmp_path / "rec.json"
    real_write = record_module.write_json_atomic

    def disk_full_at_out(path, data, **options):
        if Path(path) == out:
            raise OSError(28, "No space left on device", str(path))
        real_write(path, data, **options)

    monkeypatch.setattr(record_module, "write_json_atomic", disk_full_at_out)
    monkeypatch.setattr(adaptact.train, "run", lambda spec, **_: RunRecord(key=spec.key(), spec=spec.to_dict(),
                                                                      status="failed", error="stand-in"))
    code = cli.main(TRAIN + ["--out", str(out)])
    err = capsys.readouterr().err
    _assert_one_line_refusal(code, err, "adaptact train", ["could not write", str(out), "No space left"], 1)
    rescued = Path(err.rsplit("written to ", 1)[1].strip())
    assert rescued.name == "rec.json" and RunRecord.load(rescued).error == "stand-in"
    rescued.unlink()
    rescued.parent.rmdir()


def test_fetch_refuses_an_unwritable_data_dir_before_downloading(tmp_path, no_work):
    from adaptact import data

    (tmp_path / "afile").write_text("")
    with pytest.raises(data.DataError, match=r"afile/mnist: cannot write"):
        data.fetch("mnist", tmp_path / "afile")


@pytest.mark.parametrize("error,status,words", [
    (ValueError("bad value 'x'\n  in file a\n  and file b\nhint"), 2, ["bad value 'x' in file a, and file b; hint"]),
    (FileNotFoundError(2, "No such file or directory", "/x/y.json"), 1, ["/x/y.json"]),
    (PermissionError(13, "Permission denied", "/x/y.json"), 1, ["Permission denied", "/x/y.json"]),
    (ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib"), 1, ["matplotlib", "adaptact[plot]"]),
    (KeyboardInterrupt(), 130, ["interrupted"]),
])
def test_user_errors_from_the_library_end_in_one_line(error, status, words, monkeypatch, capsys):
    def command(args):
        raise error

    monkeypatch.setattr(cli, "_cmd_list", command)
    code = cli.main(["list"])
    _assert_one_line_refusal(code, capsys.readouterr().err, "adaptact list", words, status)


def test_a_kernel_that_cannot_run_ends_in_one_line(monkeypatch, capsys):
    from adaptact.kernels import KernelUnavailable

    def command(args):
        raise KernelUnavailable("backend 'c' cannot compute pau: no C compiler")

    monkeypatch.setattr(cli, "_cmd_list", command)
    _assert_one_line_refusal(cli.main(["list"]), capsys.readouterr().err, "adaptact list", ["backend 'c'"], 1)


@pytest.mark.parametrize("error", [KeyError("oops"), TypeError("oops"), ModuleNotFoundError("x", name="adaptact.x")])
def test_a_bug_keeps_its_traceback(error, monkeypatch):
    def command(args):
        raise error

    monkeypatch.setattr(cli, "_cmd_list", command)
    with pytest.raises(type(error)):
        cli.main(["list"])


@pytest.mark.parametrize("argv", [["--debug", "report", "{tmp}/missing"], ["report", "{tmp}/missing", "--debug"]])
def test_debug_raises_the_user_error(argv, places):
    with pytest.raises(argcheck.UsageError, match="no such folder"):
        cli.main(_fill(argv, places))


# ---------------------------------------------------------------------------- the real command


def _adaptact(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(cli.__file__).parents[1])}
    env.pop("ADAPTACT_DATA", None)
    return subprocess.run([sys.executable, "-m", "adaptact.cli", *argv], capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.mark.parametrize("argv,prog,words", [
    (TRAIN + ["--out", "{tmp}"], "adaptact train", ["--out", "{tmp}"]),
    (TRAIN + ["--epochs", "inf", "--seed", BIG_SEED], "adaptact train", ["--epochs", "inf"]),
    (["report", "{tmp}/missing"], "adaptact report", ["{tmp}/missing"]),
], ids=["train-out-folder", "train-epochs-inf", "report-missing"])
def test_the_adaptact_process_refuses_in_one_line(argv, prog, words, places):
    done = _adaptact(*_fill(argv, places))
    _assert_one_line_refusal(done.returncode, done.stderr, prog, _fill(words, places))
    assert done.stdout == ""


def test_the_adaptact_process_shows_a_traceback_with_debug(places):
    done = _adaptact("--debug", "report", places["tmp"] + "/missing")
    assert done.returncode != 0
    assert "Traceback (most recent call last)" in done.stderr
    assert "UsageError: argument dir: no such folder" in done.stderr
