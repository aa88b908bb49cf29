"""Ray engine: every task reserves the CPUs and GPUs its spec needs; checked on CPU with a faked GPU count."""
from __future__ import annotations

import pytest

from adaptact.experiments import runner
from adaptact.experiments.runner import ray_task_options
from adaptact.train import RunSpec


def test_cuda_spec_reserves_one_gpu_by_default_and_cpu_spec_none(monkeypatch):
    monkeypatch.delenv("ADAPTACT_RAY_GPUS", raising=False)
    assert ray_task_options(RunSpec(device="cuda", threads=2)) == {"num_cpus": 2.0, "num_gpus": 1.0}
    assert ray_task_options(RunSpec(device="cuda:1")) == {"num_cpus": 1.0, "num_gpus": 1.0}
    assert ray_task_options(RunSpec(device="cpu", threads=3)) == {"num_cpus": 3.0, "num_gpus": 0.0}


def test_gpu_fraction_from_argument_or_environment(monkeypatch):
    assert ray_task_options(RunSpec(device="cuda"), 0.25)["num_gpus"] == 0.25
    monkeypatch.setenv("ADAPTACT_RAY_GPUS", "0.5")
    assert ray_task_options(RunSpec(device="cuda"))["num_gpus"] == 0.5
    monkeypatch.setenv("ADAPTACT_RAY_GPUS", "half")
    with pytest.raises(ValueError, match=r"\$ADAPTACT_RAY_GPUS must be a number of GPUs per run"):
        ray_task_options(RunSpec(device="cuda"))
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="GPUs per task must be a fraction in"):
            ray_task_options(RunSpec(device="cuda"), bad)


def _probe(spec_dict, plugins=None):
    """Stands in for a run inside a Ray task: reports the GPUs Ray gave the task and the plugins it got."""
    import ray

    return {"key": spec_dict["tags"]["i"], "status": "ok", "spec": spec_dict, "wall_time": 0.0,
            "gpus": ray.get_runtime_context().get_accelerator_ids().get("GPU", []),
            "plugins": sorted(plugins or {})}


@pytest.mark.slow
def test_local_ray_with_faked_gpus_gives_each_cuda_task_its_gpu(monkeypatch):
    ray = pytest.importorskip("ray")
    import sys

    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the probe travels by value to the workers
    monkeypatch.setattr(runner, "execute", _probe)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False)
    try:
        requested = []
        real_options = ray.remote_function.RemoteFunction.options

        def spy(self, **options):
            requested.append(options)
            return real_options(self, **options)

        monkeypatch.setattr(ray.remote_function.RemoteFunction, "options", spy)
        specs = [RunSpec(device="cuda", tags={"i": "a"}), RunSpec(device="cuda", tags={"i": "b"}),
                 RunSpec(device="cpu", tags={"i": "c"})]
        got = []
        display = runner._Display(len(specs), 2, False, "t")
        runner._run_ray(specs, 2, 1, got.append, display, {"files": []}, gpus_per_task=1)
    finally:
        ray.shutdown()
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert requested == [{"num_cpus": 1.0, "num_gpus": 1.0}] * 2 + [{"num_cpus": 1.0, "num_gpus": 0.0}]
    by_key = {r["key"]: r for r in got}
    assert len(by_key["a"]["gpus"]) == 1 and len(by_key["b"]["gpus"]) == 1  # Ray shows each CUDA task its GPU
    assert by_key["c"]["gpus"] == []  # ... and hides GPUs from a task that asked for none
    assert by_key["a"]["plugins"] == ["files"]  # the worker plugins travel with the task
