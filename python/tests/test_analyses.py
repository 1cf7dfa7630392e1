"""Every analysis from Python equals the CLI's `--format json` (less its
provenance keys), and the numbers agree with numpy/scipy where the CLI tests
check them (tests/cli.rs, tests/analysis_reference.rs)."""

import json

import numpy as np
import pytest

import mtl_inspect as mi
from conftest import CELEBA, ROOT, SHAPES_TSSBN, without_provenance

ONE = CELEBA[0]
SHAPES = "fixtures/shapes/shapes_tssbn_seed0.safetensors"
TORCH = "fixtures/torch/module_list.pth"


@pytest.mark.parametrize("path", [ONE, SHAPES, TORCH])
def test_capacity_one_run(cli, path):
    want = without_provenance(cli.json("capacity", path))
    r = mi.capacity(path)
    assert r.raw == want
    assert r.rank == want["rank"]
    assert list(r.table.columns) == ["task", "capacity", "shared", "independent"]
    assert list(r.table["task"]) == [t["task"] for t in want["tasks"]]
    # numpy: one least-squares projection per task (benches/analyses.py).
    im = mi.open(path).importance()
    for t, row in enumerate(r.table.itertuples()):
        others = np.delete(im, t, axis=0).T
        coef, *_ = np.linalg.lstsq(others, im[t], rcond=None)
        s = others @ coef
        c, n = im[t].mean(), np.linalg.norm(im[t])
        assert row.capacity == pytest.approx(c, rel=1e-12)
        assert row.shared == pytest.approx(np.linalg.norm(s) / n * c, rel=1e-9, abs=1e-12)
        assert row.independent == pytest.approx(np.linalg.norm(im[t] - s) / n * c, rel=1e-9, abs=1e-12)
        assert row.capacity**2 == pytest.approx(row.shared**2 + row.independent**2, rel=1e-12)


def test_capacity_across_the_seven_runs(cli):
    want = without_provenance(cli.json("capacity", *CELEBA))
    r = mi.capacity(CELEBA)
    assert r.raw == want
    assert len(r.table) == 7 * 40 and list(r.table.columns)[0] == "run"
    s = r.across_runs
    # scipy.stats.t.interval(0.95, n-1, mean, sem) of each task's capacity.
    from scipy import stats

    t0 = s["task"][0]
    vals = r.table[r.table["task"] == t0]["capacity"].to_numpy()
    lo, hi = stats.t.interval(0.95, len(vals) - 1, vals.mean(), stats.sem(vals))
    assert s["capacity_mean"][0] == pytest.approx(vals.mean(), rel=1e-12)
    assert s["capacity_ci_low"][0] == pytest.approx(lo, rel=1e-9)
    assert s["capacity_ci_high"][0] == pytest.approx(hi, rel=1e-9)
    assert s["capacity_sd"][0] == pytest.approx(vals.std(ddof=1), rel=1e-9)


def test_capacity_and_similarity_per_layer(cli):
    want = without_provenance(cli.json("capacity", ONE, "--per-layer"))
    r = mi.capacity(ONE, per_layer=True)
    assert r.raw == want
    assert len(r.layers) == len(want["layers"])
    want = without_provenance(cli.json("similarity", ONE, "--per-layer"))
    r = mi.similarity(ONE, per_layer=True)
    assert r.raw == want
    assert list(r.matrices) == [l["layer"] for l in want["layers"]]
    with pytest.raises(mi.ParameterError, match="takes one checkpoint"):
        mi.capacity(CELEBA[:2], per_layer=True)


@pytest.mark.parametrize("path", [ONE, SHAPES, TORCH])
def test_similarity(cli, path):
    want = without_provenance(cli.json("similarity", path))
    r = mi.similarity(path)
    assert r.raw == want
    assert isinstance(r.matrix, np.ndarray) and isinstance(r.matrix, mi.TaskMatrix)
    assert r.matrix.labels == want["tasks"]
    im = mi.open(path).importance()
    n = im / np.linalg.norm(im, axis=1, keepdims=True)
    np.testing.assert_allclose(r.matrix, n @ n.T, rtol=0, atol=1e-12)
    assert list(r.matrix.to_pandas().index) == want["tasks"]


@pytest.mark.parametrize("tau", [0.5, 0.2, 0.9])
def test_specialization(cli, tau):
    want = without_provenance(cli.json("specialization", ONE, "--tau", str(tau)))
    r = mi.specialization(ONE, tau=tau)
    assert r.raw == want and r.tau == tau
    # numpy: a filter is specialized for t when I[t,i] / sum_t I[t,i] > tau.
    ck = mi.open(ONE)
    share = ck.importance() / ck.importance().sum(axis=0, keepdims=True)
    total = r.table.iloc[-1]
    assert total["layer"] == "total"
    assert total["specialized"] == int((share > tau).any(axis=0).sum())
    for t, name in enumerate(ck.tasks):
        assert total[name] == int((share[t] > tau).sum())


