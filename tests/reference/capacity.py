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
    # Nearly identical tasks (gates barely moved from 0.5); nalgebra 0.35's
    # SVD loses ~1e-5 here (nalgebra issue #1172), which capacity.rs avoids.
    # Found by crosscheck.py.
    near = [0.48841955178011554, 0.5036478505244751, 0.5008507509367612, 0.49447860259464466,
            0.49591781674519037, 0.5014826361502017, 0.49083290503350196, 0.49506523928535573,
            0.5042870179278989, 0.49489223871335697, 0.4901216066885169, 0.513269666266782,
            0.5083965332018823, 0.48926344204410943, 0.4968309694518012, 0.4957968801662645,
            0.5113753758450899, 0.48850297051220737, 0.48846088963809053, 0.5093314316076192]
    show("near_identical", np.array(near).reshape(4, 5))


if __name__ == "__main__":
    main()
