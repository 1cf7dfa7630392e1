"""mtl_inspect: analyse multi-task checkpoints with task-specific (sigmoid)
BatchNorm gates (Suteu & Serban, *Simplifying Multi-Task Architectures
Through Task-Specific Normalization*).

The same reader and analyses as the ``mtl-inspect`` command line, from
Python::

    import mtl_inspect as mi
    ckpt = mi.open("fixtures/celeba40/run0.safetensors")
    ckpt.importance()                 # NumPy array, tasks × filters
    mi.capacity(ckpt).table           # DataFrame: task, capacity, shared, independent
    mi.cluster(["run0.safetensors", "run1.safetensors"], k=10).clusters
    mi.report(["run0.safetensors"], out="report/")   # shows inline in Jupyter

Every analysis takes a :class:`Checkpoint`, a path, or a list of them (paths
are read with the reading options ``tasks``, ``layers``, ``gate``, ``key``,
``layer_order``, ``allow_nonfinite``, as the CLI's flags) and returns a
:class:`Result` whose tables are pandas DataFrames (polars with
``frame="polars"``; dicts of NumPy arrays with ``frame="numpy"`` or without
pandas) and whose matrices are :class:`TaskMatrix` arrays labelled with task
(or run) names. ``Result.raw`` is the JSON the CLI prints with
``--format json`` (without its ``checkpoint`` provenance keys).

Per-task gradient diagnostics of a PyTorch model in your own training loop
(gradient conflict, norms, AvgNorm weights over training steps) are in
:mod:`mtl_inspect.torch`, which imports torch; nothing else here does.

Errors are :class:`MtlInspectError`: :class:`InputError` for a file that
cannot be read or analysed, :class:`ParameterError` for a bad argument, with
the CLI's messages.
"""

from __future__ import annotations

import builtins as _builtins
import html as _html
import json as _json
import os as _os
import warnings as _warnings
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Sequence, Union

import numpy as np

from . import _native
from ._native import InputError, MtlInspectError, ParameterError
from ._tables import TaskMatrix, check_frame, frame as _frame

__version__: str = _native.__version__

__all__ = [
    "open",
    "Checkpoint",
    "Layer",
    "Summary",
    "Result",
    "CapacityResult",
    "SimilarityResult",
    "SpecializationResult",
    "StabilityResult",
    "ClusterResult",
    "FilterGroupsResult",
    "GateStatsResult",
    "DiffResult",
    "Report",
    "TaskMatrix",
    "capacity",
    "similarity",
    "specialization",
    "stability",
    "cluster",
    "filter_groups",
    "gate_stats",
    "diff",
    "report",
    "MtlInspectError",
    "InputError",
    "ParameterError",
]

PathLike = Union[str, "_os.PathLike[str]"]


class Layer(NamedTuple):
    """A gate layer: its module path and number of filters."""

    name: str
    filters: int


class Summary(dict):
    """What ``mtl-inspect inspect`` shows: layout, dtype, gate kind with its
    evidence, tasks and where their names came from, layers with filter
    counts, ignored tensors and every reading decision. A dict (the keys of
    ``inspect --format json``); ``str()`` is ``inspect``'s text."""

    def __init__(self, data: Dict[str, Any], text: str) -> None:
        super().__init__(data)
        self.text = text

    def __str__(self) -> str:
        return self.text

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text)


class Checkpoint:
    """A checkpoint read into a task × filter importance matrix. Made by
    :func:`open`."""

    def __init__(self, native: "_native.Checkpoint") -> None:
        self._native = native

    @property
    def path(self) -> str:
        """The path as given to :func:`open`."""
        return self._native.path

    @property
    def tasks(self) -> List[str]:
        """Task names, in the importance matrix's row order."""
        return self._native.tasks

    @property
    def layers(self) -> List[Layer]:
        """Gate layers in depth order, as ``Layer(name, filters)``."""
        return [Layer(n, f) for n, f in self._native.layers]

    @property
    def gate(self) -> str:
        """How raw gate parameters became importances (e.g. ``sigmoid``)."""
        return self._native.gate

    def importance(self) -> np.ndarray:
        """The importance matrix, ``float64`` of shape (tasks, filters);
        columns are the layers' filters in :attr:`layers` order. A fresh,
        writable array in column-major (Fortran) order, as the library
        stores it: one copy out of Rust and none in NumPy
        (``np.ascontiguousarray`` gives row-major order if a consumer needs
        it)."""
        buf, t, f = self._native.importance_bytes()
        return np.frombuffer(buf, dtype=np.float64).reshape(f, t).T

    def summary(self) -> Summary:
        """The reading evidence ``mtl-inspect inspect`` prints."""
        return Summary(_json.loads(self._native.summary_json()), self._native.summary_text())

    @property
    def dropped(self) -> List[Dict[str, Any]]:
        """Filters dropped for non-finite gates (``allow_nonfinite=True``)."""
        return _json.loads(self._native.dropped_json())

    def __repr__(self) -> str:
        return repr(self._native)


