"""open(): every fixture the CLI is tested on reads to the same evidence as
`mtl-inspect inspect --format json`, or fails with the same message and the
exception class of the CLI's exit code."""

import csv
import json
import io

import numpy as np
import pytest

import mtl_inspect as mi
from conftest import CELEBA, FIXTURES, ROOT

FILES = sorted(
    str(p.relative_to(ROOT))
    for d in ("celeba40", "shapes", "torch", "layouts")
    for p in (FIXTURES / d).iterdir()
    if p.suffix not in (".md", ".py", ".json", ".txt", ".csv")
) + ["fixtures/torch/sharded/model.safetensors.index.json"]


def open_like_cli(path, **kw):
    return mi.open(path, **kw)


@pytest.mark.parametrize("path", FILES)
def test_open_matches_inspect(cli, path):
    p = cli.run("inspect", path, "--format", "json")
    if p.returncode == 0:
        import json

        want = json.loads(p.stdout)
        ckpt = mi.open(path)
        got = ckpt.summary()
        assert dict(got) == want
        assert ckpt.tasks == want["tasks"]
        assert ckpt.layers == [(l["layer"], l["filters"]) for l in want["layers"]]
        assert ckpt.gate == want["gate"]
        assert str(got) == cli.run("inspect", path).stdout
    else:
        code, msg = cli.error("inspect", path)
        cls = {1: mi.InputError, 2: mi.ParameterError}[code]
        with pytest.raises(cls) as e:
            mi.open(path).summary()
        assert str(e.value) == msg
        assert isinstance(e.value, mi.MtlInspectError)


def test_reading_options_are_the_cli_flags(cli):
    # --key picks the state_dict of a checkpoint with two; --gate overrides.
    amb = "fixtures/torch/ambiguous_model_ema.pt"
    code, msg = cli.error("inspect", amb)
    with pytest.raises(mi.InputError, match="--key"):
        mi.open(amb)
    for key in ("model", "ema"):
        want = cli.json("inspect", amb, "--key", key)
        assert dict(mi.open(amb, key=key).summary()) == want
    one = "fixtures/celeba40/run0.safetensors"
    want = cli.json("inspect", one, "--gate", "abs", "--layers", r"\.[12]\.")
    ck = mi.open(one, gate="abs", layers=r"\.[12]\.")
    assert dict(ck.summary()) == want
    assert ck.gate == want["gate"]


def test_tasks_from_a_file_or_a_list(cli):
    path, tasks = "fixtures/layouts/module_list_f32.safetensors", "fixtures/layouts/tasks.txt"
    want = cli.json("inspect", path, "--tasks", tasks)
    assert mi.open(path, tasks=tasks).tasks == want["tasks"]
    names = [l.strip() for l in open(ROOT / tasks) if l.strip()]
    assert mi.open(path, tasks=names).tasks == want["tasks"]


def test_importance_is_the_exported_table(cli, tmp_path):
    # `mtl-inspect export` writes the tidy (run, layer, filter, task, gate,
    # importance) table; the matrix must hold the same numbers in the
    # layers' order.
    for path in ("fixtures/celeba40/run0.safetensors", "fixtures/torch/module_list.pth"):
        out = tmp_path / "t.csv"
        p = cli.run("export", path, "--out", out)
        assert p.returncode == 0, p.stderr
        ck = mi.open(path)
        im = ck.importance()
        assert im.shape == (len(ck.tasks), sum(f for _, f in ck.layers))
        assert im.dtype == np.float64 and im.flags.writeable and im.flags.f_contiguous
        # Each call is a fresh copy: writing into one leaves the next intact.
        other = ck.importance()
        other[0, 0] = -1.0
        assert ck.importance()[0, 0] == im[0, 0] != -1.0
        offset = {}
        o = 0
        for name, f in ck.layers:
            offset[name] = o
            o += f
        rows = list(csv.DictReader(io.StringIO(out.read_text())))
        assert len(rows) == im.size
        for r in rows:
            got = im[ck.tasks.index(r["task"]), offset[r["layer"]] + int(r["filter"])]
            assert got == pytest.approx(float(r["importance"]), rel=1e-15, abs=0)


def test_bad_parameters_are_parameter_errors(cli):
    one = "fixtures/layouts/stacked_f16.safetensors"
    code, msg = cli.error("inspect", one, "--layers", "(unclosed")
    assert code == 2
    with pytest.raises(mi.ParameterError) as e:
        mi.open(one, layers="(unclosed")
    assert str(e.value) == msg
    with pytest.raises(mi.ParameterError, match="sigmoid, abs, identity"):
        mi.open(one, gate="relu")


def test_missing_file_names_the_path(cli):
    code, msg = cli.error("inspect", "no/such/file.safetensors")
    with pytest.raises(mi.InputError) as e:
        mi.open("no/such/file.safetensors")
    assert str(e.value) == msg and "no/such/file.safetensors" in msg


def _write_safetensors(path, tensors, metadata):
    # The safetensors layout by hand (the test venv has no safetensors):
    # u64 header length, JSON header, raw little-endian data.
    import struct

    header = {"__metadata__": metadata}
    data = b""
    for name, arr in tensors.items():
        raw = np.asarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(np.shape(arr)),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    path.write_bytes(struct.pack("<Q", len(h)) + h + data)


def test_optimizer_sidecars_are_skipped_in_lists_with_a_warning_at_the_call(tmp_path):
    side = tmp_path / "run0.optim.safetensors"
    _write_safetensors(side, {"backbone.0.norm.gamma.m": np.zeros(3)}, {"mtl.optimizer_step": "12"})
    want = mi.stability(CELEBA[:2], permutations=0, bootstrap=0).raw
    # Paths only (read one at a time), and a mix with an opened checkpoint.
    for runs in ([str(side), *CELEBA[:2]], [str(side), mi.open(CELEBA[0]), CELEBA[1]]):
        with pytest.warns(UserWarning, match="skipping .*run0.optim.safetensors") as w:
            got = mi.stability(runs, permutations=0, bootstrap=0).raw
        assert got == want
        assert w[0].filename == __file__, "the warning names the caller's line"
    # Alone it is refused, naming the checkpoint it belongs to.
    with pytest.raises(mi.InputError, match="optimizer state"):
        mi.capacity(str(side))
