"""Per-task gradient geometry of any PyTorch multi-task model, recorded in
your own training loop: task-gradient conflict cos(g_i, g_j) (paper 000,
Fig. 2 left / Fig. 7), per-task gradient norms, cos(g_t, g) and AvgNorm
weights (paper 003, eq. 6), per shared parameter tensor and overall, over
training steps. The file it writes is a diagnose file (schema
``mtl-train/diagnose`` v2) that ``mtl-inspect report --diagnostics FILE``
draws like ``mtl-train diagnose``'s.

Three lines in a training loop::

    from mtl_inspect.torch import GradientRecorder
    rec = GradientRecorder(model, every=50)            # 1
    for step, batch in enumerate(loader):
        losses = {t: crit[t](out[t], y[t]) for t in tasks}   # your per-task losses
        rec.record(losses, step)                        # 2: before backward
        sum(w[t] * losses[t] for t in tasks).backward()
        opt.step(); opt.zero_grad()
    rec.save("diag/run.json")                           # 3

What is measured: g_t = ∇_shared (w_t · L_t) for the per-task losses L_t
of the batch and the loss weights w_t you train with (``weights=``;
default 1/T, i.e. the mean of the task losses, as ``mtl-train``; LibMTL's
``EW`` uses 1). Σ_t g_t is then the gradient your optimizer sees on the
shared parameters. The recorder uses ``torch.autograd.grad`` with
``retain_graph=True``: it never touches ``.grad`` or the optimizer, and
your ``backward()`` afterwards works as before. Call ``record`` *before*
``backward()`` (which frees the graph).

Shared parameters (``shared=None``): every parameter tensor of ``model``
that at least two tasks' losses reach in the autograd graph *and* on
which, on the first recorded batch, two tasks have a non-zero gradient on
the same entry (so a stacked per-task tensor, e.g. heads of shape [T, F]
or TSσBN's γ [T, C], is not counted as shared). Pass ``shared=`` (names
or parameters) to choose them yourself.

What is kept: per recorded batch and shared tensor, the T × T Gram
⟨g_i, g_j⟩ in float64; every cosine, norm and weight follows from it, in
the Rust library shared with ``mtl-train diagnose``. While one batch is
measured, the task gradients of a group of tensors are held at once:
T × (group's parameters) values, at most ``max_bytes`` (default 1 GiB), or
T × one tensor's parameters when a single tensor is larger (a tensor is not
split); more parameters are measured in more groups, each with T backward
passes.

Torch is imported here only; the rest of ``mtl_inspect`` works without it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

try:
    import torch
    from torch import Tensor, nn
except ImportError as e:  # pragma: no cover - exercised without torch
    raise ImportError(
        "mtl_inspect.torch needs PyTorch (pip install torch); the rest of mtl_inspect works without it"
    ) from e

from . import _native

__all__ = ["GradientRecorder", "diagnose", "find_shared", "pruning_impact", "PruningImpact"]

PathLike = Union[str, "os.PathLike[str]"]

DEFAULT_MAX_BYTES = 1 << 30


def _reached(loss: Tensor) -> set:
    """ids of the leaf tensors the autograd graph of ``loss`` reaches."""
    out, seen, stack = set(), set(), [loss.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        var = getattr(fn, "variable", None)
        if var is not None:
            out.add(id(var))
        stack.extend(nxt for nxt, _ in fn.next_functions)
    return out


def find_shared(model: nn.Module, losses: Mapping[str, Tensor]) -> List[Tuple[str, nn.Parameter]]:
    """The shared parameters of ``model`` for these per-task losses, by the
    rule in the module docstring, in ``model.named_parameters()`` order."""
    tasks = list(losses)
    reach = [_reached(losses[t]) for t in tasks]
    cands = [
        (n, p)
        for n, p in model.named_parameters()
        if p.requires_grad and sum(id(p) in r for r in reach) >= 2
    ]
    if not cands:
        return []
    params = [p for _, p in cands]
    counts = [torch.zeros(p.shape, dtype=torch.int32, device=p.device) for p in params]
    for t in tasks:
        grads = torch.autograd.grad(losses[t], params, retain_graph=True, allow_unused=True)
        for c, g in zip(counts, grads):
            if g is not None:
                c += (g != 0).to(torch.int32)
    return [(n, p) for (n, p), c in zip(cands, counts) if int(c.max()) >= 2]


def _groups(params: Sequence[Tensor], tasks: int, max_bytes: int) -> List[List[int]]:
    """Consecutive indices of ``params`` whose T stacked task gradients fit
    in the bound: ``max_bytes``, or the largest single tensor's stack when
    that is larger (it cannot be split). Tensors of at most 1/64 of the bound
    (biases, norms) ride along with the current group up to 1/16 over it,
    so they do not cost a group of T backward passes each."""
    sizes = [tasks * p.numel() * p.element_size() for p in params]
    bound = max([max_bytes, *sizes])
    groups, cur, size = [], [], 0
    for i, b in enumerate(sizes):
        limit = bound + bound // 16 if b <= bound // 64 else bound
        if cur and size + b > limit:
            groups.append(cur)
            cur, size = [], 0
        cur.append(i)
        size += b
    if cur:
        groups.append(cur)
    return groups


def _gram64(a: Tensor, cols: int = 1 << 16) -> np.ndarray:
    """A Aᵀ in float64 for A [T, P], converting at most ``cols`` columns at a
    time (the float64 copy stays small)."""
    t = a.shape[0]
    g = torch.zeros((t, t), dtype=torch.float64, device=a.device)
    for c in range(0, a.shape[1], cols):
        x = a[:, c : c + cols].to(torch.float64)
        g += x @ x.T
    return g.cpu().numpy()


class GradientRecorder:
    """Records the per-task gradient geometry of a multi-task model.

    Parameters
    ----------
    model:
        The ``nn.Module`` (names the shared tensors and the file's model
        class; finds the shared parameters when ``shared`` is None).
    tasks:
        Task names in the order of the file; default: the keys of the first
        ``record`` call.
    shared:
        Shared parameter names or tensors (default: found, see the module
        docstring).
    every:
        Record when ``step % every == 0`` (``record`` returns whether it did).
    weights:
        Loss weight per task (dict or sequence in ``tasks`` order); default
        1/T. Use the weights you train with so Σ_t g_t is your gradient.
    max_bytes:
        Bound on the task gradients held at once while measuring (see the
        module docstring).
    architecture:
        Label drawn in the report (``"HPS"``, ``"TSσBN"``, …).
    on_nonfinite:
        ``"raise"`` (default) or ``"skip"`` a batch whose task gradient has
        NaN or ±inf (e.g. steps a mixed-precision ``GradScaler`` skips).
    fast:
        Use torchjd's Gramian engine (``pip install torchjd==0.18.0``): the
        forward and ``record`` of a step go inside ``with rec.tracking(step):``.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        tasks: Optional[Sequence[str]] = None,
        shared: Optional[Iterable[Union[str, Tensor]]] = None,
        every: int = 1,
        weights: Optional[Union[Mapping[str, float], Sequence[float]]] = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        architecture: Optional[str] = None,
        on_nonfinite: str = "raise",
        fast: bool = False,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        if not isinstance(max_bytes, int) or max_bytes < 1:
            raise ValueError(f"max_bytes must be a positive integer, got {max_bytes!r}")
        if on_nonfinite not in ("raise", "skip"):
            raise ValueError(f"on_nonfinite must be 'raise' or 'skip', got {on_nonfinite!r}")
        self.model = model
        self.tasks: Optional[List[str]] = list(tasks) if tasks is not None else None
        self._shared_arg = list(shared) if shared is not None else None
        self.every = every
        self._weights_arg = weights
        self.max_bytes = max_bytes
        self.architecture = architecture
        self.on_nonfinite = on_nonfinite
        self.fast = fast
        self.shared: Optional[List[Tuple[str, nn.Parameter]]] = None
        self.weights: Optional[List[float]] = None
        self._grams: List[np.ndarray] = []  # per batch [S, T, T]
        self._losses: List[List[float]] = []
        self._steps: List[int] = []
        self._batch_sizes: List[Optional[int]] = []
        self._calls = 0
        self._engine = None
        self._over_steps = True
        self.skipped: List[Tuple[int, str]] = []
        if fast:
            from . import _autogram  # noqa: F401  (fails early without torchjd)

    # -- setup on the first batch -------------------------------------------------
    def _setup(self, losses: Mapping[str, Tensor]) -> None:
        if self.tasks is None:
            self.tasks = list(losses)
        t = len(self.tasks)
        if t < 2:
            raise ValueError(f"need at least two tasks to measure their gradients' geometry, got {self.tasks}")
        w = self._weights_arg
        if w is None:
            self.weights = [1.0 / t] * t
            self._weights_rule = "1/T (the mean of the task losses)"
        elif isinstance(w, Mapping):
            missing = [k for k in self.tasks if k not in w]
            if missing:
                raise ValueError(f"weights has no entry for task(s) {missing}; give one per task")
            self.weights = [float(w[k]) for k in self.tasks]
            self._weights_rule = "given"
        else:
            w = [float(x) for x in w]
            if len(w) != t:
                raise ValueError(f"weights has {len(w)} entries for {t} tasks")
            self.weights = w
            self._weights_rule = "given"
        if any(not math.isfinite(x) for x in self.weights):
            raise ValueError(f"weights must be finite, got {self.weights}")
        names = {id(p): n for n, p in self.model.named_parameters()}
        if self._shared_arg is None:
            self.shared = find_shared(self.model, {k: losses[k] for k in self.tasks})
            if not self.shared:
                raise ValueError(
                    f"no parameter of {type(self.model).__name__} is reached by two tasks' losses with a shared non-zero gradient; "
                    "pass shared= (names or parameters) if the model shares weights another way"
                )
        else:
            by_name = dict(self.model.named_parameters())
            chosen = []
            for s in self._shared_arg:
                if isinstance(s, str):
                    if s not in by_name:
                        raise ValueError(f"shared: {type(self.model).__name__} has no parameter '{s}'")
                    chosen.append((s, by_name[s]))
                elif isinstance(s, Tensor):
                    if id(s) not in names:
                        raise ValueError("shared: a tensor given is not a parameter of the model")
                    chosen.append((names[id(s)], s))
                else:
                    raise TypeError(f"shared: expected parameter names or tensors, got {type(s).__name__}")
            if not chosen:
                raise ValueError("shared is empty")
            self.shared = chosen

    # -- recording -----------------------------------------------------------------
    def record(
        self,
        losses: Mapping[str, Tensor],
        step: Optional[int] = None,
        *,
        batch_size: Optional[int] = None,
    ) -> bool:
        """Measures this batch when ``step % every == 0`` (``step`` defaults
        to a count of calls). ``losses`` maps task → scalar loss tensor of
        the batch, with its graph (call before ``backward()``). Returns
        whether the batch was recorded."""
        if step is None:
            step = self._calls
        self._calls += 1
        if step % self.every != 0:
            return False
        if not isinstance(losses, Mapping):
            raise TypeError("losses must be a dict task -> scalar loss tensor")
        if self.tasks is not None:
            extra = [k for k in losses if k not in self.tasks]
            missing = [k for k in self.tasks if k not in losses]
            if extra or missing:
                raise ValueError(f"step {step}: losses' tasks differ from the recorder's: missing {missing}, unknown {extra}")
        for k, v in losses.items():
            if not isinstance(v, Tensor) or v.numel() != 1:
                raise ValueError(f"step {step}: the loss of task '{k}' must be a scalar tensor")
            if v.grad_fn is None:
                raise ValueError(
                    f"step {step}: the loss of task '{k}' has no autograd graph; record before backward() and outside torch.no_grad()"
                )
        first = self.shared is None
        if first:
            with _graph_alive(step):
                self._setup(losses)
        tasks = self.tasks
        vals = [float(losses[k].detach()) for k in tasks]
        bad = [k for k, v in zip(tasks, vals) if not math.isfinite(v)]
        if bad:
            return self._nonfinite(step, f"the loss of task(s) {bad} is not finite")
        weighted = [w * losses[k] for w, k in zip(self.weights, tasks)]
        try:
            with _graph_alive(step):
                if self.fast and not first:
                    grams = self._grams_fast(weighted)
                else:
                    grams = self._grams_autograd(weighted, step)
        except _NonFinite as e:
            return self._nonfinite(step, str(e))
        self._grams.append(grams)
        self._losses.append(vals)
        self._steps.append(int(step))
        self._batch_sizes.append(batch_size)
        return True

    def _nonfinite(self, step: int, why: str) -> bool:
        if self.on_nonfinite == "raise":
            raise FloatingPointError(
                f"step {step}: {why}; nothing was recorded for this batch. Pass on_nonfinite='skip' to leave such batches out "
                "(they are listed in the file)"
            )
        self.skipped.append((int(step), why))
        return False

    def _grams_autograd(self, weighted: List[Tensor], step: int) -> np.ndarray:
        t = len(weighted)
        params = [p for _, p in self.shared]
        out = np.zeros((len(params), t, t))
        for group in _groups(params, t, self.max_bytes):
            ps = [params[i] for i in group]
            stacks = [torch.empty((t, p.numel()), dtype=p.dtype, device=p.device) for p in ps]
            for ti, loss in enumerate(weighted):
                grads = torch.autograd.grad(loss, ps, retain_graph=True, allow_unused=True)
                for a, g in zip(stacks, grads):
                    if g is None:
                        a[ti].zero_()
                    else:
                        a[ti].copy_(g.reshape(-1))
            for i, a in zip(group, stacks):
                g = _gram64(a)
                # A NaN or ±inf entry of g_t makes ⟨g_t, g_t⟩ non-finite: the
                # diagonal checks the gradients without another pass over them.
                bad = [ti for ti in range(t) if not math.isfinite(g[ti, ti])]
                if bad:
                    raise _NonFinite(
                        f"the gradient of task '{self.tasks[bad[0]]}' on shared parameter '{self.shared[i][0]}' has NaN or ±inf entries"
                        " (or entries so large that their squares overflow float64)"
                    )
                out[i] = g
            del stacks
        self._warn_zero(out, step)
        return out

    def _grams_fast(self, weighted: List[Tensor]) -> np.ndarray:
        if self._engine is None:
            raise RuntimeError(
                "fast=True: run the forward pass and rec.record(losses, step) both inside `with rec.tracking(step):` "
                "(torchjd's engine hooks the forward and lives only inside the block)"
            )
        grams = self._engine.grams(weighted)
        if not np.isfinite(grams).all():
            raise _NonFinite("a task gradient has NaN or ±inf entries (fast path: the tensor is not named)")
        return grams

    def _warn_zero(self, grams: np.ndarray, step: int) -> None:
        for i, (name, _) in enumerate(self.shared):
            zero = [self.tasks[t] for t in range(grams.shape[1]) if grams[i, t, t] == 0.0]
            if zero:
                warnings.warn(
                    f"step {step}: task(s) {zero} have a zero gradient on shared parameter '{name}'; "
                    "their cosines there are undefined (null in the file)",
                    RuntimeWarning,
                    stacklevel=3,
                )

    # -- output --------------------------------------------------------------------
    @property
    def batches(self) -> int:
        return len(self._grams)

    def document(self, stem: str = "diagnose", pruning: Optional["PruningImpact"] = None) -> Tuple[str, str, str]:
        """The diagnose JSON and its two CSV files (``<stem>.conflict.csv``,
        ``<stem>.tasks.csv``) as text; with ``pruning`` (a
        :func:`pruning_impact` result) its matrices go in the file too."""
        if not self._grams:
            raise ValueError("nothing recorded yet: call record(losses, step) in the training loop first")
        sizes = set(self._batch_sizes)
        shared_layers = [
            {"name": n, "shape": list(p.shape), "params": p.numel()} for n, p in self.shared
        ]
        cls = type(self.model)
        doc = {
            "trainer": f"PyTorch {torch.__version__} (mtl_inspect.torch.GradientRecorder)",
            "checkpoint": {
                "path": f"{cls.__module__}.{cls.__qualname__}",
                "model": cls.__qualname__,
                "architecture": self.architecture,
                "norm": None,
            },
            "shared_layers": shared_layers,
            "files": {"conflict_csv": f"{stem}.conflict.csv", "tasks_csv": f"{stem}.tasks.csv"},
            "skipped_batches": [{"step": s, "reason": r} for s, r in self.skipped],
        }
        if pruning is not None:
            if pruning.tasks != self.tasks:
                raise ValueError(f"pruning was measured on tasks {pruning.tasks}, the recorder has {self.tasks}")
            doc["pruning"] = pruning.raw
        keys = {
            "definition": "g_t = gradient of w_t * L_t with respect to the shared parameters, L_t = task t's loss on the batch as given to the recorder; g = sum_t g_t is the training gradient on them when the loss is sum_t w_t L_t",
            "method": "autogram (torchjd)" if self.fast else "autograd.grad per task",
            "split": "train",
            "mode": "as the model was during training (the recorder does not change it)",
            "batch_size": sizes.pop() if len(sizes) == 1 else None,
            "weights": self.weights,
            "weights_rule": self._weights_rule,
            "every": self.every,
        }
        grams = np.ascontiguousarray(np.stack(self._grams), dtype=np.float64)
        losses = np.asarray(self._losses, dtype=np.float64)
        return _native.diagnose_document(
            list(self.tasks),
            [n for n, _ in self.shared],
            [int(p.numel()) for _, p in self.shared],
            grams.ravel().tolist(),
            losses.ravel().tolist(),
            list(self._steps) if self._over_steps else None,
            json.dumps(doc),
            json.dumps(keys),
        )

    def save(self, path: PathLike, pruning: Optional["PruningImpact"] = None) -> str:
        """Writes ``path`` (a ``.json``) and the two CSV files beside it
        (with ``pruning``, its matrices too); returns the JSON's path."""
        path = os.fspath(path)
        if not path.endswith(".json"):
            raise ValueError(f"{path}: the diagnose file must end in .json (its CSV files go beside it)")
        stem = os.path.basename(path)[: -len(".json")]
        text, conflict, per_task = self.document(stem, pruning)
        folder = os.path.dirname(path) or "."
        os.makedirs(folder, exist_ok=True)
        for name, body in ((path, text), (os.path.join(folder, f"{stem}.conflict.csv"), conflict), (os.path.join(folder, f"{stem}.tasks.csv"), per_task)):
            with open(name, "w", encoding="utf-8") as f:
                f.write(body)
        return path

    @contextlib.contextmanager
    def tracking(self, step: Optional[int] = None):
        """For ``fast=True``: run the forward pass of a step *and* its
        ``rec.record(losses, step)`` inside ``with rec.tracking(step):``
        (torchjd's engine hooks the forward and lives only in the block).
        Steps that are not recorded, and the first recorded one (which
        finds the shared parameters the plain way), run without it."""
        if not self.fast:
            raise RuntimeError("tracking() is for recorders made with fast=True")
        recorded = step is None or step % self.every == 0
        if self.shared is None or not recorded:
            yield self
            return
        from ._autogram import AutogramGrams

        with AutogramGrams(self.model, [p for _, p in self.shared]) as engine:
            self._engine = engine
            try:
                yield self
            finally:
                self._engine = None