def open(
    path: PathLike,
    tasks: Union[None, PathLike, Sequence[str]] = None,
    layers: Optional[str] = None,
    gate: Optional[str] = None,
    *,
    key: Optional[str] = None,
    layer_order: Optional[PathLike] = None,
    allow_nonfinite: bool = False,
) -> Checkpoint:
    """Read a checkpoint: ``.safetensors``, a sharded
    ``model.safetensors.index.json`` (or its folder), or a ``torch.save``
    archive (``.pt``, ``.pth``, ``.bin``, Lightning ``.ckpt``; read without
    running code in it).

    Parameters (the CLI's flags):
        tasks: task names, as a list or a file (one name per line, or CelebA's
            ``list_attr_celeba.txt``); used when the checkpoint names none.
        layers: keep only layers whose module path matches this regular
            expression.
        gate: ``"sigmoid"``, ``"abs"`` or ``"identity"``: how raw weights
            become importances; default decided per layer from evidence.
        key: in a pickled checkpoint, the top-level key holding the state_dict.
        layer_order: file with one layer name per line, in depth order.
        allow_nonfinite: drop filters with NaN/Inf gates instead of failing.

    Raises:
        InputError: the file cannot be read, or holds no gates.
        ParameterError: a malformed argument (e.g. an invalid regex).
    """
    settings = _native.read_settings(
        **_native_read(tasks=tasks, layers=layers, gate=gate, key=key,
                       layer_order=layer_order, allow_nonfinite=allow_nonfinite))
    native = _native.open(_os.fspath(path), read=settings)
    return Checkpoint(native)


def _native_read(
    tasks: Union[None, PathLike, Sequence[str]] = None,
    layers: Optional[str] = None,
    gate: Optional[str] = None,
    key: Optional[str] = None,
    layer_order: Optional[PathLike] = None,
    allow_nonfinite: bool = False,
) -> Dict[str, Any]:
    """The reading keywords as ``_native.read_settings`` takes them."""
    tasks_file: Optional[str] = None
    task_names: Optional[List[str]] = None
    if tasks is not None:
        if isinstance(tasks, (str, _os.PathLike)):
            tasks_file = _os.fspath(tasks)
        else:
            task_names = [str(t) for t in tasks]
    return dict(
        tasks_file=tasks_file,
        task_names=task_names,
        layers=layers,
        gate=gate,
        key=key,
        layer_order=None if layer_order is None else _os.fspath(layer_order),
        allow_nonfinite=allow_nonfinite,
    )


CkptLike = Union[Checkpoint, PathLike]


def _one(ckpt: CkptLike, read: Dict[str, Any]) -> "_native.Checkpoint":
    if isinstance(ckpt, Checkpoint):
        return ckpt._native
    return open(ckpt, **read)._native


def _items(ckpts: Union[CkptLike, Iterable[CkptLike]]) -> List[CkptLike]:
    if isinstance(ckpts, (Checkpoint, str, _os.PathLike)):
        ckpts = [ckpts]
    items = list(ckpts)
    if len(items) > 1:
        # As the CLI: with several paths, mtl-train's optimizer sidecars
        # (matched by a glob) are skipped, with a warning.
        kept = []
        for c in items:
            if not isinstance(c, Checkpoint) and _native.is_sidecar(_os.fspath(c)):
                _warnings.warn(
                    f"skipping {_os.fspath(c)}: mtl-train's optimizer state, not a checkpoint",
                    stacklevel=4,  # _items ← _runs ← the public function ← its caller
                )
                continue
            kept.append(c)
        items = kept
    return items


