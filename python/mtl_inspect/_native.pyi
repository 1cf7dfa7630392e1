"""Type stubs of the Rust extension ``mtl_inspect._native`` (PyO3).

The public API is ``mtl_inspect`` itself (typed inline, see ``__init__.py``);
these functions return the CLI's ``--format json`` result as a string.
"""

from typing import List, Optional, Sequence, Tuple

__version__: str

class MtlInspectError(Exception):
    """Base class of every error mtl_inspect raises."""

class InputError(MtlInspectError):
    """A checkpoint or input file cannot be read or analysed (the CLI's exit code 1)."""

class ParameterError(MtlInspectError):
    """A parameter is out of range or malformed (the CLI's exit code 2)."""

class Checkpoint:
    """A checkpoint read into task × filter importances."""

    @property
    def path(self) -> str: ...
    @property
    def tasks(self) -> List[str]: ...
    @property
    def layers(self) -> List[Tuple[str, int]]: ...
    @property
    def gate(self) -> str: ...
    def importance_bytes(self) -> Tuple[bytearray, int, int]: ...
    def summary_json(self) -> str: ...
    def summary_text(self) -> str: ...
    def dropped_json(self) -> str: ...

def open(path: str, read: Optional[ReadSettings] = None) -> Checkpoint: ...
class ReadSettings:
    """Checked reading options from ``read_settings``: for ``open`` and for
    the functions that read paths one at a time."""

def read_settings(
    tasks_file: Optional[str] = None,
    task_names: Optional[Sequence[str]] = None,
    layers: Optional[str] = None,
    gate: Optional[str] = None,
    key: Optional[str] = None,
    layer_order: Optional[str] = None,
    allow_nonfinite: bool = False,
) -> ReadSettings: ...
def is_sidecar(path: str) -> bool: ...
def capacity_json(
    ckpts: Sequence[Checkpoint],
    per_layer: bool = False,
    paths: Sequence[str] = ...,
    read: Optional[ReadSettings] = None,
) -> str: ...
def similarity_json(ckpt: Checkpoint, per_layer: bool = False) -> str: ...
def specialization_json(ckpt: Checkpoint, tau: float = 0.5) -> str: ...
def stability_json(
    ckpts: Sequence[Checkpoint],
    permutations: int = 999,
    bootstrap: int = 200,
    seed: int = 0,
    paths: Sequence[str] = ...,
    read: Optional[ReadSettings] = None,
) -> str: ...
def cluster_json(
    ckpts: Sequence[Checkpoint],
    k: int,
    linkage: str = "average",
    paths: Sequence[str] = ...,
    read: Optional[ReadSettings] = None,
) -> str: ...
def filter_groups_json(
    ckpt: Checkpoint, k: int, seed: int = 0, dead_threshold: float = 0.1
) -> str: ...
def gate_stats_json(ckpt: Checkpoint, bins: int = 20) -> str: ...
def diff_json(a: Checkpoint, b: Checkpoint, tau: float = 0.5, top: int = 10) -> str: ...
def report(
    ckpts: Sequence[Checkpoint],
    out: str,
    k: Optional[int] = None,
    linkage: str = "average",
    tau: float = 0.5,
    groups: int = 8,
    permutations: int = 999,
    bootstrap: int = 200,
    title: Optional[str] = None,
    diagnostics: Sequence[str] = ...,
    sweep: Sequence[str] = ...,
    auto_diagnostics: bool = True,
    command_line: Optional[Sequence[str]] = None,
    paths: Sequence[str] = ...,
    read: Optional[ReadSettings] = None,
) -> Tuple[List[str], List[str]]: ...
def diagnose_document(
    tasks: Sequence[str],
    scopes: Sequence[str],
    params: Sequence[int],
    grams: Sequence[float],
    losses: Sequence[float],
    steps: Optional[Sequence[int]],
    document: str,
    gradient_keys: str,
) -> Tuple[str, str, str]: ...
def pruning_rankings(importance: Sequence[float], tasks: int, k: Optional[int] = None) -> str: ...
def pruning_drops(
    base: Sequence[float],
    pruned: Sequence[float],
    higher_is_better: bool = True,
    permutations: int = 9999,
    seed: int = 0,
) -> str: ...
