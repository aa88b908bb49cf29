"""The papers' architectures, each taking ``act=`` (a name, factory or module class).

>>> from adaptact.models import create_model
>>> net = create_model("lenet", act="pau")            # the PAU paper's LeNet, 4 PAUs
>>> net = create_model("lenet5", act_conv="agumbel", act_fc="arelu")

A user's own architecture joins the same table with :func:`register_model`, or is named by its
import path (``"my_pkg.nets:make_net"``) wherever a model name is accepted (``RunSpec.model``,
``--model``). Its factory has the built-ins' contract:
``factory(*, act, in_channels, num_classes, input_size, vocab_size, **options) -> nn.Module``
(``act`` is what ``RunSpec.act`` says: a name to give :func:`adaptact.create`; ``input_size`` is the
image side or ``None``; ``vocab_size`` is ``None`` except for text).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from adaptact.models.adact_convnet import AdActConvNet
from adaptact.models.densenet import DenseNet
from adaptact.naming import import_object, is_import_path, resolve_name
from adaptact.models.layers import ActSpec, activation, describe_act, widen
from adaptact.models.lenet import LeNet, LeNet5
from adaptact.models.mlp import MLP
from adaptact.models.mobilenetv2 import MobileNetV2
from adaptact.models.resnet import ResNet
from adaptact.models.sentence_cnn import SentenceCNN
from adaptact.models.smcn import SMCN
from adaptact.models.vgg import VGG8

__all__ = [
    "MLP", "SMCN", "VGG8", "AdActConvNet", "DenseNet", "LeNet", "LeNet5", "MobileNetV2", "ModelInfo", "ResNet",
    "SentenceCNN", "ActSpec", "activation", "create_model", "describe_act", "list_models", "model_info",
    "register_model", "registered_origins", "widen",
]


@dataclass(frozen=True)
class ModelInfo:
    """What the experiment engine needs to know about an architecture before building it.

    Attributes:
        name: registry name.
        build: ``build(in_channels, num_classes, input_size, vocab_size, **options) -> nn.Module``.
        summary: one line.
        input_kind: ``"image"`` ``(N, C, H, W)``, ``"tokens"`` ``(N, L)``, ``"vector"`` (flattened; the factory
            also gets ``in_features``) or ``"any"`` (a user's model: not checked against the data).
        required_size: the image side the architecture needs (``None``: any).
        act_arguments: the names of its activation arguments (``act``, or ``act_conv``/``act_fc``).
        maxout: whether ``act="maxout"`` is supported (the layer before is widened).
    """

    name: str
    build: Callable[..., nn.Module]
    summary: str
    input_kind: str = "image"
    required_size: int | None = None
    act_arguments: tuple[str, ...] = ("act",)
    maxout: bool = True


def _image(cls, **fixed):
    def build(in_channels, num_classes, input_size, vocab_size, **kw):
        return cls(in_channels=in_channels, num_classes=num_classes, **fixed, **kw)
    return build


def _sized(cls, **fixed):
    def build(in_channels, num_classes, input_size, vocab_size, **kw):
        return cls(in_channels=in_channels, num_classes=num_classes, input_size=input_size, **fixed, **kw)
    return build


def _mlp(in_channels, num_classes, input_size, vocab_size, **kw):
    in_features = kw.pop("in_features", None) or in_channels * (input_size or 1) ** 2
    return MLP(in_features=in_features, num_classes=num_classes, **kw)


def _sentence(in_channels, num_classes, input_size, vocab_size, **kw):
    if vocab_size is None:
        raise ValueError("sentence_cnn needs vocab_size (from the text data set)")
    return SentenceCNN(vocab_size=vocab_size, num_classes=num_classes, **kw)


_MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in (
        ModelInfo("lenet", _image(LeNet), "PAU paper LeNet: 3 conv + 2 linear, 32x32 input (61,706 weights)",
                  required_size=32),
        ModelInfo("lenet5", _sized(LeNet5), "Farhadi LeNet-5: 2 conv + BN + dense 1000 (act_conv, act_fc)",
                  act_arguments=("act_conv", "act_fc")),
        ModelInfo("vgg8", _image(VGG8, variant="mnist"), "PAU paper VGG-8 for MNIST/F-MNIST, 32x32 input",
                  required_size=32),
        ModelInfo("vgg8_cifar", _image(VGG8, variant="cifar"), "VGG-8 with batch norm for CIFAR-10 (3.9M)",
                  required_size=32),
        ModelInfo("mobilenetv2_cifar", _image(MobileNetV2, variant="cifar"),
                  "MobileNetV2 for CIFAR-10 (PAU paper's reference, 2.3M, 36 activation layers)", required_size=32),
        ModelInfo("resnet101_cifar", _image(ResNet, depth=101),
                  "bottleneck ResNet101 for CIFAR-10 (42.5M, 100 activation layers)", required_size=32),
        ModelInfo("densenet121_cifar", _image(DenseNet, depth=121),
                  "DenseNet121 for CIFAR-10 (7.0M, 120 activation layers; no Maxout)", required_size=32,
                  maxout=False),
        ModelInfo("mobilenetv2", _image(MobileNetV2, variant="imagenet"),
                  "MobileNetV2 for ImageNet, 224x224 input (3.5M for 1000 classes, 35 activation layers)"),
        ModelInfo("smcn", _image(SMCN, variant="vanilla"), "ABU paper SMCN (1.8M), 32x32x3", required_size=32),
        ModelInfo("smcn10", _image(SMCN, variant="smcn10"), "SMCN with 10 hidden layers", required_size=32),
        ModelInfo("smcn_s", _image(SMCN, variant="s"), "SMCN without dropout, average pools", required_size=32),
        ModelInfo("smcn_bn", _image(SMCN, variant="bn"), "SMCN with batch norm, no dropout", required_size=32),
        ModelInfo("adact_convnet", _sized(AdActConvNet), "AdAct paper ConvNet: 4 x (conv, BN, act, pool)"),
        ModelInfo("mlp", _mlp, "multi-layer perceptron (teacher data, meta-neuron networks)",
                  input_kind="vector"),
        ModelInfo("sentence_cnn", _sentence, "Kim (2014) sentence CNN, windows 3/4/5",
                  input_kind="tokens", act_arguments=("act_conv", "act_fc"), maxout=False),
    )
}


#: models added by :func:`register_model` (and import paths already resolved), by name
_USER_MODELS: dict[str, ModelInfo] = {}
INPUT_KINDS = ("image", "tokens", "vector", "any")


def _user_info(name: str, factory: Callable[..., nn.Module], *, input_kind: str, required_size: int | None,
               act_arguments: tuple[str, ...], summary: str) -> ModelInfo:
    if not callable(factory):
        raise ValueError(f"model {name!r}: the factory must be callable, got {type(factory).__name__}")
    if input_kind not in INPUT_KINDS:
        raise ValueError(f"model {name!r}: input_kind must be one of {INPUT_KINDS}, got {input_kind!r}")
    act_arguments = tuple(act_arguments)
    if not act_arguments or not all(isinstance(a, str) and a.isidentifier() for a in act_arguments):
        raise ValueError(f"model {name!r}: act_arguments must be argument names, got {act_arguments!r}")

    def build(in_channels, num_classes, input_size, vocab_size, **kw):
        return factory(in_channels=in_channels, num_classes=num_classes, input_size=input_size,
                       vocab_size=vocab_size, **kw)

    build.origin = getattr(factory, "__module__", None) or "?"  # type: ignore[attr-defined]
    doc = (getattr(factory, "__doc__", None) or "").strip().splitlines()
    return ModelInfo(name, build, summary or (doc[0] if doc else f"user model {name}"), input_kind, required_size,
                     act_arguments, maxout=False)


def register_model(
    name: str,
    factory: Callable[..., nn.Module] | None = None,
    *,
    input_kind: str = "any",
    required_size: int | None = None,
    act_arguments: tuple[str, ...] = ("act",),
    summary: str = "",
):
    """Add a user's architecture under ``name``; usable as ``register_model("net", make_net)`` or as a decorator.

    ``factory(*, act, in_channels, num_classes, input_size, vocab_size, **options)`` returns the model
    (see the module). ``input_kind="vector"`` passes ``in_features`` too (flattened inputs, e.g. CSV data);
    ``required_size`` resizes images to that side; ``act_arguments`` names several activation arguments
    (``("act_conv", "act_fc")``). A built-in name cannot be taken; registering a name again replaces it.
    The sweep's worker processes must register it too: register at import time of a module (or of the
    experiment file) rather than inside a function, or pass the import path instead.
    """
    if factory is None:
        return lambda f: register_model(name, f, input_kind=input_kind, required_size=required_size,
                                        act_arguments=act_arguments, summary=summary) or f
    key = str(name).strip().lower()
    if not key or is_import_path(key) or ":" in key:
        raise ValueError(f"model name {name!r} must be a plain name (import paths need no registration)")
    if key in _MODELS:
        raise ValueError(f"model {name!r} is a built-in architecture; register yours under another name")
    _USER_MODELS[key] = _user_info(key, factory, input_kind=input_kind, required_size=required_size,
                                   act_arguments=act_arguments, summary=summary)
    return factory


def registered_origins() -> dict[str, str]:
    """``name -> module`` of the factory of every model added by :func:`register_model` (what workers import)."""
    return {name: getattr(info.build, "origin", "?") for name, info in _USER_MODELS.items()
            if not is_import_path(name)}


def _from_import_path(path: str) -> ModelInfo:
    """A :class:`ModelInfo` for ``package.module:factory``: the object itself if it is one, else built from the
    callable and its optional attributes ``input_kind``, ``required_size``, ``act_arguments``."""
    obj = import_object(path, "model factory")
    if isinstance(obj, ModelInfo):
        return obj
    return _user_info(path, obj, input_kind=getattr(obj, "input_kind", "any"),
                      required_size=getattr(obj, "required_size", None),
                      act_arguments=tuple(getattr(obj, "act_arguments", ("act",))), summary="")


def list_models() -> list[str]:
    """The registered architecture names (built-in and :func:`register_model`'s)."""
    return sorted({**_MODELS, **_USER_MODELS})


def model_info(name: str) -> ModelInfo:
    """The :class:`ModelInfo` of ``name`` (a name or an import path); unknown names list the choices."""
    if is_import_path(name):
        if name not in _USER_MODELS:
            _USER_MODELS[name] = _from_import_path(name)
        return _USER_MODELS[name]
    table = {**_MODELS, **_USER_MODELS}
    return table[resolve_name(name, table, {}, "model")]


def create_model(
    name: str,
    *,
    in_channels: int = 1,
    num_classes: int = 10,
    input_size: int | None = None,
    vocab_size: int | None = None,
    **options: Any,
) -> nn.Module:
    """Build architecture ``name`` for data with ``in_channels``/``input_size`` (images) or ``vocab_size`` (text).

    ``options`` go to the architecture (``act=``, ``act_options=``, ``width_divisor=``, ...).
    """
    info = model_info(name)
    if info.required_size is not None and input_size not in (None, info.required_size):
        raise ValueError(f"model {name!r} needs {info.required_size}x{info.required_size} inputs, got {input_size}")
    for arg in info.act_arguments:
        act = options.get(arg)
        if not info.maxout and isinstance(act, str) and widen(act) > 1:
            raise ValueError(f"model {name!r} does not support {arg}='maxout'")
    return info.build(in_channels, num_classes, input_size, vocab_size, **options)