def _runs(ckpts: Union[CkptLike, Iterable[CkptLike]], read: Dict[str, Any]) -> Dict[str, Any]:
    """The runs of a multi-run function as ``_native`` keywords: opened
    checkpoints as given; when every item is a path, the paths and their
    reading settings, so the files are read one at a time and only each
    run's reduction is kept (as the CLI does: tens of large runs never sit
    in memory together)."""
    items = _items(ckpts)
    if any(isinstance(c, Checkpoint) for c in items):
        return {"ckpts": [_one(c, read) for c in items]}
    return {"ckpts": [], "paths": [_os.fspath(c) for c in items],
            "read": _native.read_settings(**_native_read(**read))}


class Result:
    """An analysis result: its tables (DataFrames), matrices
    (:class:`TaskMatrix`) and scalars as attributes; ``raw`` is the CLI's
    JSON as a dict. In Jupyter the main table is displayed."""

    def __init__(self, kind: str, raw: Dict[str, Any], main: str, **fields: Any) -> None:
        self.kind = kind
        self.raw = raw
        self._main = main
        self._fields = list(fields)
        for k, v in fields.items():
            setattr(self, k, v)

    def __repr__(self) -> str:
        parts = []
        for k in self._fields:
            v = getattr(self, k)
            if isinstance(v, (int, float, str)) or v is None:
                parts.append(f"{k}={v!r}")
            else:
                parts.append(f"{k}=<{type(v).__name__}>")
        return f"<mtl_inspect.Result {self.kind}: {', '.join(parts)}>"

    def _repr_html_(self) -> Optional[str]:
        main = getattr(self, self._main, None)
        if isinstance(main, TaskMatrix):
            try:
                main = main.to_pandas()
            except ImportError:
                return None
        render = getattr(main, "_repr_html_", None)
        return render() if callable(render) else None


class CapacityResult(Result):
    """Result of :func:`capacity`. Tables are DataFrames (or dicts of arrays, see ``frame``)."""

    table: Any
    rank: Any
    across_runs: Any
    layers: Any


class SimilarityResult(Result):
    """Result of :func:`similarity`. Tables are DataFrames (or dicts of arrays, see ``frame``)."""

    matrix: TaskMatrix
    zero_norm_tasks: List[str]
    table: Any
    matrices: Dict[str, TaskMatrix]


class SpecializationResult(Result):
    """Result of :func:`specialization`. Tables are DataFrames (or dicts of arrays, see ``frame``)."""

    table: Any
    tau: float


class StabilityResult(Result):
    """Result of :func:`stability`. Tables are DataFrames (or dicts of arrays, see ``frame``)."""

    pairs: Any
    matrix: TaskMatrix
    mean: Optional[float]
    min: Optional[float]
    max: Optional[float]
    mean_ci: Optional[Dict[str, Any]]
    exact_permutations: Optional[int]


class ClusterResult(Result):
    """Result of :func:`cluster`. Tables are DataFrames (or dicts of arrays, see ``frame``)."""

    clusters: List[List[str]]
    table: Any
    runs: Any
    labels: Dict[str, np.ndarray]
    cooccurrence: TaskMatrix
    ties: List[Dict[str, Any]]
    cut: Dict[str, Any]
    k: int
    linkage: str


class FilterGroupsResult(Result):
    """Result of :func:`filter_groups`. Tables are DataFrames (or dicts of arrays, see ``frame``)."""

    groups: Any
    centroids: TaskMatrix
    per_layer: TaskMatrix
    assignments: np.ndarray
    dead: int
    inertia: float
    k: int


class GateStatsResult(Result):
    """Result of :func:`gate_stats`. Tables are DataFrames (or dicts of arrays, see ``frame``)."""

    table: Any
    edges: np.ndarray
    counts: TaskMatrix


class DiffResult(Result):
    """Result of :func:`diff`. Tables are DataFrames (or dicts of arrays, see ``frame``)."""

    tasks: Any
    layers: Any
    moved_pairs: Any
    owner_changes: Any
    similarity_spearman: Optional[float]


def _read_kwargs(**kw: Any) -> Dict[str, Any]:
    return kw




