"""adaptact in a user's own loop: RunTracker gives the record run() gives, stops a diverging run naming the
unit, selects as the spec says, calls the callbacks; docs/own-loop.md runs as written."""
from __future__ import annotations

import linecache
import re
from pathlib import Path

import pytest
import torch

import adaptact
from adaptact.train import Callback, RunRecord, RunSpec, RunTracker, run
from adaptact.train.guard import NonFiniteLoss
from adaptact.train.record import record_problem

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "own-loop.md"


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _tracker(selection="best_test", record_every=2, callbacks=()):
    torch.set_num_threads(1)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), adaptact.create("pau"), torch.nn.Linear(4, 2))
    spec = RunSpec(model="my-net", act="pau", data="my-data", steps=6, device="cpu", selection=selection,
                   record_every=record_every)
    return model, RunTracker(model, spec, callbacks=callbacks)


def _feed(tracker, accuracies):
    tracker.start()
    for step, acc in enumerate(accuracies, start=1):
        tracker.update(step, 1.0 / step, 8)
        tracker.evaluation(step, test_accuracy=acc, test_loss=1.0 - acc)
        tracker.end_step(step)
    return tracker.finish()


@pytest.mark.parametrize("selection, expected", [("final", (0.6, 3)), ("best_test", (0.8, 2))])
def test_the_tracker_selects_by_the_specs_policy_and_writes_a_valid_record(selection, expected, tmp_path):
    _, tracker = _tracker(selection)
    record = _feed(tracker, [0.5, 0.8, 0.6])
    assert (record.metrics["test_accuracy"], record.metrics["selected_step"]) == expected
    assert record.activations["steps"] == [0, 2, 3]
    assert record.curves["train_loss"] == [1.0, 0.5, 1.0 / 3]
    record.save(tmp_path / f"{record.key}.json")
    assert record_problem(record.to_dict(), record.key) is None
    assert RunRecord.load(tmp_path / f"{record.key}.json", check_name=True).metrics == record.metrics


def test_the_guard_names_the_step_and_the_unit(tmp_path):
    model, tracker = _tracker()
    tracker.start()
    with torch.no_grad():
        model[1].numerator.fill_(float("nan"))
    x = torch.rand(4, 3)
    loss = model(x).sum()
    with pytest.raises(NonFiniteLoss, match=r"step 7: the loss is nan; activation unit '1' \(PAU\) has non-finite"):
        tracker.guard(loss, 7, x)
    tracker.guard(torch.tensor(1.0), 7, x)  # a finite loss passes


def test_callbacks_see_the_run_in_order():
    events = []

    class Spy(Callback):
        def on_start(self, tracker):
            events.append("start")

        def on_evaluation(self, tracker, step, point):
            events.append(("eval", step, point["test_accuracy"]))

        def on_activations(self, tracker, step, state):
            events.append(("act", step, sorted(state)))

        def on_end(self, tracker, record):
            events.append(("end", record.status))

    _, tracker = _tracker(record_every=2, callbacks=[Spy()])
    _feed(tracker, [0.5, 0.7])
    assert events == [("act", 0, ["1"]), "start", ("eval", 1, 0.5), ("eval", 2, 0.7), ("act", 2, ["1"]),
                      ("end", "ok")]


def test_bad_use_of_the_tracker_is_refused():
    _, tracker = _tracker()
    tracker.start()
    with pytest.raises(ValueError, match="give test_loss with test_accuracy"):
        tracker.evaluation(1, test_accuracy=0.5)
    with pytest.raises(ValueError, match="finished without an evaluation"):
        tracker.finish()
    _, fresh = _tracker()
    torch.set_num_threads(2)
    try:
        with pytest.raises(ValueError, match="the spec says threads=1 but torch computes with 2"):
            fresh.start()
    finally:
        torch.set_num_threads(1)  # the fixture puts the caller's count back


def test_run_trains_through_the_tracker_and_passes_it_to_callbacks():
    seen = []

    class Steps(Callback):
        def on_evaluation(self, tracker, step, point):
            seen.append(step)

    record = run(RunSpec(model="mlp", act="relu", data="digits", steps=45, eval_every=20, device="cpu"),
                 callbacks=[Steps()])
    assert seen == record.curves["step"] == [20, 40, 45]


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.S)


@pytest.mark.slow
def test_every_example_of_the_own_loop_guide_runs(capsys):
    pytest.importorskip("matplotlib")
    pytest.importorskip("pandas")
    namespace: dict = {}
    for i, code in enumerate(_blocks()):
        name = f"<{GUIDE.name} block {i}>"
        linecache.cache[name] = (len(code), None, code.splitlines(True), name)
        exec(compile(code, name, "exec"), namespace)
    out = capsys.readouterr().out
    assert "ok True [0, 50, 100, 150, 200]" in out
    assert "\nTrue\n" in out  # the saved record loads back with the same metrics
    assert "step,epoch,lr,train_loss,val_accuracy,val_loss,test_accuracy,test_loss" in out
    assert "['my-study-curves.png']" in out
    assert "['my-net-pau.png', 'my-study-curves.png']" in out