class _NonFinite(Exception):
    pass


@contextlib.contextmanager
def _graph_alive(step: int):
    """Turns autograd's freed-graph error into the way out."""
    try:
        yield
    except RuntimeError as e:
        if "backward through the graph a second time" in str(e):
            raise RuntimeError(
                f"step {step}: the graph of the losses was already freed; call rec.record(losses) before loss.backward() "
                "(or use backward(retain_graph=True))"
            ) from e
        raise


def diagnose(
    model: nn.Module,
    batches: Iterable[Any],
    loss_fn: Callable[[nn.Module, Any], Mapping[str, Tensor]],
    *,
    out: Optional[PathLike] = None,
    **recorder_args: Any,
) -> GradientRecorder:
    """The recorder over ``batches`` at the model's current weights, like
    ``mtl-train diagnose``: ``loss_fn(model, batch)`` returns the per-task
    losses of one batch. The model keeps its mode (``model.train()`` for
    batch statistics, as in training); BatchNorm running statistics and
    other buffers are restored afterwards. Writes ``out`` when given."""
    rec = GradientRecorder(model, every=1, **recorder_args)
    rec._over_steps = False
    saved = {n: b.detach().clone() for n, b in model.named_buffers()}
    try:
        for b, batch in enumerate(batches):
            if rec.fast:
                with rec.tracking(b):
                    rec.record(loss_fn(model, batch), b)
            else:
                rec.record(loss_fn(model, batch), b)
    finally:
        with torch.no_grad():
            for n, buf in model.named_buffers():
                buf.copy_(saved[n])
    if out is not None:
        rec.save(out)
    return rec