def capacity(
    ckpts: Union[CkptLike, Sequence[CkptLike]],
    *,
    per_layer: bool = False,
    frame: Optional[str] = None,
    tasks: Union[None, PathLike, Sequence[str]] = None,
    layers: Optional[str] = None,
    gate: Optional[str] = None,
    key: Optional[str] = None,
    layer_order: Optional[PathLike] = None,
    allow_nonfinite: bool = False,
) -> CapacityResult:
    """Per-task capacity ``C_t`` (mean importance), split into the part
    shared with the other tasks and the independent part by projection
    (paper eq. 4–5; ``C² = shared² + independent²``). ``mtl-inspect
    capacity``.

    Returns a :class:`Result` with

    * ``table``: one row per task (``task, capacity, shared,
      independent``); with several runs one row per run and task, with a
      ``run`` column first;
    * ``rank``: rank of the importance matrix (one run; a list for several);
    * ``across_runs`` (several runs): per task the mean, sd, min, max and
      95 % t-interval of each quantity over runs;
    * with ``per_layer=True`` (one checkpoint): ``table`` per layer and task
      (``layer, filters, task, capacity, shared, independent``) and
      ``layers`` with the per-layer means.
    """
    kind = check_frame(frame)
    read = _read_kwargs(tasks=tasks, layers=layers, gate=gate, key=key,
                        layer_order=layer_order, allow_nonfinite=allow_nonfinite)
    raw = _json.loads(_native.capacity_json(**_runs(ckpts, read), per_layer=per_layer))
    if per_layer:
        cols: Dict[str, List[Any]] = {k: [] for k in
                                      ("layer", "filters", "task", "capacity", "shared", "independent")}
        means: Dict[str, List[Any]] = {k: [] for k in
                                       ("layer", "filters", "rank", "mean_capacity", "mean_shared", "mean_independent")}
        for layer in raw["layers"]:
            for t in layer["tasks"]:
                cols["layer"].append(layer["layer"])
                cols["filters"].append(layer["filters"])
                for c in ("task", "capacity", "shared", "independent"):
                    cols[c].append(t[c])
            for c in means:
                means[c].append(layer[c])
        return CapacityResult("capacity", raw, "table", table=_frame(cols, kind), layers=_frame(means, kind))
    if "across_runs" not in raw:
        return CapacityResult("capacity", raw, "table", table=_frame(_capacity_cols(raw["tasks"]), kind),
                      rank=raw["rank"])
    cols = {"run": []}
    cols.update({c: [] for c in ("task", "capacity", "shared", "independent")})
    for run in raw["runs"]:
        for t in run["tasks"]:
            cols["run"].append(run["run"])
            for c in ("task", "capacity", "shared", "independent"):
                cols[c].append(t[c])
    spread: Dict[str, List[Any]] = {"task": []}
    stats = ("n", "mean", "sd", "min", "max", "ci_low", "ci_high")
    for q in ("capacity", "shared", "independent"):
        for s in stats:
            spread[f"{q}_{s}"] = []
    for t in raw["across_runs"]["tasks"]:
        spread["task"].append(t["task"])
        for q in ("capacity", "shared", "independent"):
            for s in stats:
                spread[f"{q}_{s}"].append(t[q][s])
    return CapacityResult("capacity", raw, "table", table=_frame(cols, kind),
                  rank=[r["rank"] for r in raw["runs"]],
                  across_runs=_frame(spread, kind))


def _capacity_cols(tasks: List[Dict[str, Any]]) -> Dict[str, List[Any]]:
    return {c: [t[c] for t in tasks] for c in ("task", "capacity", "shared", "independent")}


