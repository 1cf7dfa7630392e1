#!/usr/bin/env python3
"""numpy's reading of `mtl-train shapes --export DIR` (tests/export.rs runs
it when MTL_TEST_PYTHON names a Python with numpy and Pillow).

    python training/tests/reference/read_export.py DIR

Checks that np.load reads shapes.npz (float32 images [N, 3, S, S] in
[0, 1], float32 labels [N, T] in {0, 1}, the task names), that the labels
equal the CelebA attribute file's (±1) in partition order, and that the
PNGs hold the npz images × 255 exactly. Prints one line per split.
"""
import os
import sys

import numpy as np
from PIL import Image


def main(d):
    z = np.load(os.path.join(d, "shapes.npz"))
    tasks = [str(t) for t in z["tasks"]]
    assert tasks == open(os.path.join(d, "tasks.txt")).read().split(), "tasks.txt"
    with open(os.path.join(d, "list_attr_celeba.txt")) as f:
        count = int(f.readline())
        names = f.readline().split()
        rows = [line.split() for line in f if line.strip()]
    assert names == tasks and len(rows) == count, "attribute header"
    parts = [line.split() for line in open(os.path.join(d, "list_eval_partition.txt")) if line.strip()]
    assert [p[0] for p in parts] == [r[0] for r in rows], "partition rows"
    for p, split in enumerate(["train", "val", "test"]):
        x, y = z[f"{split}_images"], z[f"{split}_labels"]
        assert x.dtype == np.float32 and x.ndim == 4 and x.shape[1] == 3, x.shape
        assert y.dtype == np.float32 and y.shape == (x.shape[0], len(tasks)), y.shape
        assert x.min() >= 0 and x.max() <= 1 and set(np.unique(y)) <= {0.0, 1.0}
        mine = [r for r, q in zip(rows, parts) if q[1] == str(p)]
        assert len(mine) == len(y), split
        attr = np.array([[int(v) for v in r[1:]] for r in mine])
        assert np.array_equal((attr + 1) // 2, y.astype(int)), f"{split} labels"
        for i, r in enumerate(mine):
            img = np.asarray(Image.open(os.path.join(d, "img_align_celeba", r[0])).convert("RGB"))
            assert np.array_equal(img.transpose(2, 0, 1), np.round(x[i] * 255).astype(np.uint8)), r[0]
        print(f"{split}: {x.shape} images, {y.shape} labels, mean label {y.mean():.3f}: ok")


if __name__ == "__main__":
    main(sys.argv[1])