class PruningImpact:
    """Result of :func:`pruning_impact`: ``raw`` is the diagnose file's
    ``pruning`` object (``GradientRecorder.save(..., pruning=result)``
    writes it); ``matrix(ranking)`` the T × T score drops, rows the pruned
    task, columns the evaluated one."""

    def __init__(self, raw: Dict[str, Any], tasks: List[str]) -> None:
        self.raw = raw
        self.tasks = tasks

    def _ranking(self, ranking: str) -> Dict[str, Any]:
        for r in self.raw["rankings"]:
            if r["ranking"] == ranking:
                return r
        raise KeyError(f"no ranking {ranking!r}; there are {[r['ranking'] for r in self.raw['rankings']]}")

    def matrix(self, ranking: str = "specialization") -> np.ndarray:
        return np.asarray(self._ranking(ranking)["score_drop"]["matrix"], dtype=np.float64)

    def diagonal_share(self, ranking: str = "specialization", by: str = "evaluated") -> Tuple[float, float]:
        """(share, permutation p-value) of the diagonal's dominance, by
        evaluated task (columns) or by pruned task (rows)."""
        d = self._ranking(ranking)["score_drop"]
        return d[f"diagonal_share_by_{by}"], d[f"p_value_by_{by}"]

    def __repr__(self) -> str:
        parts = []
        for r in self.raw["rankings"]:
            d = r["score_drop"]
            parts.append(
                f"{r['ranking']}: diagonal share {d['diagonal_share_by_evaluated']} (p = {d['p_value_by_evaluated']})"
            )
        return f"PruningImpact(k={self.raw['k']}, {self.raw['metric']}; " + "; ".join(parts) + ")"