def similarity(
    ckpt: CkptLike,
    *,
    per_layer: bool = False,
    frame: Optional[str] = None,
    tasks: Union[None, PathLike, Sequence[str]] = None,
    layers: Optional[str] = None,
    gate: Optional[str] = None,
    key: Optional[str] = None,
    layer_order: Optional[PathLike] = None,
    allow_nonfinite: bool = False,
) -> SimilarityResult:
    """Task × task cosine similarity of the tasks' importance vectors (paper
    §5.2). ``mtl-inspect similarity``.

    Returns a :class:`Result` with ``matrix`` (:class:`TaskMatrix`, labelled
    by task) and ``zero_norm_tasks`` (tasks with all-zero importance, whose
    similarity to the others is set to 0). With ``per_layer=True``:
    ``table`` (``layer, filters, mean/min/max_off_diagonal``) and
    ``matrices`` (layer name → :class:`TaskMatrix`).
    """
    kind = check_frame(frame)
    read = _read_kwargs(tasks=tasks, layers=layers, gate=gate, key=key,
                        layer_order=layer_order, allow_nonfinite=allow_nonfinite)
    raw = _json.loads(_native.similarity_json(_one(ckpt, read), per_layer=per_layer))
    if per_layer:
        cols = {c: [layer[c] for layer in raw["layers"]] for c in
                ("layer", "filters", "mean_off_diagonal", "min_off_diagonal", "max_off_diagonal")}
        matrices = {layer["layer"]: TaskMatrix(layer["similarity"]["matrix"], layer["similarity"]["tasks"])
                    for layer in raw["layers"]}
        return SimilarityResult("similarity", raw, "table", table=_frame(cols, kind), matrices=matrices)
    return SimilarityResult("similarity", raw, "matrix", matrix=TaskMatrix(raw["matrix"], raw["tasks"]),
                  zero_norm_tasks=raw.get("zero_norm_tasks", []))


def specialization(
    ckpt: CkptLike,
    tau: float = 0.5,
    *,
    frame: Optional[str] = None,
    tasks: Union[None, PathLike, Sequence[str]] = None,
    layers: Optional[str] = None,
    gate: Optional[str] = None,
    key: Optional[str] = None,
    layer_order: Optional[PathLike] = None,
    allow_nonfinite: bool = False,
) -> SpecializationResult:
    """Filters specialized for one task, per layer: a filter is specialized
    for ``t`` when ``I[t,i] / Σ_t I[t,i] > tau`` (paper §5.3, Fig. 4).
    ``mtl-inspect specialization --tau``; ``0 < tau < 1``.

    Returns a :class:`Result` with ``table`` (one row per layer and a last
    row ``total``: ``layer, filters, specialized, fraction`` and one count
    column per task) and ``tau``.
    """
    kind = check_frame(frame)
    read = _read_kwargs(tasks=tasks, layers=layers, gate=gate, key=key,
                        layer_order=layer_order, allow_nonfinite=allow_nonfinite)
    raw = _json.loads(_native.specialization_json(_one(ckpt, read), tau=tau))
    rows = raw["layers"] + [raw["total"]]
    cols = {c: [r[c] for r in rows] for c in ("layer", "filters", "specialized", "fraction")}
    for t in raw["total"]["per_task"]:
        cols[t] = [r["per_task"].get(t, 0) for r in rows]
    return SpecializationResult("specialization", raw, "table", table=_frame(cols, kind), tau=raw["tau"])


def stability(
    paths: Sequence[CkptLike],
    *,
    permutations: int = 999,
    bootstrap: int = 200,
    seed: int = 0,
    frame: Optional[str] = None,
    tasks: Union[None, PathLike, Sequence[str]] = None,
    layers: Optional[str] = None,
    gate: Optional[str] = None,
    key: Optional[str] = None,
    layer_order: Optional[PathLike] = None,
    allow_nonfinite: bool = False,
) -> StabilityResult:
    """Stability of task relationships across runs: Spearman correlation of
    the upper triangles of every pair of runs' similarity matrices, with
    one-sided Mantel permutation p-values and bootstrap intervals (paper
    §5.2). ``mtl-inspect stability``.

    Returns a :class:`Result` with ``pairs`` (``a, b, spearman, p_value,
    ci_low, ci_high``), ``matrix`` (runs × runs :class:`TaskMatrix` of
    Spearman correlations, NaN where undefined), ``mean``, ``min``, ``max``,
    ``mean_ci`` (dict or None), ``exact_permutations``.
    """
    kind = check_frame(frame)
    read = _read_kwargs(tasks=tasks, layers=layers, gate=gate, key=key,
                        layer_order=layer_order, allow_nonfinite=allow_nonfinite)
    raw = _json.loads(_native.stability_json(**_runs(paths, read), permutations=permutations,
                                             bootstrap=bootstrap, seed=seed))
    pairs = raw["pairs"]
    cols = {
        "a": [p["a"] for p in pairs],
        "b": [p["b"] for p in pairs],
        "spearman": [p["spearman"] for p in pairs],
        "p_value": [p["p_value"] for p in pairs],
        "ci_low": [p["ci"]["low"] if p["ci"] else None for p in pairs],
        "ci_high": [p["ci"]["high"] if p["ci"] else None for p in pairs],
    }
    return StabilityResult("stability", raw, "pairs", pairs=_frame(cols, kind),
                  matrix=TaskMatrix(raw["matrix"], raw["runs"]),
                  mean=raw["mean"], min=raw["min"], max=raw["max"], mean_ci=raw["mean_ci"],
                  exact_permutations=raw["exact_permutations"])


