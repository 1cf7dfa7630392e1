"""report(): the same files as `mtl-inspect report`, inline display in
Jupyter, and the README's notebook example runs as written."""

import os
import re

import pytest

import mtl_inspect as mi
from conftest import CELEBA, ROOT, SHAPES_TSSBN

ARGS = dict(k=5, permutations=0, bootstrap=0, groups=4)
FLAGS = ["--k", "5", "--permutations", "0", "--bootstrap", "0", "--groups", "4"]


def test_report_writes_the_cli_files(cli, tmp_path):
    runs = CELEBA[:2]
    p = cli.run("report", *runs, "--out", tmp_path / "cli", *FLAGS)
    assert p.returncode == 0, p.stderr
    r = mi.report(runs, out=tmp_path / "py", **ARGS)
    assert isinstance(r, mi.Report)
    assert sorted(r.files) == sorted(os.listdir(tmp_path / "cli"))
    assert r.path == os.path.join(str(tmp_path / "py"), "index.html")
    for name in r.files:
        a = (tmp_path / "cli" / name).read_bytes()
        b = (tmp_path / "py" / name).read_bytes()
        if name.endswith((".csv", ".svg")):
            assert a == b, name
    html = r._repr_html_()
    assert html.startswith("<iframe") and "srcdoc=" in html and "&lt;html" in html.lower()
    # Paths are read one at a time; opened checkpoints give the same files.
    o = mi.report([mi.open(p) for p in runs], out=tmp_path / "opened", **ARGS)
    assert sorted(o.files) == sorted(r.files)
    for name in o.files:
        if name.endswith((".csv", ".svg")):
            assert (tmp_path / "opened" / name).read_bytes() == (tmp_path / "py" / name).read_bytes(), name


def test_report_pages_are_the_clis_byte_for_byte(cli, tmp_path):
    # One pipeline behind both front ends: every file of the page, index.html
    # included, is the same bytes, diagnose files and sweeps too. The command
    # line shown in the page is given to Python as the CLI saw it.
    diagnostics = ["training/diagnostics/shapes_tssbn_seed0.json",
                   "training/diagnostics/shapes_bn_seed0.json"]
    sweeps = ["fixtures/sweeps/noise", "fixtures/sweeps/alpha"]
    args = ["report", *SHAPES_TSSBN, "--out", str(tmp_path / "cli"), "--k", "4",
            "--permutations", "99", "--bootstrap", "20",
            "--diagnostics", *diagnostics, "--sweep", *sweeps]
    p = cli.run(*args)
    assert p.returncode == 0, p.stderr
    r = mi.report(SHAPES_TSSBN, out=tmp_path / "py", k=4, permutations=99, bootstrap=20,
                  diagnostics=diagnostics, sweep=sweeps,
                  command_line=[str(cli.binary), *args])
    assert sorted(r.files) == sorted(os.listdir(tmp_path / "cli"))
    assert any(n.startswith("sweep-noise") for n in r.files)
    assert any(n.startswith("pruning-") for n in r.files)
    for name in r.files:
        a = (tmp_path / "cli" / name).read_bytes()
        b = (tmp_path / "py" / name).read_bytes()
        assert a == b, name


def test_a_diagnose_file_beside_a_checkpoint_is_used_with_a_warning(cli, tmp_path):
    # The CLI's "note: using diagnostics … found beside …" is a warning in
    # Python, and both pages show the diagnose file.
    import shutil
    runs = tmp_path / "runs"
    runs.mkdir()
    ckpt = runs / "shapes_tssbn_seed0.safetensors"
    shutil.copy(ROOT / SHAPES_TSSBN[0], ckpt)
    for ext in (".json", ".conflict.csv"):
        shutil.copy(ROOT / "training" / "diagnostics" / f"shapes_tssbn_seed0{ext}", runs)
    args = ["report", str(ckpt), "--out", str(tmp_path / "cli"), *FLAGS]
    p = cli.run(*args)
    assert p.returncode == 0, p.stderr
    assert "note: using diagnostics" in p.stderr
    with pytest.warns(UserWarning, match="using diagnostics .* found beside"):
        r = mi.report([str(ckpt)], out=tmp_path / "py", **ARGS,
                      command_line=[str(cli.binary), *args])
    assert "diagnostics-files.csv" in r.files
    for name in r.files:
        assert (tmp_path / "cli" / name).read_bytes() == (tmp_path / "py" / name).read_bytes(), name


def test_report_default_k_is_the_clis(cli, tmp_path):
    # k defaults to ⌈T/4⌉ of the runs read (10 for the 40 CelebA tasks).
    runs = CELEBA[:2]
    flags = ["--permutations", "0", "--bootstrap", "0", "--groups", "0"]
    p = cli.run("report", *runs, "--out", tmp_path / "cli", *flags)
    assert p.returncode == 0, p.stderr
    mi.report(runs, out=tmp_path / "py", permutations=0, bootstrap=0, groups=0)
    for name in ("clusters.csv",):
        assert (tmp_path / "cli" / name).read_bytes() == (tmp_path / "py" / name).read_bytes()
    # ⌈40/4⌉ = 10 clusters: one line each under the header.
    assert len((tmp_path / "py" / "clusters.csv").read_text().splitlines()) == 1 + 10


def test_report_errors(cli, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    code, msg = cli.error("report", CELEBA[0], "--out", f)
    with pytest.raises(mi.InputError) as e:
        mi.report([CELEBA[0]], out=f)
    assert str(e.value) == msg
    with pytest.raises(mi.ParameterError, match="--k must be at least 1"):
        mi.report([CELEBA[0]], out=tmp_path / "r", k=0)
    code, msg = cli.error("report", CELEBA[0], "--out", tmp_path / "r", "--tau", "2")
    with pytest.raises(mi.ParameterError) as e:
        mi.report([CELEBA[0]], out=tmp_path / "r", tau=2)
    assert str(e.value) == msg


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"<!-- python-example -->\s*```python\n(.*?)```", text, re.S)
    assert m, "README.md lost its python example"
    return m.group(1)


def test_readme_example_runs(tmp_path, monkeypatch):
    code = readme_example()
    assert len(code.strip().splitlines()) <= 6
    # The example's paths are relative to the repository; run it in a
    # scratch directory that sees the fixtures, so its report lands there.
    (tmp_path / "fixtures").symlink_to(ROOT / "fixtures")
    monkeypatch.chdir(tmp_path)
    env: dict = {}
    exec(compile(code, "README.md", "exec"), env)
    assert (tmp_path / "celeba-report" / "index.html").is_file()
