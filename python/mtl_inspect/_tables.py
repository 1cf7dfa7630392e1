"""Columns → the table type the caller asked for, and labelled matrices.

Every analysis builds its tables as ``{column: list}``; :func:`frame` turns
that into a pandas DataFrame (default when pandas is importable), a polars
DataFrame (``frame="polars"``) or a dict of NumPy arrays (``frame="numpy"``,
or the default without pandas). Nothing here computes.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np

FRAMES = ("pandas", "polars", "numpy")


def check_frame(frame: Optional[str]) -> str:
    """The frame kind to build: ``None`` picks pandas when installed."""
    from ._native import ParameterError

    if frame is None:
        try:
            import pandas  # noqa: F401
        except ImportError:
            return "numpy"
        return "pandas"
    if frame not in FRAMES:
        raise ParameterError(
            f"invalid value '{frame}' for frame; possible values: {', '.join(FRAMES)}"
        )
    return frame


def _column(values: List[Any]) -> np.ndarray:
    # None (JSON null: an undefined statistic) becomes NaN in numeric columns.
    if values and all(v is None or isinstance(v, (int, float)) for v in values):
        if any(v is None for v in values) or any(isinstance(v, float) for v in values):
            return np.array([np.nan if v is None else v for v in values], dtype=float)
        return np.array(values, dtype=np.int64)
    return np.array(values, dtype=object)


def frame(columns: Dict[str, List[Any]], kind: str) -> Any:
    """A table of equal-length columns as ``kind`` (see :func:`check_frame`)."""
    arrays = {name: _column(list(values)) for name, values in columns.items()}
    if kind == "pandas":
        import pandas as pd

        return pd.DataFrame(arrays)
    if kind == "polars":
        import polars as pl

        return pl.DataFrame(
            {k: (list(v) if v.dtype == object else v) for k, v in arrays.items()}
        )
    return arrays


class TaskMatrix(np.ndarray):
    """A square (or rectangular) NumPy array whose rows and columns are
    labelled: ``labels`` names the rows (tasks or runs), ``col_labels`` the
    columns (the same as ``labels`` unless given).

    It behaves as a plain ``ndarray`` in every computation; ``to_pandas()``
    gives a DataFrame indexed by the labels.
    """

    labels: List[str]
    col_labels: List[str]

    def __new__(
        cls,
        data: Any,
        labels: Sequence[str],
        col_labels: Optional[Sequence[str]] = None,
    ) -> "TaskMatrix":
        arr = np.asarray(
            [[np.nan if v is None else v for v in row] for row in data], dtype=float
        )
        if arr.size == 0:
            arr = arr.reshape(len(labels), len(col_labels or labels))
        obj = arr.view(cls)
        obj.labels = list(labels)
        obj.col_labels = list(col_labels if col_labels is not None else labels)
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        if obj is None:
            return
        self.labels = getattr(obj, "labels", [])
        self.col_labels = getattr(obj, "col_labels", [])

    def to_pandas(self) -> Any:
        """A pandas DataFrame with the labels as index and columns."""
        import pandas as pd

        return pd.DataFrame(np.asarray(self), index=self.labels, columns=self.col_labels)
