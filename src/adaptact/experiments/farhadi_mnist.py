"""Farhadi, Nia & Lodi, Table 2 (§4.2): LeNet-5 on MNIST, convolutional x dense activations."""
from __future__ import annotations

from adaptact.experiments import checks as C
from adaptact.experiments.base import Experiment, Profile
from adaptact.experiments.farhadi_common import conv_rows, dense_columns, published_grid

_TABLE = {"ReLU": (99.1, 98.7, 99.1), "AReLU": (98.8, 98.9, 98.9), "AGumb": (98.7, 98.8, 98.9)}

EXPERIMENT = Experiment(
    name="farhadi-mnist",
    title="Adaptive activations per neuron in LeNet-5 on MNIST (conv rows x dense columns)",
    paper="Farhadi, Nia & Lodi: Activation Adaptation in Neural Networks",
    source="Table 2, §4.2",
    rows=conv_rows(),
    columns=dense_columns(),
    # Theano-tutorial LeNet-5 with batch norm and a 1000-unit dense layer; plain SGD 0.01, batch 100,
    # 150 epochs, pixels in [0, 1], the last 10k training images held out for validation
    base=dict(model="lenet5", data="mnist", optimizer="sgd", lr=0.01, momentum=0.0, batch_size=100,
              selection="final", record_every=100,
              data_options={"normalization": "unit", "val_size": 10_000, "val_from": "back"}),
    profiles={
        "quick": Profile("quick", {"epochs": 2, "data_options": {"val_size": 0, "train_subset": 20_000}}, seeds=1,
                         expect="all cells >= 96% and within about 1.5 pp of each other; alpha stays finite",
                         budget="about 2-3 minutes on 2 CPU cores",
                         checks=(C.at_least(None, 96.0), C.within_spread(None, 1.5, across_columns=True),
                                 C.finite_everywhere())),
        # medium: 30 of the paper's 150 epochs on the full training split (the learning curves show whether
        # they have flattened), 3 seeds instead of the paper's single run
        "medium": Profile("medium", {"epochs": 30}, seeds=3,
                          expect="the conv x dense grid at 30 epochs, 3 seeds: paired differences of about 0.3 pp are "
                                 "detectable (80% power); curves per epoch show how flat they are",
                          budget="27 runs of 30 LeNet-5 epochs on 50k images: 4.75 CPU-hours (measured on 2 shared cores, 2026-12-02)",
                          checks=(C.at_least(None, 98.0), C.finite_everywhere())),
        "full": Profile("full", {"epochs": 150}, seeds=1, budget="about 8 CPU-hours (5x the medium profile's epochs at a third of its seeds)"),
    },
    published=published_grid(_TABLE),
    published_note=("single runs; the text claims adaptive Gumbel in the convolutional layers is best, closely "
                    "followed by ReLU, which the table itself does not show (the ReLU row is highest)"),
    figures=("parameters", "curves", "error-curves"),
    # §4.2: "the best performance appears for adaptive Gumbel on convolutional layer, closely followed by ReLU"
    claims=C.claims_per_column("conv AGumb above the other conv activations ({column})", "conv AGumb",
                               ("conv ReLU", "conv AReLU"), [c.label for c in dense_columns()]),
)
