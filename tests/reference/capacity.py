"""Reference values for tests/analysis_reference.rs::capacity_*.

Eq. 4-5 of paper 000 computed the slow, obvious way: one np.linalg.lstsq
projection per task onto the span of the other tasks' rows.
Run: python3 tests/reference/capacity.py
"""
import numpy as np


def capacity(I):
    T, F = I.shape
    out = []
    for t in range(T):
        it = I[t]
        C = it.mean()
        n = np.linalg.norm(it)
        if n == 0:
            out.append((C, 0.0, 0.0))
            continue
        A = np.delete(I, t, axis=0).T  # F x (T-1)
        if A.shape[1] == 0:
            proj = np.zeros_like(it)
        else:
            coef, *_ = np.linalg.lstsq(A, it, rcond=None)
            proj = A @ coef
        out.append((C, np.linalg.norm(proj) / n * C, np.linalg.norm(it - proj) / n * C))
    return out


def show(name, I):
    print(f"// {name}: I ({I.shape[0]}x{I.shape[1]}), row-major")
    print("let data = [" + ", ".join(repr(float(v)) for v in I.ravel()) + "];")
    print("let expected = [" + ", ".join(f"({c!r}, {s!r}, {i!r})" for c, s, i in
                                         [tuple(float(x) for x in r) for r in capacity(I)]) + "];")


def main():
    rng = np.random.default_rng(42)
    show("random", np.round(rng.uniform(0, 1, (4, 7)), 4))
    show("more_tasks_than_filters", np.round(rng.uniform(0, 1, (5, 3)), 4))
    D = np.round(rng.uniform(0, 1, (4, 6)), 4)
    D[2] = D[0]
    show("duplicated_rows", D)
    E = np.round(rng.uniform(0, 1, (3, 6)), 4)
    E[2] = 0.3 * E[0] + 0.7 * E[1]  # a combination of the other two
    show("combination_row", E)


if __name__ == "__main__":
    main()
