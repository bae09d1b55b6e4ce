"""batch_map on a real (local) dask cluster; the Slurm run is in the hubs scenario."""

import io

import pytest

distributed = pytest.importorskip("distributed")

from sitehub.notebook.batchmap import batch_map  # noqa: E402


def logistic(r, length=10):
    # the slides' example, smaller
    x = 0.4
    values = []
    for _ in range(2000):
        x = x * r * (1.0 - x)
        values.append(x)
    return values[-length:]


@pytest.fixture(scope="module")
def local_cluster():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False)
    yield cluster
    cluster.close()


def test_results_come_back_in_input_order(local_cluster):
    rates = [3.5 + i * 0.01 for i in range(10)]
    results = batch_map(logistic, rates, cluster=local_cluster, progress=False)
    assert results == [logistic(r) for r in rates]


def test_progress_bar_advances_to_the_total(local_cluster, monkeypatch):
    import tqdm.auto

    stream = io.StringIO()
    original = tqdm.auto.tqdm
    monkeypatch.setattr(tqdm.auto, "tqdm", lambda **kw: original(file=stream, **kw))
    batch_map(lambda v: v * 2, range(7), cluster=local_cluster)
    assert "7/7" in stream.getvalue()


def test_errors_in_fn_reach_the_caller(local_cluster):
    def boom(v):
        raise ValueError(f"bad input {v}")

    with pytest.raises(ValueError, match="bad input"):
        batch_map(boom, [1], cluster=local_cluster, progress=False)