def cluster(
    paths: Union[CkptLike, Sequence[CkptLike]],
    k: int,
    linkage: str = "average",
    *,
    frame: Optional[str] = None,
    tasks: Union[None, PathLike, Sequence[str]] = None,
    layers: Optional[str] = None,
    gate: Optional[str] = None,
    key: Optional[str] = None,
    layer_order: Optional[PathLike] = None,
    allow_nonfinite: bool = False,
) -> ClusterResult:
    """Hierarchical task clusters on ``1 − cosine similarity`` cut into
    ``k``; with several runs the co-occurrence matrix and representative
    clusters (paper App. C, Table 5), each task's confidence and each run's
    adjusted Rand index. ``mtl-inspect cluster --k --linkage``; linkage is
    one of ``average, complete, single, ward, weighted``.

    Returns a :class:`Result` with ``clusters`` (list of lists of task
    names), ``table`` (``task, cluster, confidence``), ``runs`` (``run,
    ari``), ``labels`` (run → NumPy array of cluster labels in task order),
    ``cooccurrence`` (:class:`TaskMatrix`), ``ties`` (input-order decisions
    that changed a partition) and ``cut``.
    """
    kind = check_frame(frame)
    read = _read_kwargs(tasks=tasks, layers=layers, gate=gate, key=key,
                        layer_order=layer_order, allow_nonfinite=allow_nonfinite)
    raw = _json.loads(_native.cluster_json(**_runs(paths, read), k=k, linkage=linkage))
    conf = raw["confidence"]
    table = {c: [x[c] for x in conf] for c in ("task", "cluster", "confidence")}
    runs = {"run": [r["run"] for r in raw["runs"]], "ari": [r["ari"] for r in raw["runs"]]}
    return ClusterResult("cluster", raw, "table", clusters=raw["clusters"], table=_frame(table, kind),
                  runs=_frame(runs, kind),
                  labels={r["run"]: np.asarray(r["labels"], dtype=np.int64) for r in raw["runs"]},
                  cooccurrence=TaskMatrix(raw["cooccurrence"]["matrix"], raw["cooccurrence"]["tasks"]),
                  ties=raw["ties"], cut=raw["cut"], k=raw["k"], linkage=raw["linkage"])


def filter_groups(
    ckpt: CkptLike,
    k: int,
    *,
    seed: int = 0,
    dead_threshold: float = 0.1,
    frame: Optional[str] = None,
    tasks: Union[None, PathLike, Sequence[str]] = None,
    layers: Optional[str] = None,
    gate: Optional[str] = None,
    key: Optional[str] = None,
    layer_order: Optional[PathLike] = None,
    allow_nonfinite: bool = False,
) -> FilterGroupsResult:
    """Groups of filters with similar task profiles (k-means on each
    filter's importances normalized to sum 1): generic, task-specific and
    dead filters and where they sit. ``mtl-inspect filter-groups``.

    Returns a :class:`Result` with ``groups`` (``id, size, kind,
    dominant_tasks``), ``centroids`` (groups × tasks :class:`TaskMatrix`),
    ``per_layer`` (groups × layers member counts), ``assignments`` (group id
    per filter, -1 for dead filters), ``dead``, ``inertia``.
    """
    kind = check_frame(frame)
    read = _read_kwargs(tasks=tasks, layers=layers, gate=gate, key=key,
                        layer_order=layer_order, allow_nonfinite=allow_nonfinite)
    raw = _json.loads(_native.filter_groups_json(_one(ckpt, read), k=k, seed=seed,
                                                 dead_threshold=dead_threshold))
    groups = raw["groups"]
    cols = {
        "id": [g["id"] for g in groups],
        "size": [g["size"] for g in groups],
        "kind": [g["kind"] for g in groups],
        "dominant_tasks": [", ".join(t for t, _ in g["dominant_tasks"]) for g in groups],
    }
    layer_names = [name for name, _ in raw["dead_per_layer"]]
    per_layer = TaskMatrix([[n for _, n in g["per_layer"]] for g in groups],
                           [f"group {g['id']}" for g in groups], layer_names)
    return FilterGroupsResult("filter_groups", raw, "groups", groups=_frame(cols, kind),
                  centroids=TaskMatrix([g["centroid"] for g in groups],
                                       [f"group {g['id']}" for g in groups], raw["tasks"]),
                  per_layer=per_layer,
                  assignments=np.array([-1 if a is None else a for a in raw["assignments"]],
                                       dtype=np.int64),
                  dead=raw["dead"], inertia=raw["inertia"], k=raw["k"])


