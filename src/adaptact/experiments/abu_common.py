"""What the ABU paper's three tables share: SMCN columns, training and selection settings, quick profile."""
from __future__ import annotations

from adaptact.experiments.base import Column

ADAM = {"optimizer": "adam", "lr": 1e-3}
# SGD momentum 0.9, lr 0.01 decreasing linearly per update to 0.0004 at the last step
MOMENTUM = {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "schedule": "linear",
            "schedule_options": {"final_lr": 0.0004}}
C10 = {"data": "cifar10"}
C100 = {"data": "cifar100"}

COLUMNS = [
    Column("SMCN Adam C10", {"model": "smcn", **ADAM, **C10}),
    Column("SMCN10 Adam C10", {"model": "smcn10", **ADAM, **C10}),
    Column("SMCN_S Adam C10", {"model": "smcn_s", **ADAM, **C10}),
    Column("SMCN_BN Adam C10", {"model": "smcn_bn", **ADAM, **C10,
                                "model_options": {"bn_batch_stats_at_test": True, "blend_basis_batchnorm": True}}),
    Column("SMCN Momentum C10", {"model": "smcn", **MOMENTUM, **C10}),
    Column("SMCN Adam C100", {"model": "smcn", **ADAM, **C100}),
]

#: 60,000 steps of batch 256, per-image standardisation, 2,560 validation images from the front,
#: post-hoc early stopping: checkpoints every 1,480 steps, validation every 20 steps; pre-activation
#: statistics recorded for Fig. 2B
BASE = dict(batch_size=256, epochs=None, steps=60_000, eval_batch_size=1024, selection="posthoc",
            eval_every=20, checkpoint_every=1480, record_every=500, record_preact=True,
            data_options={"normalization": "per-image", "val_size": 2560, "val_from": "front"})

#: SMCN with every width divided by 4, 10k training images, 500 validation, 2k test, 300 steps of 128
QUICK = dict(steps=300, batch_size=128, eval_every=10, checkpoint_every=50, record_every=25, record_preact=True,
             model_options={"width_divisor": 4},
             data_options={"val_size": 500, "train_subset": 10_000, "test_subset": 2_000})
#: SMCN at a quarter of its width on the full training split, 6,000 steps of batch 128 (16 epochs, 1/20 of
#: the paper's examples seen); post-hoc early stopping as the paper. The SMCN_S and SMCN_BN columns run it;
#: SMCN (with its dropout of 0.5) runs at half width (MEDIUM_COLUMNS): at a quarter ReLU stays below the identity
#: (53.7 against 58.7 %, 3 seeds, and 59.9 against 61.2 % at 16,000 steps: campaign/probes/), at half width it
#: is far above it at 6,000 steps (70.2 against 62.1 %, seed 0; the paper: 79.4 against 75.5)
MEDIUM = dict(steps=6000, batch_size=128, eval_every=100, checkpoint_every=500, record_every=250, record_preact=True,
              model_options={"width_divisor": 4})
#: the medium profiles' SMCN and SMCN_S columns run channels-last (RunSpec.memory_format): 1.28-1.42x faster
#: runs on CPU (60-step runs, 2026-12-02); SMCN_BN stays contiguous, where channels-last was 6 % slower.
#: SMCN runs at half width (above), the same 6,000 steps
MEDIUM_COLUMNS = {"SMCN Adam C10": {"memory_format": "channels_last", "model_options": {"width_divisor": 2}},
                  "SMCN_S Adam C10": {"memory_format": "channels_last"}}
QUICK_BUDGET = "4-7 minutes on 2 CPU cores (table 1: 7, table 2: 4, table 3: 5) plus a one-time JPEG decode of CIFAR-10"
FULL_BUDGET = "30 runs x 60k steps per cell: about 25 CPU-hours per run, GPU only (200-400 GPU-hours in all)"
