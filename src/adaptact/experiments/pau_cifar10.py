"""PAU paper, Table 3 (§4.3, App. A.4): 14 activations x {VGG-8, MobileNetV2, ResNet101, DenseNet121} on CIFAR-10.

Protocol (App. A.4.1), with the numbers the text lost replaced by proposals (EXPERIMENTS.md §6;
the authors' public code covers only MNIST/Fashion-MNIST, so none of these is [code]):

- SGD with momentum, 400 epochs (stated); momentum LOST -> 0.9.
- network: initial learning rate LOST -> 0.1; decay per epoch LOST -> x0.985 per epoch;
  weight decay LOST -> 5e-4; batch size LOST -> 128.
- activation parameters: their own group with a constant learning rate per network (stated;
  value LOST -> 0.01 for every network) and no weight decay (stated).
- RPAU noise LOST ("set to [X] for VGG8 and MobileNetV2, respectively [Y] for ResNet101") ->
  c (1 + u), u ~ U(-0.01, 0.01) for every network; the ResNet101 value is unknown.
- augmentation not stated -> random 32x32 crop of the 4-padded image and horizontal flip;
  normalisation not stated -> per-channel mean / std of the training images.
- weights PyTorch's default initialisation; PAU coefficients Table 6 LReLU (the library's default).
- reported: mean ± std over 5 seeds of the test accuracy after the last epoch, and "best" (not
  defined -> the maximum over the seeds).
"""
from __future__ import annotations

from adaptact.experiments import checks as C
from adaptact.experiments.base import Column, Experiment, Profile, Row
from adaptact.experiments.pau_mnist_fmnist import ROWS as TABLE2_ROWS

_TABLE2 = {r.label: r for r in TABLE2_ROWS}
#: Table 3's rows in its order: Table 2's without SLAF (it gave NaNs), with Maxout (k=2) and Mixture (id, ReLU)
ROWS = [_TABLE2[label] for label in ("ReLU", "ReLU6", "LReLU", "RReLU", "ELU", "CELU", "PReLU", "Swish")] + [
    Row("Maxout", {"act": "maxout"}, baseline="ReLU"),
    Row("Mixture", {"act": "mixture"}, baseline="ReLU"),
] + [_TABLE2[label] for label in ("APL", "SReLU", "PAU", "RPAU")]

NETWORKS = {
    "VGG-8": "vgg8_cifar",
    "MobileNetV2": "mobilenetv2_cifar",
    "ResNet101": "resnet101_cifar",
    "DenseNet121": "densenet121_cifar",
}
COLUMNS = [Column(label, {"model": model}) for label, model in NETWORKS.items()]
FIXED = ("ReLU", "ReLU6", "LReLU", "RReLU", "ELU", "CELU", "Swish")
BASELINES = FIXED + ("PReLU", "Maxout", "Mixture", "APL", "SReLU")
#: the two "***" cells of Table 3 (mean ± std and best of one network): App. A.4.2 gives Maxout parameter
#: counts for VGG-8, MobileNetV2 and ResNet101 but none for DenseNet121, so we read them as DenseNet121's
MAXOUT_NOT_RUN = "DenseNet121"

#: the training protocol shared by every profile (see the module docstring for what each number is)
PROTOCOL = dict(
    data="cifar10", optimizer="sgd", momentum=0.9, lr=0.1, weight_decay=5e-4, batch_size=128,
    schedule="exponential", schedule_options={"gamma": 0.985},
    act_lr=0.01, act_weight_decay=0.0, act_schedule=False,
    augment={"crop_padding": 4, "flip": True}, data_options={"normalization": "mean-std"},
    selection="final", eval_train=False,
)

QUICK_VGG_ROWS = ("ReLU", "LReLU", "Swish", "PReLU", "Maxout", "Mixture", "PAU", "RPAU")
QUICK_MOBILE_ROWS = ("ReLU", "Mixture", "PAU")
QUICK = Profile(
    "quick",
    {"epochs": 3, "lr": 0.05, "eval_batch_size": 500,
     "data_options": {"train_subset": 10_000, "test_subset": 2_000}},
    columns=("VGG-8", "MobileNetV2"), seeds=1,
    columns_spec={
        "VGG-8": {"model_options": {"width_divisor": 4}},
        "MobileNetV2": {"model_options": {"width_divisor": 8}, "epochs": 2,
                        "data_options": {"train_subset": 4_000, "test_subset": 1_000}},
    },
    column_rows={"VGG-8": QUICK_VGG_ROWS, "MobileNetV2": QUICK_MOBILE_ROWS},
    expect="VGG-8 (widths / 4, 10k images, 3 epochs): PAU within 2 pp of the best baseline, Maxout at least "
           "ReLU - 1 pp; MobileNetV2 (widths / 8, 4k images, 2 epochs) above chance for every row; no NaN",
    budget="measured: 20.8 min wall, 697 CPU-s, on 2 cores shared with other jobs (load 5-11); about 6-8 "
           "minutes on 2 idle cores (plus a one-time JPEG decode of CIFAR-10)",
    checks=(C.close_to_best("PAU", tuple(r for r in QUICK_VGG_ROWS if r not in ("PAU", "RPAU")), "VGG-8", 2.0),
            C.no_worse_than("Maxout", "ReLU", "VGG-8", 1.0),
            C.at_least(None, 15.0, ("MobileNetV2",)),
            C.finite_everywhere()),
)
FULL = Profile(
    "full", {"epochs": 400}, seeds=5,
    column_rows={MAXOUT_NOT_RUN: tuple(r.label for r in ROWS if r.label != "Maxout")},
    budget="about 1,000 GPU-hours (400 epochs x 14 rows x 4 networks x 5 seeds; ResNet101 and DenseNet121 "
           "dominate); not feasible on a CPU",
    checks=(C.close_to_best("PAU", BASELINES, "ResNet101", 0.0),
            C.no_worse_than("Maxout", "ReLU", "VGG-8"),
            C.no_worse_than("Mixture", "ReLU", "MobileNetV2"),
            *(C.close_to_best("PAU", BASELINES, col, 0.5) for col in ("VGG-8", "MobileNetV2")),
            C.close_to_best("PAU", BASELINES, "DenseNet121", 1.0),
            C.finite_everywhere()),
)

EXPERIMENT = Experiment(
    name="pau-cifar10",
    title="Padé Activation Units on CIFAR-10 (VGG-8, MobileNetV2, ResNet101, DenseNet121)",
    paper="Molina, Schramowski & Kersting: Padé Activation Units",
    source="Table 3, §4.3, App. A.4",
    rows=ROWS,
    columns=COLUMNS,
    base=PROTOCOL,
    profiles={"quick": QUICK, "full": FULL},
    published={},
    published_note=(
        "Table 3's numbers were lost in the text extraction. The paper claims: VGG-8 and MobileNetV2 "
        "benefit from the learnable activations (Maxout, PAU, RPAU); Maxout helps VGG-8; Mixture helps "
        "MobileNetV2 but not VGG-8; PAU/RPAU lead or are close to the best; on ResNet101 PAU is best; on "
        "DenseNet121 PAU/RPAU are competitive with a low std. Two Maxout cells print '***' (not run): we "
        f"read them as {MAXOUT_NOT_RUN} (mean ± std, best), the one network App. A.4.2 gives no Maxout "
        f"parameter count for, and do not run Maxout on {MAXOUT_NOT_RUN} (its pre-activation layers have "
        "no layer before the activation to widen)."
    ),
    statistics=("std", "best"),
    figures=("activations", "curves"),
)