_DIST = ("label", "n", "mean", "std", "min", "q05", "q25", "median", "q75", "q95", "max",
         "below_0_1", "above_0_9")


def gate_stats(
    ckpt: CkptLike,
    *,
    bins: int = 20,
    frame: Optional[str] = None,
    tasks: Union[None, PathLike, Sequence[str]] = None,
    layers: Optional[str] = None,
    gate: Optional[str] = None,
    key: Optional[str] = None,
    layer_order: Optional[PathLike] = None,
    allow_nonfinite: bool = False,
) -> GateStatsResult:
    """Distribution of gate values (importances) per task and overall:
    quantiles and the shares below 0.1 and above 0.9 (paper Fig. 5/9).
    ``mtl-inspect gates --bins``.

    Returns a :class:`Result` with ``table`` (one row per task, then
    ``all``: ``label, n, mean, std, min, q05, q25, median, q75, q95, max,
    below_0_1, above_0_9``), ``edges`` (the shared histogram edges) and
    ``counts`` (rows × bins :class:`TaskMatrix`, rows as ``table``).
    """
    kind = check_frame(frame)
    read = _read_kwargs(tasks=tasks, layers=layers, gate=gate, key=key,
                        layer_order=layer_order, allow_nonfinite=allow_nonfinite)
    raw = _json.loads(_native.gate_stats_json(_one(ckpt, read), bins=bins))
    rows = raw["per_task"] + [raw["overall"]]
    cols = {c: [r[c] for r in rows] for c in _DIST}
    edges = np.asarray(raw["overall"]["histogram"]["edges"], dtype=float)
    counts = TaskMatrix([r["histogram"]["counts"] for r in rows], [r["label"] for r in rows],
                        [f"{a:g}–{b:g}" for a, b in zip(edges[:-1], edges[1:])])
    return GateStatsResult("gate_stats", raw, "table", table=_frame(cols, kind), edges=edges, counts=counts)


def diff(
    a: CkptLike,
    b: CkptLike,
    *,
    tau: float = 0.5,
    top: int = 10,
    frame: Optional[str] = None,
    tasks: Union[None, PathLike, Sequence[str]] = None,
    layers: Optional[str] = None,
    gate: Optional[str] = None,
    key: Optional[str] = None,
    layer_order: Optional[PathLike] = None,
    allow_nonfinite: bool = False,
) -> DiffResult:
    """Compare two checkpoints of the same tasks and layers (``mtl-inspect
    diff``): per task the change (B − A) in capacity and its parts
    (``tasks``), per layer (``layers``), the Spearman correlation of the two
    similarity matrices, the pairs that moved most and the filters whose
    owner changed. Tables are built from ``raw`` as given by the CLI."""
    kind = check_frame(frame)
    read = _read_kwargs(tasks=tasks, layers=layers, gate=gate, key=key,
                        layer_order=layer_order, allow_nonfinite=allow_nonfinite)
    raw = _json.loads(_native.diff_json(_one(a, read), _one(b, read), tau=tau, top=top))

    def table(rows: List[Dict[str, Any]]) -> Any:
        if not rows:
            return _frame({}, kind)
        return _frame({c: [r.get(c) for r in rows] for c in rows[0]}, kind)

    return DiffResult("diff", raw, "tasks", tasks=table(raw["tasks"]), layers=table(raw["layers"]),
                  moved_pairs=table(raw["moved_pairs"]), owner_changes=table(raw["owner_changes"]),
                  similarity_spearman=raw["similarity_spearman"])