def test_stability(cli):
    args = ["--permutations", "99", "--bootstrap", "20", "--seed", "3"]
    want = without_provenance(cli.json("stability", *CELEBA[:4], *args))
    r = mi.stability(CELEBA[:4], permutations=99, bootstrap=20, seed=3)
    assert r.raw == want
    assert r.matrix.labels == CELEBA[:4]
    # scipy: Spearman of the similarity matrices' upper triangles.
    from scipy.stats import spearmanr

    sims = [mi.similarity(p).matrix for p in CELEBA[:2]]
    iu = np.triu_indices(40, 1)
    rho = spearmanr(sims[0][iu], sims[1][iu])[0]
    assert r.pairs["spearman"][0] == pytest.approx(rho, abs=1e-12)
    assert r.mean == pytest.approx(np.nanmean(r.pairs["spearman"]), rel=1e-12)


def test_stability_needs_two_runs(cli):
    # The CLI refuses one run at the flag parser (exit code 2); the library
    # says why.
    assert cli.error("stability", ONE)[0] == 2
    with pytest.raises(mi.ParameterError, match="at least 2"):
        mi.stability([ONE])


@pytest.mark.parametrize("linkage", ["average", "complete", "single", "ward", "weighted"])
def test_cluster_seven_runs(cli, linkage):
    want = without_provenance(cli.json("cluster", *CELEBA, "--k", "10", "--linkage", linkage))
    r = mi.cluster(CELEBA, k=10, linkage=linkage)
    assert r.raw == want
    assert r.clusters == want["clusters"]
    assert list(r.runs["run"]) == CELEBA
    assert r.cooccurrence.shape == (40, 40)


def test_cluster_recovers_the_planted_groups():
    groups = json.loads((ROOT / "fixtures/celeba40/groups.json").read_text())
    got = mi.cluster(CELEBA, k=10).clusters
    assert sorted(map(sorted, got)) == sorted(map(sorted, groups))


def test_cluster_one_run_is_scipys():
    # scipy.cluster.hierarchy.linkage(squareform(1 - S), "average"), cut
    # into k with fcluster(maxclust): the same partition.
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    s = np.asarray(mi.similarity(SHAPES).matrix)
    d = np.clip(1 - s, 0, None)
    np.fill_diagonal(d, 0)
    lab = fcluster(linkage(squareform(d, checks=False), "average"), 2, "maxclust")
    r = mi.cluster(SHAPES, k=2)
    ours = r.labels[SHAPES]
    assert len(set(zip(lab, ours))) == len(set(lab)) == len(set(ours))


def test_cluster_shapes_seeds(cli):
    want = without_provenance(cli.json("cluster", *SHAPES_TSSBN, "--k", "2"))
    assert mi.cluster(SHAPES_TSSBN, k=2).raw == want


@pytest.mark.parametrize("path,k", [(ONE, 8), (SHAPES, 4)])
def test_filter_groups(cli, path, k):
    want = without_provenance(cli.json("filter-groups", path, "--k", str(k), "--seed", "1"))
    r = mi.filter_groups(path, k=k, seed=1)
    assert r.raw == want
    assert r.groups["size"].sum() + r.dead == mi.open(path).importance().shape[1]
    assert (r.assignments >= 0).sum() == r.groups["size"].sum()
    np.testing.assert_allclose(r.centroids.sum(axis=1), 1.0, atol=1e-9)


@pytest.mark.parametrize("path", [ONE, TORCH])
def test_gate_stats(cli, path):
    want = without_provenance(cli.json("gates", path, "--bins", "10"))
    r = mi.gate_stats(path, bins=10)
    assert r.raw == want
    # numpy: quantiles with linear interpolation, population std, histogram.
    im = mi.open(path).importance()
    allv = r.table.iloc[-1]
    assert allv["label"] == "all"
    for q, col in [(0.05, "q05"), (0.25, "q25"), (0.5, "median"), (0.75, "q75"), (0.95, "q95")]:
        assert allv[col] == pytest.approx(np.quantile(im, q), rel=1e-12)
    assert allv["std"] == pytest.approx(im.std(), rel=1e-9)
    assert allv["below_0_1"] == pytest.approx((im < 0.1).mean())
    counts, _ = np.histogram(im, bins=r.edges)
    np.testing.assert_array_equal(r.counts[-1], counts)


def test_diff(cli):
    want = without_provenance(cli.json("diff", CELEBA[0], CELEBA[1], "--tau", "0.4", "--top", "5"))
    r = mi.diff(CELEBA[0], CELEBA[1], tau=0.4, top=5)
    assert r.raw == want
    assert len(r.moved_pairs) == 5


