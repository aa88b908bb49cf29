"""The embedded demonstration: an MLP on scikit-learn's digits, ReLU against trainable units (no data directory)."""
from __future__ import annotations

from adaptact.experiments import checks as C
from adaptact.experiments.base import Column, Experiment, Profile, Row

UNITS = [("ReLU", "relu", None), ("PAU", "pau", "LReLU"), ("ABU", "abu", "ReLU"), ("AdAct", "adact", "ReLU"),
         ("AGumbel", "agumbel", "Sigmoid"), ("AReLU", "arelu", "ReLU"), ("Swish-beta", "swish_beta", "SiLU"),
         ("alpha-ReLU", "scaled_relu", "ReLU"), ("LReLU", "lrelu", None), ("Sigmoid", "sigmoid", None),
         ("SiLU", "silu", None)]

EXPERIMENT = Experiment(
    name="digits",
    title="Trainable activations on scikit-learn's digits (embedded demonstration)",
    paper="adaptact",
    source="not a paper table: a quick, many-seed comparison that needs no data directory",
    rows=[Row(label, {"act": act}, baseline=base) for label, act, base in UNITS],
    columns=[Column("digits MLP 64-64", {"data": "digits"})],
    base=dict(model="mlp", model_options={"hidden": [64, 64]}, optimizer="adam", lr=3e-3, batch_size=64,
              selection="final", record_every=20, eval_train=True),
    profiles={
        "quick": Profile("quick", {"epochs": 30}, seeds=5,
                         expect="every unit reaches 90% or more (the sigmoid-shaped ones learn slowest); "
                                "differences of a few tenths are noise at 450 test images",
                         budget="under a minute on 2 CPU cores",
                         checks=(C.at_least(None, 90.0), C.finite_everywhere(),
                                 C.close_to_best("PAU", ("ReLU", "LReLU", "SiLU"), "digits MLP 64-64", 1.0),
                                 C.close_to_best("ABU", ("ReLU", "LReLU", "SiLU"), "digits MLP 64-64", 1.0))),
        "full": Profile("full", {"epochs": 100}, seeds=20, budget="about 15 minutes on 2 CPU cores"),
    },
    figures=("activations", "curves", "parameters"),
)