class Report:
    """A written HTML report: ``path`` (its ``index.html``), ``out`` (the
    directory) and ``files`` (every file written). Displays inline in
    Jupyter (the page is self-contained)."""

    def __init__(self, out: str, files: List[str]) -> None:
        self.out = out
        self.files = files
        self.path = _os.path.join(out, "index.html")

    def __repr__(self) -> str:
        return f"<mtl_inspect.Report {self.path} ({len(self.files)} files)>"

    def _repr_html_(self) -> str:
        # `open` here is mtl_inspect.open; read the page with the builtin.
        with _builtins.open(self.path, encoding="utf-8") as f:
            page = f.read()
        return (
            '<iframe style="width:100%;height:80vh;border:1px solid #ccc" '
            f'sandbox="allow-scripts" srcdoc="{_html.escape(page, quote=True)}"></iframe>'
        )


def report(
    paths: Union[CkptLike, Sequence[CkptLike]],
    out: PathLike,
    *,
    k: Optional[int] = None,
    linkage: str = "average",
    tau: float = 0.5,
    groups: int = 8,
    permutations: int = 999,
    bootstrap: int = 200,
    title: Optional[str] = None,
    diagnostics: Union[None, PathLike, Sequence[PathLike]] = None,
    sweep: Union[None, PathLike, Sequence[PathLike]] = None,
    auto_diagnostics: bool = True,
    tasks: Union[None, PathLike, Sequence[str]] = None,
    layers: Optional[str] = None,
    gate: Optional[str] = None,
    key: Optional[str] = None,
    layer_order: Optional[PathLike] = None,
    allow_nonfinite: bool = False,
    command_line: Optional[Sequence[str]] = None,
) -> Report:
    """Write the paper's figures (SVG), their tables (CSV) and one
    self-contained ``index.html`` into the directory ``out`` (created if
    missing), for one or several runs. ``mtl-inspect report``: ``k`` task
    clusters (default ``⌈T/4⌉``), ``linkage``, ``tau``, ``groups`` filter
    groups of the first run (0: none), Mantel ``permutations`` and
    ``bootstrap`` replicates of the stability section, ``title``;
    ``diagnostics``: files of ``mtl-train diagnose`` (``--diagnostics``;
    without them, with ``auto_diagnostics``, a diagnose file
    ``<stem>.json`` beside a checkpoint is used, as the CLI does);
    ``sweep``: checkpoints of sweeps or folders of them (``--sweep``,
    read with the same reading options). ``command_line`` is what the
    page's provenance shows (default: this call, as a command line). The
    CLI's notes (a diagnose file found beside a checkpoint, a sidecar
    skipped among the sweeps) arrive as warnings.

    Returns a :class:`Report`, which Jupyter displays inline.
    """
    read = _read_kwargs(tasks=tasks, layers=layers, gate=gate, key=key,
                        layer_order=layer_order, allow_nonfinite=allow_nonfinite)
    runs = _runs(paths, read)
    if "read" not in runs:
        # The sweeps are read with the reading options even when the
        # report's own runs were opened already.
        runs["read"] = _native.read_settings(**_native_read(**read))
    out_s = _os.fspath(out)
    given = runs.get("paths") or [n.path for n in runs["ckpts"]]
    if command_line is None:
        command_line = ["mtl_inspect.report"] + list(given) + ["--out", out_s]
    files, notes = _native.report(**runs, out=out_s, k=k, linkage=linkage, tau=tau,
                                  groups=groups, permutations=permutations,
                                  bootstrap=bootstrap, title=title,
                                  diagnostics=_paths(diagnostics), sweep=_paths(sweep),
                                  auto_diagnostics=auto_diagnostics,
                                  command_line=list(command_line))
    for note in notes:
        # The CLI's "note: …" lines (a diagnose file found beside a
        # checkpoint, a sidecar among the sweeps).
        _warnings.warn(note, stacklevel=2)
    return Report(out_s, files)


def _paths(p: Union[None, PathLike, Sequence[PathLike]]) -> List[str]:
    """A path or a list of them as strings (``None``: none)."""
    if p is None:
        return []
    if isinstance(p, (str, _os.PathLike)):
        return [_os.fspath(p)]
    return [_os.fspath(x) for x in p]

