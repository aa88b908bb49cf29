"""Call sites: one module object called at several places in its parent's ``forward``.

torchvision's ResNet blocks call one ``self.relu`` three times; the PAU paper
gives each of those activation layers its own unit. :func:`call_site_counts`
reads the parent's source (``ast``; no tracing, so models that ``torch.fx``
cannot trace work too) and counts the places where each child is called as
``self.<name>(...)``. :class:`CallSites` then holds one unit per call site and
hands the ``k``-th call within one ``forward`` of the parent to unit ``k``: a
forward pre-hook on the parent (:func:`reset_call_sites`) starts the count
again at every call of the parent.
"""
from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Callable, Optional

from torch import Tensor, nn

__all__ = ["CallSites", "call_site_counts", "install_reset_hook", "reset_all_call_sites", "reset_call_sites"]


def _class_sources(cls: type) -> list[str]:
    """The source of every method of every class in ``cls``'s MRO below ``nn.Module``.

    Read method by method (``inspect.getsource`` of each function), which also
    works for classes defined in a notebook cell, where the class's own source
    cannot be found. Methods without source are left out.
    """
    out = []
    for c in cls.__mro__:
        if c is nn.Module or not issubclass(c, nn.Module):
            break
        for member in vars(c).values():
            fn = getattr(member, "__func__", member)
            if not inspect.isfunction(fn):
                continue
            try:
                out.append(textwrap.dedent(inspect.getsource(fn)))
            except (OSError, TypeError):
                continue
    return out


class _SelfUses(ast.NodeVisitor):
    """Counts ``self.<name>(...)`` calls, and notes where ``self.<name>`` is handed on as a value.

    Handed on: a call argument, the value of an assignment, a returned or
    yielded value, an element of a list/tuple/dict/set, the iterable of a loop.
    Tests such as ``if self.act is not None`` are neither.
    """

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.other: set[str] = set()

    @staticmethod
    def _self_attr(node: ast.AST) -> Optional[str]:
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
            return node.attr
        return None

    def _handed_on(self, *nodes: Optional[ast.AST]) -> None:
        for node in nodes:
            name = self._self_attr(node) if node is not None else None
            if name is not None:
                self.other.add(name)

    def visit_Call(self, node: ast.Call) -> None:
        name = self._self_attr(node.func)
        if name is not None:
            self.calls[name] = self.calls.get(name, 0) + 1
        self._handed_on(*node.args, *(k.value for k in node.keywords))
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        self._handed_on(node.value)
        self.generic_visit(node)

    def visit_Return(self, node: ast.Return) -> None:
        self._handed_on(node.value)
        self.generic_visit(node)

    def visit_Yield(self, node: ast.Yield) -> None:
        self._handed_on(node.value)
        self.generic_visit(node)

    def visit_For(self, node: ast.For) -> None:
        self._handed_on(node.iter)
        self.generic_visit(node)

    def _elements(self, node: ast.AST) -> None:
        self._handed_on(*getattr(node, "elts", []), *getattr(node, "values", []))
        self.generic_visit(node)

    visit_List = visit_Tuple = visit_Set = visit_Dict = _elements


def call_site_counts(parent: nn.Module) -> dict[str, Optional[int]]:
    """For each child name of ``parent``: how many call sites ``self.<name>(...)`` its class's methods have.

    ``None`` when the count cannot be told: the source is not available, or
    the child is also used other than by a direct call (passed to a function,
    aliased, iterated). ``nn.Sequential`` and ``nn.ModuleList``/``ModuleDict``
    call or hand out each item once: 1 each.
    """
    names = [name for name, child in parent._modules.items() if child is not None]
    if isinstance(parent, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
        return {name: 1 for name in names}
    sources = _class_sources(type(parent))
    if not sources:
        return {name: None for name in names}
    uses = _SelfUses()
    for source in sources:
        try:
            uses.visit(ast.parse(source))
        except SyntaxError:
            return {name: None for name in names}
    return {name: (None if name in uses.other else uses.calls.get(name, 0)) for name in names}


class CallSites(nn.Module):
    """One unit per call site of an activation its parent calls several times per ``forward``.

    The ``k``-th call within one ``forward`` of the parent is computed by
    ``sites[k]``. More calls than sites is an error (the parent calls the
    module in a loop or from a place its source does not show).
    """

    def __init__(self, sites: list[nn.Module], path: str, counted: bool = True) -> None:
        super().__init__()
        self.sites = nn.ModuleList(sites)
        self.path = path
        self.counted = counted
        self.calls = 0

    def forward(self, x: Tensor) -> Tensor:
        k = self.calls
        if k >= len(self.sites):
            why = (f"the source of its parent shows {len(self.sites)} call site(s)" if self.counted else
                   "the source of its parent does not show its calls (not readable, or the module is handed on)")
            raise RuntimeError(
                f"{self.path} was called {k + 1} times in one forward of its parent, but {why}; "
                f"replace with share=True to use one shared unit"
            )
        self.calls = k + 1
        return self.sites[k](x)

    def extra_repr(self) -> str:
        return f"{len(self.sites)} call sites"


def reset_call_sites(parent: nn.Module, args: tuple) -> None:
    """Forward pre-hook of a parent: its :class:`CallSites` children count calls from zero again."""
    for child in parent.children():
        if isinstance(child, CallSites):
            child.calls = 0


def reset_all_call_sites(root: nn.Module, args: tuple) -> None:
    """Forward pre-hook of a model: every :class:`CallSites` in it counts from zero again.

    The parent's own hook covers a parent called several times per step; this one
    covers a module called from outside its parent's ``forward``.
    """
    for m in root.modules():
        if isinstance(m, CallSites):
            m.calls = 0


def install_reset_hook(module: nn.Module, hook: Callable[[nn.Module, tuple], None] = reset_call_sites) -> None:
    """Register ``hook`` (a module-level function, so copies of the model stay independent) on ``module`` once."""
    if hook not in module._forward_pre_hooks.values():
        module.register_forward_pre_hook(hook)
