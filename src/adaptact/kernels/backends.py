"""Registration of the backends: the reference (every family) and the fused engines (lowered families).

A fused implementation prepares a call in three steps: the checks every fused
engine shares (:func:`_untraceable`, dtype, empty input), the engine's own
device check, then the call's :class:`Plan`: the family's lowering
(:mod:`adaptact.kernels.lowering`) is run once per *signature* (family,
engine, options, the tensors' shapes, dtypes and devices) for its program and
the :class:`~adaptact.kernels.fused.Gather` that packs its parameters, and
the plan is reused by every later call with that signature. Under
``torch.compile`` (not ``torch.export``) the call becomes the custom op of
:mod:`adaptact.kernels.custom_ops`, which runs the same plan.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Optional, Sequence, Union

import torch
from torch import Tensor
from torch.autograd import forward_ad
from torch.nn import Parameter
from torch.utils._python_dispatch import is_in_torch_dispatch_mode

from adaptact import functional as AF
from adaptact.kernels import custom_ops, native_node
from adaptact.kernels.basis_batchnorm import blend_batchnorm_prepare
from adaptact.kernels.c_build import compiler
from adaptact.kernels.c_engine import CEngine
from adaptact.kernels.dispatch import (
    Backend, Implementation, Prepared, current, register_backend, register_fast_path, register_implementation,
)
from adaptact.kernels.fused import (
    Engine, FusedCall, FusedUnit, Gather, ReferenceCall, draw_seed, engine_input, run, same_dtype, tensor_arguments,
)
from adaptact.kernels.lowering import LOWERINGS, THETA_INPUTS, THETAS, Lowered
from adaptact.kernels.program import Program
from adaptact.kernels.triton_engine import TritonEngine, interpreting, triton_unavailable

__all__ = ["ENGINES", "FAMILIES", "Plan", "native_prepare", "opaque_backward", "opaque_forward", "plan_of"]

#: family -> the reference function (the signature every backend accepts)
FAMILIES: dict[str, Callable[..., Tensor]] = {
    "pau": AF.pau,
    "slaf": AF.slaf,
    "blend": AF.blend,
    "scaled": AF.scaled,
    "swish_beta": AF.swish_beta,
    "affine": AF.affine,
    "agumbel": AF.agumbel,
    "arelu": AF.arelu,
    "adaptive_cdf": AF.adaptive_cdf,
    "cdf_relu": AF.cdf_relu,
    "rpau_training": AF.rpau_training,
    "apl": AF.apl,
    "srelu": AF.srelu,
    "metaneuron": AF.metaneuron,
    "vaf": AF.vaf,
}

FUSED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def _untraceable(tensors: tuple[Tensor, ...]) -> Optional[str]:
    """Contexts where an opaque kernel must not run: they see (trace, transform, count) only torch ops.

    The reference is traced or transformed by them instead: ``torch.compile``
    and ``torch.export`` (which the default ONNX exporter uses), TorchScript
    and the TorchScript ONNX exporter, ``torch.func`` transforms (``vmap``,
    ``grad``, ``jvp``, ...), forward-mode AD, any ``TorchDispatchMode``
    (``make_fx`` tracing, fake tensors, functionalization, FLOP counters) and
    tensor subclasses (``DTensor``, ``FakeTensor``, ...). ``is_compiling`` comes
    first: dynamo folds it to a constant and never traces the checks after it.
    """
    if torch.compiler.is_compiling():
        return "inside torch.export (the reference formulas are traced instead: the fused op has no ONNX form)"
    if torch.jit.is_scripting() or torch.jit.is_tracing():
        return "inside TorchScript"
    if torch._C._are_functorch_transforms_active():
        return "inside a torch.func transform"
    if is_in_torch_dispatch_mode():
        return "inside a TorchDispatchMode (tracing, fake tensors or another mode that must see every op)"
    if getattr(forward_ad, "_current_level", -1) >= 0:
        return "inside forward-mode AD (a dual level)"
    if any(type(t) is not Tensor and type(t) is not Parameter for t in tensors):
        return "a tensor subclass"
    return None


@dataclass(frozen=True)
class Plan:
    """What every call of one signature shares: the program, the reference call without its tensors,
    and the parameters' :class:`Gather` (None when the lowering's packing is no gather: normalised blends).

    ``call``: the :class:`FusedCall` itself when every call of the signature has the same one (a
    deterministic program with a gather), so that such a call builds nothing but its autograd node.
    """

    program: Program
    reference: ReferenceCall
    gather: Optional[Gather]
    call: Optional[FusedCall] = None


#: signature -> plan; cleared when it holds this many (shapes that never repeat)
_PLAN_LIMIT = 4096
_PLANS: dict[tuple, Plan] = {}


def _frozen(a: Any) -> Any:
    """A hashable stand-in of an argument: a tensor by (shape, dtype, device), a sequence as a tuple of
    stand-ins (a sequence of plain values, such as a blend's basis names, at once)."""
    if isinstance(a, Tensor):
        return (a.shape, a.dtype, a.device)
    if isinstance(a, (list, tuple)):
        if any(isinstance(v, (Tensor, list, tuple)) for v in a):
            return tuple(map(_frozen, a))
        return a if type(a) is tuple else tuple(a)
    return a


def _signature(family: str, engine: Engine, args: tuple, kwargs: dict) -> tuple:
    """The call's signature: family, engine, each tensor's (shape, dtype, device), every other argument
    (possibly unhashable: such a call gets no cached plan)."""
    key = (family, engine.name, *map(_frozen, args))
    return key + tuple((k, _frozen(v)) for k, v in kwargs.items()) if kwargs else key


def plan_of(family: str, engine: Engine, x: Tensor, args: tuple, kwargs: dict,
            tensors: Sequence[Tensor]) -> Union[Plan, str]:
    """The plan of this call (cached by signature), or the lowering's reason why it has none."""
    key: Optional[tuple] = _signature(family, engine, args, kwargs)
    try:
        plan = _PLANS.get(key)
    except TypeError:  # an unhashable option
        key = plan = None
    if plan is None:
        with torch.no_grad():
            lowered = LOWERINGS[family](*args, **kwargs)
        if isinstance(lowered, str):
            return lowered
        reference = ReferenceCall.of(FAMILIES[family], x, args, kwargs)
        gather = Gather.probe(LOWERINGS[family], args, kwargs, tensors, reference.x_index)
        fixed = None
        if gather is not None and not lowered.program.stochastic:
            fixed = FusedCall(lowered.program, engine, 0, reference, gather)
        plan = Plan(lowered.program, reference, gather, fixed)
        if key is not None:
            if len(_PLANS) >= _PLAN_LIMIT:
                _PLANS.clear()
            _PLANS[key] = plan
    return plan


def _packed(family: str, plan: Plan, tensors: Sequence[Tensor]) -> Tensor:
    """The call's ``(G, P)`` float32 parameters, outside autograd."""
    if plan.gather is not None:
        return plan.gather.pack(tensors)
    with torch.no_grad():
        return plan.reference.with_tensors(tensors, LOWERINGS[family]).theta


def _opaque_plan(family: str, reference: ReferenceCall, tensors: Sequence[Tensor]) -> tuple[Engine, Plan, Tensor]:
    x = tensors[reference.x_index]
    engine = ENGINES["c" if x.device.type == "cpu" else "triton"]
    args, kwargs = reference.arguments(tensors)
    plan = engine.unavailable(x) or plan_of(family, engine, x, args, kwargs, tensors)
    failed = plan if isinstance(plan, str) else engine.load(plan.program)
    if failed:
        raise RuntimeError(f"the compiled fused {family} cannot compute this call ({failed})")
    return engine, plan, _packed(family, plan, tensors)


def opaque_forward(family: str, reference: ReferenceCall, tensors: Sequence[Tensor], seed: int) -> Tensor:
    """``y`` of a fused call outside autograd (the custom op's kernel)."""
    engine, plan, theta = _opaque_plan(family, reference, tensors)
    x = tensors[reference.x_index]
    return same_dtype(engine.forward(plan.program, engine_input(x, engine), theta, seed), x.dtype)


def opaque_backward(family: str, reference: ReferenceCall, tensors: Sequence[Tensor], dy: Tensor,
                    seed: int) -> tuple[Tensor, Tensor]:
    """``(dx, dtheta)`` of a fused call outside autograd (the custom op's backward kernel): the input's
    gradient and the packed ``(G, P)`` float32 parameters' gradient."""
    engine, plan, theta = _opaque_plan(family, reference, tensors)
    x = tensors[reference.x_index]
    dx, dtheta = engine.backward(plan.program, engine_input(x, engine), engine_input(same_dtype(dy, x.dtype), engine),
                                 theta, seed, True, True)
    return same_dtype(dx, x.dtype), dtheta.contiguous()


def _fused_prepare(engine: Engine, family: str, *args: Any, **kwargs: Any) -> Prepared:
    x = args[0] if args else kwargs["x"]
    tensors = tensor_arguments(args, kwargs)
    if torch.compiler.is_compiling() and not torch.compiler.is_exporting():
        return custom_ops.compiled_prepare(engine.name, family, x, args, kwargs)
    reason = _untraceable(tensors) or engine.unavailable(x)
    if reason:
        return reason
    if x.dtype not in FUSED_DTYPES:
        return f"dtype {x.dtype} (the fused kernels compute float32, float16 and bfloat16)"
    if x.numel() == 0:
        return "empty input"
    if any(t.device != x.device for t in tensors):
        return "parameters on another device than the input"
    if family == "blend" and engine.name == "c" and (args[6] if len(args) > 6 else kwargs.get("basis_batchnorm")):
        return blend_batchnorm_prepare(*args, **kwargs)  # batch statistics: its own four-pass computation
    plan = plan_of(family, engine, x, args, kwargs, tensors)
    if isinstance(plan, str):
        return plan
    failed = engine.load(plan.program)
    if failed:
        return failed
    if plan.call is not None:
        if engine.name == "c":
            _remember_ready(family, args, kwargs, Ready(plan.call, False, None))
        return partial(FusedUnit.apply, plan.call, None, *tensors)
    # a packing that is no gather (normalised blend weights) is computed on every call, for autograd to see
    if plan.gather is not None:
        lowered = Lowered(plan.program, None)
    else:
        theta = THETAS[family](*args, **kwargs) if family in THETAS else None
        lowered = Lowered(plan.program, theta) if isinstance(theta, Tensor) else LOWERINGS[family](*args, **kwargs)
    if engine.name == "c" and (plan.gather is not None or family in THETAS):
        template = FusedCall(plan.program, engine, 0, plan.reference, plan.gather)
        _remember_ready(family, args, kwargs,
                        Ready(template, plan.program.stochastic, None if plan.gather is not None else THETAS[family]))
    return partial(run, lowered, plan.reference, tensors, engine, plan.gather)


#: marks, in :data:`_PLANS`, the :class:`Ready` call of a signature the C backend served
_READY = object()


class Ready:
    """What a served CPU signature's calls share, for the fast path: the :class:`FusedCall` (its seed 0 a
    placeholder when ``seeded``: a stochastic program draws a seed per call), ``theta``: the function that
    packs the parameters with autograd on each call when the packing is no gather (normalised blends;
    None for a gather) and, once prepared, the C++ node's handle (:mod:`adaptact.kernels.native_node`)."""

    __slots__ = ("call", "seeded", "theta", "native")

    def __init__(self, call: FusedCall, seeded: bool, theta: Optional[Callable[..., Any]]) -> None:
        self.call, self.seeded, self.theta, self.native = call, seeded, theta, None

    @property
    def packs(self) -> bool:
        """Whether the C++ node computes ``theta`` itself (a prepared handle of a call without a gather: it
        was given :data:`THETA_INPUTS`), so Python need not."""
        return self.native is not None and self.theta is not None


def native_prepare(family: str, call: FusedCall, tensors: Sequence[Tensor], theta: Optional[Tensor],
                   args: tuple, kwargs: dict) -> Optional[int]:
    """The C++ node's handle of a served CPU call (:func:`adaptact.kernels.native_node.prepare`): its
    parameters gathered, or (no gather) made by the node from :data:`THETA_INPUTS`; None where the node
    cannot take it (not ready, or no gather and no theta inputs for the family)."""
    if call.gather is not None:
        return native_node.prepare(call, tensors)
    if family not in THETA_INPUTS:
        return None
    return native_node.prepare(call, tensors, theta, THETA_INPUTS[family](*args, **kwargs))


def _remember_ready(family: str, args: tuple, kwargs: dict, ready: Ready) -> None:
    try:
        _PLANS[(_READY, _signature(family, ENGINES["c"], args, kwargs))] = ready
    except TypeError:  # an unhashable option: no fast path for it
        pass


def _fast_cpu_call(family: str, args: tuple, kwargs: dict) -> Optional[Callable[[], Tensor]]:
    """The prepared call of a CPU call whose signature :func:`_fused_prepare` already served with a fixed
    :class:`FusedCall` (shapes, dtypes, devices, options and the built kernels were checked then), after
    the checks that depend on the moment (tracing, transforms, dispatch modes, subclasses); else None.
    It runs on the C++ autograd node (:mod:`~adaptact.kernels.native_node`) once that is built, else on
    :class:`FusedUnit`."""
    if torch.compiler.is_compiling():  # first: dynamo folds it and traces the general path
        return None
    x = args[0] if args else kwargs.get("x")
    engine = ENGINES["c"]
    if not isinstance(x, Tensor) or engine.unavailable(x) is not None:
        return None
    try:
        ready = _PLANS.get((_READY, _signature(family, engine, args, kwargs)))
    except TypeError:
        return None
    if ready is None:
        return None
    tensors = tensor_arguments(args, kwargs)
    if _untraceable(tensors) is not None:
        return None
    native = native_node.enabled()
    theta = None
    if ready.theta is not None and not (native and ready.packs):
        theta = ready.theta(*args, **kwargs)
        if not isinstance(theta, Tensor):
            return None
    if native:
        if ready.native is None:
            ready.native = native_prepare(family, ready.call, tensors, theta, args, kwargs)
        if ready.native is not None:  # a stochastic call's seed is drawn by the node (native_node.DRAW)
            return partial(native_node.apply, ready.native, native_node.DRAW if ready.seeded else 0,
                           None if ready.packs else theta, tensors)
    if ready.seeded:
        return partial(FusedUnit.apply, ready.call._replace(seed=draw_seed(ready.call.program)), theta, *tensors)
    return partial(FusedUnit.apply, ready.call, theta, *tensors)


def _reference_prepare(reference: Callable[..., Tensor], *args: Any, **kwargs: Any) -> Prepared:
    return partial(reference, *args, **kwargs)


#: the fused engines by backend name
ENGINES: dict[str, Engine] = {"c": CEngine(), "triton": TritonEngine()}


def _triton_serves(device_type: str) -> bool:
    """CUDA; on CPU only in the interpreter when Triton is forced (``use("triton")``, for its tests)."""
    return device_type == "cuda" or (device_type == "cpu" and current() == "triton" and interpreting())


def _register() -> None:
    register_backend(Backend("reference", lambda: None))
    register_backend(Backend("c", lambda: None if compiler() is not None else "no working C compiler",
                             lambda device_type: device_type == "cpu"))
    register_backend(Backend("triton", triton_unavailable, _triton_serves))
    for family, reference in FAMILIES.items():
        register_implementation(Implementation(family, "reference", partial(_reference_prepare, reference)))
        for backend, engine in ENGINES.items():
            register_implementation(Implementation(family, backend, partial(_fused_prepare, engine, family)))
    register_fast_path(_fast_cpu_call)


_register()
