"""One training run: ``RunSpec`` in, ``RunRecord`` out.

>>> from adaptact.train import RunSpec, run
>>> record = run(RunSpec(model="lenet", act="pau", data="mnist", epochs=1, data_dir="../shared/data"))
>>> record.metrics["test_accuracy"]

Long runs (``docs/long-runs.md``): ``run(spec, checkpoint_dir=...)`` with ``spec.checkpoint_steps``
resumes a killed run; ``spec.loggers`` stream metrics (CSV, TensorBoard, ...); ``load_trained`` loads
a model saved by ``adaptact train --save-model``. Your own loop (``docs/own-loop.md``): ``RunTracker``.
"""
from adaptact.train.callbacks import Callback, RunTracker
from adaptact.train.checkpoint import load_trained, save_trained
from adaptact.train.loop import build_model_for, data_signature, load_data_for, model_from_record, resolve_device, run
from adaptact.train.record import DamagedRecord, ResultsError, RunRecord, write_json_atomic, write_text_atomic
from adaptact.train.spec import RunSpec

__all__ = [
    "Callback", "DamagedRecord", "ResultsError", "RunRecord", "RunSpec", "RunTracker", "build_model_for",
    "data_signature", "load_data_for", "load_trained", "model_from_record", "resolve_device", "run", "save_trained",
    "write_json_atomic", "write_text_atomic",
]