def _gate_tensors(model: nn.Module, tasks: List[str], gate: Optional[str]):
    """The model's gate layers as mtl_inspect reads them, each with its
    [T, C] gate parameter (and a [T, C] shift for abs/identity gates)."""
    import tempfile

    import mtl_inspect as mi
    from safetensors.torch import save_file

    params = dict(model.named_parameters())
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items() if v.is_floating_point()}
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.safetensors")
        save_file(state, path)
        try:
            ckpt = mi.open(path, tasks=tasks, gate=gate)
        except mi.MtlInspectError as e:
            where = f"{type(model).__name__}.state_dict()"
            msg = str(e).replace(f"'mtl-inspect inspect {path}'", "mtl_inspect.open on a safetensors file of the state_dict")
            raise type(e)(f"pruning_impact reads the gates from {where}: {msg.replace(path, where)}") from None
        importance = ckpt.importance()
        layers, kind = ckpt.layers, ckpt.gate
    found = []
    for layer in layers:
        cands = [f"{layer.name}.{k}" for k in ("gamma", "weight")]
        g = next((n for n in cands if n in params and tuple(params[n].shape) == (len(tasks), layer.filters)), None)
        if g is None:
            raise ValueError(
                f"gate layer '{layer.name}' ({layer.filters} filters) has no [T={len(tasks)}, {layer.filters}] parameter "
                f"named {' or '.join(cands)}; pruning_impact switches filters off through a stacked gate tensor "
                "(TSσBN/TSBN with one γ row per task)"
            )
        shift = next(
            (n for n in (f"{layer.name}.beta", f"{layer.name}.bias") if n in params and params[n].shape == params[g].shape),
            None,
        )
        found.append((layer.name, params[g], params[shift] if shift else None))
    return importance, found, kind


