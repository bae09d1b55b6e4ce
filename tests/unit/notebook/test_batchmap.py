"""batch_map on a real (local) dask cluster; the Slurm run is in the kernels scenario."""

import sys
import types

import pytest

distributed = pytest.importorskip("distributed")

from sitehub.notebook import batchmap  # noqa: E402
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
    rates = [2.5, 2.8, 3.2, 3.5]
    results = batch_map(logistic, rates, cluster=local_cluster, progress=False)
    assert results == [logistic(r) for r in rates]
    # below r=3 the map settles on 1 - 1/r; at 3.2 it alternates between two values
    assert results[0][-1] == pytest.approx(1 - 1 / 2.5)
    assert results[1][-1] == pytest.approx(1 - 1 / 2.8)
    r = 3.2
    root = ((r - 3) * (r + 1)) ** 0.5
    low, high = (r + 1 - root) / (2 * r), (r + 1 + root) / (2 * r)
    assert sorted(results[2][-2:]) == pytest.approx([low, high])


def test_progress_hook_sees_every_step_up_to_the_total(local_cluster):
    seen = []
    batch_map(
        lambda v: v * 2, range(7), cluster=local_cluster, progress=lambda d, t: seen.append((d, t))
    )
    assert seen == [(i, 7) for i in range(8)]


def test_default_progress_outside_a_notebook_goes_to_stderr(local_cluster, capsys):
    assert batch_map(lambda v: v + 1, range(3), cluster=local_cluster) == [1, 2, 3]
    err = capsys.readouterr().err
    assert [part for part in err.split("\r") if part] == [
        "batch_map: 0/3 done",
        "batch_map: 1/3 done",
        "batch_map: 2/3 done",
        "batch_map: 3/3 done\n",
    ]


def test_in_a_notebook_one_display_is_updated(monkeypatch):
    # IPython's display() as the kernel has it, recorded (IPython is not a dev dependency)
    fake = types.ModuleType("IPython.display")
    monkeypatch.setitem(sys.modules, "IPython", types.ModuleType("IPython"))
    monkeypatch.setitem(sys.modules, "IPython.display", fake)
    calls = []

    class Handle:
        def update(self, data, raw):
            calls.append(("update", data["text/plain"]))

    def fake_display(data, raw, display_id):
        calls.append(("display", data["text/plain"]))
        assert "<progress" in data["text/html"]
        return Handle()

    fake.display = fake_display
    monkeypatch.setattr(batchmap, "_in_kernel", lambda: True)
    report = batchmap._reporter(True)
    for done in range(3):
        report(done, 2)
    assert calls == [
        ("display", "batch_map: 0/2 done"),
        ("update", "batch_map: 1/2 done"),
        ("update", "batch_map: 2/2 done"),
    ]


def test_errors_in_fn_reach_the_caller(local_cluster):
    def boom(v):
        raise ValueError(f"bad input {v}")

    with pytest.raises(ValueError, match="bad input"):
        batch_map(boom, [1], cluster=local_cluster, progress=False)


def test_own_cluster_is_scaled_and_closed(monkeypatch):
    events = []

    class Fake(distributed.LocalCluster):
        def scale(self, n=None, jobs=0, **kw):
            events.append(("scale", jobs))
            return super().scale(jobs)

        def close(self, *a, **kw):
            events.append(("close",))
            return super().close(*a, **kw)

    monkeypatch.setattr(batchmap, "_default_cluster", lambda: Fake(n_workers=0, processes=False))
    assert batch_map(abs, [-1, -2], jobs=2, progress=False) == [1, 2]
    assert events[0] == ("scale", 2)
    assert ("close",) in events
