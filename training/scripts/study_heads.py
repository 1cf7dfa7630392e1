#!/usr/bin/env python3
"""Do a layer's gates follow the groups or the heads' random start?

For each seed of a `study_groups.py` cell (its epoch0/ and epoch<E>/
checkpoints), and each norm layer, over all task pairs (i, j):

- r(heads): Pearson correlation between cos(gates_i, gates_j) at epoch E
  and cos(w_i, w_j) of the two tasks' *initial* head rows (epoch 0);
- r(groups): the same against 1 if i and j are of one group, else 0;

and how far the heads moved: the mean over tasks of corr(w_t at 0, w_t at E).
Standard library only:

    python3 training/scripts/study_heads.py /tmp/study/independent-a100 3
"""
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from study_groups import read_safetensors  # noqa: E402


def pearson(a, b):
    n = len(a)
    ma, mb = sum(a) / n, sum(b) / n
    sa = math.sqrt(sum((x - ma) ** 2 for x in a))
    sb = math.sqrt(sum((y - mb) ** 2 for y in b))
    if sa == 0 or sb == 0:
        return float("nan")
    return sum((x - ma) * (y - mb) for x, y in zip(a, b)) / (sa * sb)


def cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    cell, epoch = sys.argv[1], sys.argv[2]
    names = sorted(f for f in os.listdir(os.path.join(cell, "epoch0")) if f.endswith(".safetensors"))
    print("seed | layer | r(gate cosine, initial head cosine) | r(gate cosine, same group) | heads' correlation with their start")
    for name in names:
        _, t0 = read_safetensors(os.path.join(cell, "epoch0", name))
        meta, t1 = read_safetensors(os.path.join(cell, f"epoch{epoch}", name))
        tasks = json.loads(meta["mtl.tasks"])
        group = [x.split("_")[0] for x in tasks]
        (n_tasks, f), w0 = t0["heads.weight"]
        _, w1 = t1["heads.weight"]
        rows0 = [w0[i * f:(i + 1) * f] for i in range(n_tasks)]
        moved = sum(pearson(rows0[i], w1[i * f:(i + 1) * f]) for i in range(n_tasks)) / n_tasks
        for layer in json.loads(meta["mtl.layers"]):
            (_, c), g = t1[f"{layer}.gamma"]
            gates = [[1 / (1 + math.exp(-x)) for x in g[i * c:(i + 1) * c]] for i in range(n_tasks)]
            gc, hc, same = [], [], []
            for i in range(n_tasks):
                for j in range(i + 1, n_tasks):
                    gc.append(cos(gates[i], gates[j]))
                    hc.append(cos(rows0[i], rows0[j]))
                    same.append(1.0 if group[i] == group[j] else 0.0)
            print(f"{name} | {layer} | {pearson(gc, hc):.2f} | {pearson(gc, same):.2f} | {moved:.2f}")


if __name__ == "__main__":
    main()