def pruning_impact(
    model: nn.Module,
    evaluate: Callable[[nn.Module], Mapping[str, float]],
    tasks: Sequence[str],
    *,
    k: Optional[int] = None,
    gate: Optional[str] = None,
    metric: str = "score",
    higher_is_better: bool = True,
    permutations: int = 9999,
    seed: int = 0,
) -> PruningImpact:
    """Pruning impact (paper 000 §5.3, Fig. 4 right), as ``mtl-train
    diagnose`` measures it, for a PyTorch model with stacked task gates
    (TSσBN ``<layer>.gamma`` [T, C], or TSBN): for each ranking
    (``importance``: top-k filters by σ(γ_t); ``specialization``: by
    σ(γ_t) / Σ_s σ(γ_s)) and each task r, task r's top ``k`` filters are
    removed (every task's gate of the filter set to 0: γ = −inf for sigmoid
    gates, γ = β = 0 otherwise), ``evaluate(model)`` scores every task, and
    the gates are restored. The drop matrix's diagonal share and its
    permutation p-value come from the Rust library (mtl-train's code).

    ``evaluate`` returns {task: score}; ``higher_is_better=False`` for a
    loss. ``k`` defaults to mtl-train's (the paper's 200 of 2880 gates,
    scaled). The gates are read with mtl_inspect's reader (``gate=`` as in
    :func:`mtl_inspect.open`). ``evaluate`` is called in eval mode (running
    statistics, as mtl-train evaluates) under ``torch.no_grad()``; the
    model's mode and gates are restored afterwards."""
    tasks = list(tasks)
    importance, layers, kind = _gate_tensors(model, tasks, gate)
    t, f = importance.shape
    plan = json.loads(_native.pruning_rankings(np.ascontiguousarray(importance).ravel().tolist(), t, k))
    where = []  # filter index -> (layer index, channel)
    for li, (_, g, _) in enumerate(layers):
        where.extend((li, c) for c in range(g.shape[1]))

    def scores() -> List[float]:
        got = evaluate(model)
        missing = [x for x in tasks if x not in got]
        if missing:
            raise ValueError(f"evaluate(model) returned no score for task(s) {missing}")
        return [float(got[x]) for x in tasks]

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            base = scores()
            rankings = []
            for ranking in ("importance", "specialization"):
                pruned = []
                for filters in plan[ranking]:
                    saved = []
                    for fi in filters:
                        li, c = where[fi]
                        _, g, shift = layers[li]
                        saved.append((g, c, g[:, c].clone()))
                        g[:, c] = float("-inf") if kind == "sigmoid" else 0.0
                        if shift is not None and kind != "sigmoid":
                            saved.append((shift, c, shift[:, c].clone()))
                            shift[:, c] = 0.0
                    try:
                        pruned.append(scores())
                    finally:
                        for p, c, v in reversed(saved):
                            p[:, c] = v
                drops = json.loads(
                    _native.pruning_drops(base, [x for row in pruned for x in row], higher_is_better, permutations, seed)
                )
                rankings.append(
                    {
                        "ranking": ranking,
                        "pruned_filters": [
                            [[layers[where[fi][0]][0], where[fi][1]] for fi in fs] for fs in plan[ranking]
                        ],
                        "score_drop": drops,
                    }
                )
    finally:
        model.train(was_training)
    raw = {
        "status": "done",
        "k": plan["k"],
        "filters_per_task": plan["filters_per_task"],
        "metric": metric,
        "importance": f"{kind}(gamma)",
        "switch_off": "filter removed: every task's gate of the filter set to 0 (gamma = -inf)"
        if kind == "sigmoid"
        else "filter removed: every task's gate of the filter set to 0 (gamma = beta = 0)",
        "rows": "task whose top-k filters were removed (tasks order)",
        "columns": "evaluated task (tasks order)",
        "base": dict(zip(tasks, base)),
        "rankings": rankings,
        "permutations": permutations,
        "seed": seed,
        "layers": [name for name, _, _ in layers],
    }
    return PruningImpact(raw, tasks)
