"""condormap up to the schedd: the submit description (parsed by htcondor2.Submit), the job
side (the runner, executed for real in a sandbox-like directory), and the collection of
results from an event log read by htcondor2.JobEventLog.

Not run here: Schedd.submit and the jobs themselves (no HTCondor daemons on this machine).
The event logs below are written in the format the schedd and shadow write; they are test
input for HTCondor's real reader, not output of a pool.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import htcondor2
import pytest

from sitehub.htcondor.mapping import (
    FUNCTION,
    RUNNER,
    JobFailed,
    MapSpec,
    RemoteError,
    collect,
    map_submit,
    prepare,
    result,
)
from sitehub.htcondor.submit import UnsafeValue


def test_description_parses_and_expands_per_input(tmp_path):
    spec = MapSpec(
        python="/opt/notebook/bin/python3",
        request_cpus=2,
        request_memory_mb=4096,
        accounting_group="group_atlas",
        accounting_group_user="alice",
        max_minutes=30,
    )
    sub = htcondor2.Submit(map_submit(str(tmp_path), spec, "condormap-square"))
    sub["index"] = "7"  # what itemdata sets for the eighth input
    assert sub.expand("transfer_input_files") == f"{RUNNER}, {FUNCTION}, in-7.pkl"
    assert sub.expand("transfer_output_files") == "out-7.pkl"
    assert sub.expand("arguments") == f'"{RUNNER} {FUNCTION} in-7.pkl out-7.pkl"'
    assert sub["executable"] == "/opt/notebook/bin/python3"
    assert sub["transfer_executable"] == "false"
    assert sub["accounting_group"] == "group_atlas"
    assert sub["allowed_execute_duration"] == "1800"
    assert sub["getenv"] == "false"
    assert sub["initialdir"] == str(tmp_path)


@pytest.mark.parametrize(
    "spec",
    [
        MapSpec(python="python3"),
        MapSpec(accounting_group="group atlas"),
        MapSpec(accounting_group="g\nqueue 9"),
        MapSpec(request_cpus=0),
        MapSpec(max_minutes=-1),
    ],
)
def test_description_refuses_unsafe_values(tmp_path, spec):
    with pytest.raises(UnsafeValue):
        map_submit(str(tmp_path), spec)


def run_job(directory: Path, index: int, tmp_path: Path) -> None:
    """What one job does: its input files in a fresh sandbox, the runner, output back."""
    sandbox = tmp_path / f"sandbox-{index}"
    sandbox.mkdir()
    for name in (RUNNER, FUNCTION, f"in-{index}.pkl"):
        shutil.copy(directory / name, sandbox / name)
    subprocess.run(
        [sys.executable, RUNNER, FUNCTION, f"in-{index}.pkl", f"out-{index}.pkl"],
        cwd=sandbox,
        check=True,
    )
    shutil.copy(sandbox / f"out-{index}.pkl", directory / f"out-{index}.pkl")


def make_square_or_fail():
    # defined in a function: cloudpickle then pickles it by value, as it does for functions
    # defined in a notebook (a test module is not importable in the job)
    def square_or_fail(x):
        if x == 3:
            raise ValueError("three is not allowed")
        return {"x": x, "square": x * x}

    return square_or_fail


def test_runner_computes_in_a_separate_process(tmp_path):
    work = tmp_path / "map"
    offset = 10  # a closure: needs cloudpickle, not plain pickle

    def shifted(x):
        return x + offset

    assert prepare(shifted, [1, 2], work) == 2
    for i in range(2):
        run_job(work, i, tmp_path)
    assert [result(work, i) for i in range(2)] == [11, 12]


def test_a_raising_function_reports_its_traceback(tmp_path):
    work = tmp_path / "map"
    prepare(make_square_or_fail(), [3], work)
    run_job(work, 0, tmp_path)
    with pytest.raises(RemoteError, match="three is not allowed"):
        result(work, 0)


SUBMIT = (
    "000 ({c:03d}.{p:03d}.000) 2026-11-25 10:00:00 Job submitted from host: <10.0.0.1:9618>\n...\n"
)
TERMINATED = (
    "005 ({c:03d}.{p:03d}.000) 2026-11-25 10:00:07 Job terminated.\n"
    "\t(1) Normal termination (return value {rv})\n"
    "\t\tUsr 0 00:00:00, Sys 0 00:00:00  -  Run Remote Usage\n"
    "\t\tUsr 0 00:00:00, Sys 0 00:00:00  -  Run Local Usage\n"
    "\t\tUsr 0 00:00:00, Sys 0 00:00:00  -  Total Remote Usage\n"
    "\t\tUsr 0 00:00:00, Sys 0 00:00:00  -  Total Local Usage\n"
    "\t0  -  Run Bytes Sent By Job\n\t0  -  Run Bytes Received By Job\n"
    "\t0  -  Total Bytes Sent By Job\n\t0  -  Total Bytes Received By Job\n...\n"
)
HELD = (
    "012 ({c:03d}.{p:03d}.000) 2026-11-25 10:00:09 Job was held.\n"
    "\tError from slot1@node: out of disk\n\tCode 12 Subcode 0\n...\n"
)


def test_results_come_in_input_order_as_the_log_reports_them(tmp_path):
    work = tmp_path / "map"
    count = prepare(make_square_or_fail(), [0, 1, 2], work)
    for i in range(count):
        run_job(work, i, tmp_path)
    log = work / "events.log"
    # proc 2 finishes first; another cluster's events in the same log are ignored
    log.write_text(
        "".join(SUBMIT.format(c=42, p=p) for p in range(3))
        + TERMINATED.format(c=42, p=2, rv=0)
        + TERMINATED.format(c=41, p=0, rv=1)
        + TERMINATED.format(c=42, p=0, rv=0)
        + TERMINATED.format(c=42, p=1, rv=0)
    )
    got = list(collect(work, 42, count, htcondor2.JobEventLog(str(log)), poll_seconds=1))
    assert got == [{"x": i, "square": i * i} for i in range(3)]


def test_a_held_job_ends_the_map_with_htcondors_reason(tmp_path):
    work = tmp_path / "map"
    prepare(make_square_or_fail(), [0, 1], work)
    run_job(work, 0, tmp_path)
    log = work / "events.log"
    log.write_text(
        SUBMIT.format(c=7, p=0)
        + SUBMIT.format(c=7, p=1)
        + TERMINATED.format(c=7, p=0, rv=0)
        + HELD.format(c=7, p=1)
    )
    results = collect(work, 7, 2, htcondor2.JobEventLog(str(log)), poll_seconds=1)
    with pytest.raises(JobFailed, match=r"job 7\.1 \(input 1\) held: Error from slot1@node: out"):
        list(results)


def test_a_job_that_died_without_output_is_reported(tmp_path):
    work = tmp_path / "map"
    prepare(make_square_or_fail(), [0], work)
    log = work / "events.log"
    log.write_text(SUBMIT.format(c=9, p=0) + TERMINATED.format(c=9, p=0, rv=1))
    with pytest.raises(JobFailed, match=r"ended \(exit code 1\) without a result"):
        list(collect(work, 9, 1, htcondor2.JobEventLog(str(log)), poll_seconds=1))


def test_waiting_stops_at_the_timeout(tmp_path):
    work = tmp_path / "map"
    prepare(make_square_or_fail(), [0], work)
    log = work / "events.log"
    log.write_text(SUBMIT.format(c=5, p=0))
    with pytest.raises(TimeoutError, match="1 job"):
        list(
            collect(work, 5, 1, htcondor2.JobEventLog(str(log)), poll_seconds=1, timeout_seconds=0)
        )