def test_checkpoint_objects_and_paths_give_the_same_results():
    # Paths alone are read one at a time (streamed, as the CLI does);
    # opened checkpoints, or a mix, are used as given. All three agree.
    ck = mi.open(ONE)
    assert mi.capacity(ck).raw == mi.capacity(ONE).raw
    assert mi.capacity(ck, per_layer=True).raw == mi.capacity(ONE, per_layer=True).raw
    cks = [mi.open(p) for p in CELEBA[:3]]
    mixed = [cks[0], *CELEBA[1:3]]
    for f in (lambda r: mi.cluster(r, k=5), lambda r: mi.capacity(r),
              lambda r: mi.stability(r, permutations=19, bootstrap=10, seed=2)):
        want = f(cks).raw
        assert f(CELEBA[:3]).raw == want
        assert f(mixed).raw == want


def test_streamed_paths_are_read_with_the_reading_options(cli):
    # The reading keywords reach paths read one at a time: a layer subset
    # changes the result exactly as the CLI's --layers does.
    args = [*CELEBA[:3], "--layers", "backbone\\.[0-3]\\."]
    want = without_provenance(cli.json("capacity", *args))
    got = mi.capacity(CELEBA[:3], layers="backbone\\.[0-3]\\.").raw
    assert got == want
    assert got != mi.capacity(CELEBA[:3]).raw
    # A malformed option is a parameter error before any file is read, and
    # a run of another architecture among streamed paths an input error
    # naming both files, with the CLI's words.
    code, msg = cli.error("stability", *CELEBA[:2], "--layers", "(")
    assert code == 2
    with pytest.raises(mi.ParameterError) as e:
        mi.stability(CELEBA[:2], layers="(")
    assert str(e.value) == msg
    code, msg = cli.error("stability", CELEBA[0], SHAPES, "--permutations", "0")
    assert code == 1
    with pytest.raises(mi.InputError) as e:
        mi.stability([CELEBA[0], SHAPES], permutations=0)
    assert str(e.value) == msg


def test_frames():
    import pandas as pd

    assert isinstance(mi.capacity(ONE).table, pd.DataFrame)
    d = mi.capacity(ONE, frame="numpy").table
    assert isinstance(d, dict) and d["capacity"].dtype == np.float64 and len(d["task"]) == 40
    # Jupyter shows a result's main table (a matrix through pandas).
    assert "<table" in mi.capacity(ONE)._repr_html_()
    assert "Smiling" in mi.similarity(ONE)._repr_html_()
    with pytest.raises(mi.ParameterError, match="frame"):
        mi.capacity(ONE, frame="excel")
    try:
        import polars as pl
    except ImportError:
        pytest.skip("polars not installed")
    t = mi.capacity(ONE, frame="polars").table
    assert isinstance(t, pl.DataFrame) and t.columns == ["task", "capacity", "shared", "independent"]
    assert t["capacity"].to_list() == list(mi.capacity(ONE).table["capacity"])


@pytest.mark.parametrize(
    "call,args",
    [
        (lambda: mi.specialization(ONE, tau=1.5), ["specialization", ONE, "--tau", "1.5"]),
        (lambda: mi.specialization(ONE, tau=0), ["specialization", ONE, "--tau", "0"]),
        (lambda: mi.cluster(ONE, k=41), ["cluster", ONE, "--k", "41"]),
        (lambda: mi.cluster(ONE, k=0), ["cluster", ONE, "--k", "0"]),
        (lambda: mi.gate_stats(ONE, bins=0), ["gates", ONE, "--bins", "0"]),
        (lambda: mi.filter_groups(ONE, k=0), ["filter-groups", ONE, "--k", "0"]),
    ],
)
def test_parameter_errors_have_the_cli_message(cli, call, args):
    code, msg = cli.error(*args)
    assert code == 2
    with pytest.raises(mi.ParameterError) as e:
        call()
    assert str(e.value) == msg


def test_runs_of_different_architectures_are_input_errors(cli):
    args = [ONE, SHAPES]
    code, msg = cli.error("cluster", *args, "--k", "2")
    assert code == 1
    with pytest.raises(mi.InputError) as e:
        mi.cluster(args, k=2)
    assert str(e.value) == msg


def test_help_and_docstrings():
    for f in (mi.open, mi.capacity, mi.similarity, mi.specialization, mi.stability,
              mi.cluster, mi.filter_groups, mi.gate_stats, mi.report, mi.diff):
        assert f.__doc__ and len(f.__doc__) > 80, f.__name__
    assert "capacity" in (mi.__doc__ or "")
    stub = (ROOT / "python/mtl_inspect/_native.pyi").read_text()
    for name in ("capacity_json", "cluster_json", "report", "class Checkpoint"):
        assert name in stub
    import importlib.resources as res

    assert (res.files("mtl_inspect") / "py.typed").is_file()


def test_a_panic_is_an_exception_not_an_abort():
    from mtl_inspect import _native

    with pytest.raises(mi.MtlInspectError, match="internal error.*deliberate panic"):
        _native._panic_for_tests()
