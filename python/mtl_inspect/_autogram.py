"""Per-tensor Gram matrices of per-task gradients with torchjd's ``autogram``
engine (optional fast path; ``pip install torchjd==0.18.0``).

For task losses L_1..L_T (already weighted: pass w_t·L_t) and shared
parameter tensors P_1..P_S this returns G [S, T, T] float64 with
G[s, i, j] = <∂L_i/∂P_s, ∂L_j/∂P_s>; the total Gram is G.sum(0).

How torchjd 0.18.0's engine works, and what that implies here:

* ``Engine(*modules, batch_dim=None)`` installs a forward hook on every
  module (searched recursively) that owns a parameter with
  ``requires_grad`` directly. The hook wraps the module's outputs in an
  identity autograd node. ``engine.compute_gramian(torch.stack(losses))``
  then runs ONE backward pass vmapped over the T rows of the identity
  (``torch.vmap`` of ``torch.autograd.grad``); at each wrapped module the
  node computes that module's Jacobian rows [T, P_module] with
  ``torch.autograd.grad`` and turns them into J Jᵀ, summed over modules.
  So the forward that produced the losses must run AFTER the engine is
  created (while its hooks are in place); losses of a forward that ran
  before cannot be used. Hence the callable argument below.
* Only ``torch.autograd.grad`` is used: ``.grad`` is never touched.
* Public API gives the total Gram only (per module at best, with one
  engine per module). The Jacobian of a module is the concatenation of
  its parameters' columns, so splitting it per parameter is exact; this
  file does that by overriding the engine's (private)
  ``_make_gramian_computer`` with a computer that records
  J_s J_sᵀ in float64 per shared tensor. Hence the pinned version.
* ``batch_dim`` must be None here: the losses are per task, not per
  sample, and BatchNorm mixes samples anyway (torchjd refuses BatchNorm
  with a batch_dim).
* Restrictions (torchjd's): a hooked module's parameters must be used
  through the module's own ``__call__`` (not ``module.weight`` read from
  a parent's forward: that use is silently missed); every forward call of
  a hooked module made while the engine lives must reach the losses (a
  call whose output is detached or unused makes compute_gramian raise);
  a module with params and child modules is treated as one block with the
  children's parameters. Modules may be called several times (the T task
  paths of a folded or per-task trunk): the engine sums the Jacobians of
  the calls before squaring.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager

import numpy as np

try:
    import torch
    from torch import Tensor, nn
except ImportError as e:  # pragma: no cover
    raise ImportError("mtl_inspect._autogram needs PyTorch: pip install torch") from e

TESTED_TORCHJD = "0.18.0"


def _import_torchjd():
    try:
        import torchjd
        from torchjd.autogram import Engine
        from torchjd.autogram._gramian_computer import JacobianBasedGramianComputerWithCrossTerms
        from torchjd.autogram._jacobian_computer import AutogradJacobianComputer
    except ImportError as e:
        raise ImportError(
            "the autogram fast path needs torchjd "
            f"(pip install torchjd=={TESTED_TORCHJD}); without it use the plain per-task "
            f"autograd path. Import failed with: {e}") from e
    version = getattr(torchjd, "__version__", None)
    if version is None:
        from importlib.metadata import version as _v
        version = _v("torchjd")
    if version != TESTED_TORCHJD:
        raise ImportError(
            f"mtl_inspect's autogram fast path uses torchjd internals and was written for "
            f"torchjd {TESTED_TORCHJD}; found {version}. Install torchjd=={TESTED_TORCHJD} "
            f"or use the plain per-task autograd path.")
    return Engine, JacobianBasedGramianComputerWithCrossTerms, AutogradJacobianComputer


def _owner_modules(model: nn.Module, shared: Sequence[nn.Parameter]) -> list[nn.Module]:
    """The top-most modules of ``model`` owning the shared tensors directly
    (torchjd hooks a module with direct params as one block, children included)."""
    wanted = {id(p) for p in shared}
    owners = [m for m in model.modules()
              if any(id(p) in wanted for p in m.parameters(recurse=False))]
    inside = set()
    for m in owners:
        for child in m.modules():
            if child is not m:
                inside.add(id(child))
    top = [m for m in owners if id(m) not in inside]
    covered = {id(p) for m in top for p in m.parameters()}
    missing = [i for i, p in enumerate(shared) if id(p) not in covered]
    if missing:
        raise ValueError(f"shared tensors {missing} are not parameters of any module of the model; "
                         "autogram only sees module parameters")
    return top


class AutogramGrams:
    """Per-tensor Gram matrices for one forward. Use as a context manager
    around the forward that computes the losses:

        with AutogramGrams(model, shared) as ag:
            losses = [w_t * L_t for ...]        # forward runs here
            grams = ag.grams(losses)             # [S, T, T] float64

    The hooks are removed when the block ends. ``grams`` may be called once
    per forward."""

    def __init__(self, model: nn.Module, shared: Sequence[nn.Parameter]):
        Engine, Computer, JacComputer = _import_torchjd()
        if not shared:
            raise ValueError("no shared parameters given")
        if len({id(p) for p in shared}) != len(shared):
            raise ValueError("a shared parameter is listed twice")
        if any(not p.requires_grad for p in shared):
            raise ValueError("every shared parameter must require grad")
        self._index = {id(p): s for s, p in enumerate(shared)}
        self._sizes = [p.numel() for p in shared]
        self._sink: list[Tensor | None] = [None] * len(shared)
        index, sink = self._index, self._sink

        class PerTensorComputer(Computer):
            """torchjd's computer, also recording each shared tensor's J Jᵀ."""

            def __init__(self, module):
                jac = JacComputer(module)
                super().__init__(jac)
                # Column ranges of the module's Jacobian, in the order torchjd
                # concatenates them (its rg_params dict order).
                self.slots = []
                start = 0
                for p in jac.rg_params.values():
                    if id(p) in index:
                        self.slots.append((index[id(p)], start, start + p.numel()))
                    start += p.numel()

            def __call__(self, rg_outputs, grad_outputs, args, kwargs):
                jacobian = self.jacobian_computer(rg_outputs, grad_outputs, args, kwargs)
                if self.summed_jacobian is None:
                    self.summed_jacobian = jacobian
                else:
                    self.summed_jacobian = self.summed_jacobian + jacobian
                self.remaining_counter -= 1
                if self.remaining_counter:
                    return None
                j = self.summed_jacobian.detach()
                self.summed_jacobian = None
                for s, a, b in self.slots:
                    # float64 in column chunks: the copy stays small.
                    g = None
                    for c in range(a, b, 1 << 16):
                        block = j[:, c:min(b, c + (1 << 16))].to(torch.float64)
                        part = block @ block.T
                        g = part if g is None else g + part
                    sink[s] = g if sink[s] is None else sink[s] + g
                # The engine wants a Gramian to accumulate; ours is in `sink`.
                return torch.zeros(j.shape[0], j.shape[0], dtype=jacobian.dtype,
                                   device=jacobian.device)

        class PerTensorEngine(Engine):
            def _make_gramian_computer(self, module):  # torchjd private hook point
                return PerTensorComputer(module)

        self._engine = PerTensorEngine(*_owner_modules(model, shared), batch_dim=None)

    def grams(self, losses: Sequence[Tensor]) -> np.ndarray:
        """G [S, T, T] float64 of the T scalar ``losses`` (already weighted)."""
        if self._engine is None:
            raise RuntimeError("AutogramGrams used after its block ended")
        if len(losses) == 0:
            raise ValueError("no losses given")
        for i in range(len(self._sink)):
            self._sink[i] = None
        output = torch.stack([torch.as_tensor(l).reshape(()) for l in losses])
        self._engine.compute_gramian(output)
        t = len(losses)
        out = np.zeros((len(self._sink), t, t))
        for s, g in enumerate(self._sink):
            # None: the tensor did not influence any loss (gradient 0).
            if g is not None:
                out[s] = g.cpu().numpy()
        return out

    def close(self) -> None:
        if self._engine is not None:
            manager = self._engine._module_hook_manager
            manager.remove_hooks(manager._handles)
            self._engine = None

    def __enter__(self) -> "AutogramGrams":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def shared_grams_autogram(model: nn.Module, shared: Sequence[nn.Parameter],
                          losses: Callable[[], Sequence[Tensor]]) -> np.ndarray:
    """G [S, T, T] float64, S = len(shared): per shared tensor, the Gram of
    the per-task gradients of the losses ``losses()`` returns. ``losses``
    must be a callable that RUNS THE FORWARD (autogram hooks the forward);
    a list of tensors computed beforehand cannot be used."""
    if not callable(losses):
        raise TypeError(
            "shared_grams_autogram needs a callable that runs the forward and returns the T "
            "losses: torchjd's autogram inserts its nodes during the forward, so losses "
            "computed before it was set up carry none. Use `lambda: [w_t * L_t ...]` or "
            "the AutogramGrams context manager.")
    with AutogramGrams(model, shared) as ag:
        return ag.grams(list(losses()))


def shared_grams_reference(shared: Sequence[nn.Parameter], losses: Sequence[Tensor]) -> np.ndarray:
    """The plain way, for checking: one ``torch.autograd.grad`` per task,
    A_s [T, P_s] in float64, G_s = A_s A_sᵀ. Leaves ``.grad`` untouched."""
    rows = [[] for _ in shared]
    for loss in losses:
        gs = torch.autograd.grad(loss, list(shared), retain_graph=True, allow_unused=True)
        for s, (p, g) in enumerate(zip(shared, gs)):
            g = torch.zeros_like(p) if g is None else g
            rows[s].append(g.detach().reshape(-1).to(torch.float64))
    out = []
    for r in rows:
        a = torch.stack(r)
        out.append((a @ a.T).cpu().numpy())
    return np.stack(out)
