"""`condormap(fn, inputs)`: map() where each call is one HTCondor job (kernel-side helper).

Why not htmap: htmap 0.6.1 (the last release, 2020) imports HTCondor's version-1 bindings
(`import htcondor`, `Schedd.transaction()`, `Submit.queue_with_itemdata()`); the 25.x wheels
ship only `htcondor2`/`classad2`, so `import htmap` fails there with ModuleNotFoundError.
It still imports with htcondor 24.x, but pinning notebooks to bindings older than the pool's
LTS line to keep an unmaintained package alive is not a basis for a site service. See
roles/htcondor_submit/README.md for the commands and output.

How it works: `fn` and every input are pickled with cloudpickle into a directory; one job per
input runs `runner.py` (this package's `_runner`) with the notebook environment's Python on
an execute node, which unpickles, calls and pickles the result (or the exception with its
traceback) back; HTCondor's file transfer moves the files, so no shared file system is needed
for the data. Results are yielded in input order as they arrive, read from the jobs' event
log. The interpreter (`python`, by default this kernel's) and cloudpickle must exist on the
execute nodes: the notebook environment of notebook_env lives in one path every node sees.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .submit import GROUP_NAME, SAFE_PATH, UnsafeValue, _checked, _count

RUNNER = "runner.py"
FUNCTION = "function.pkl"
BATCH_NAME = re.compile(r"[^A-Za-z0-9_.-]")


class RemoteError(RuntimeError):
    """The function raised in the job; the message holds the remote traceback."""


class JobFailed(RuntimeError):
    """HTCondor held, removed or failed the job before it produced a result."""


@dataclass(frozen=True)
class MapSpec:
    """Resources each job of a map asks for."""

    python: str = sys.executable
    request_cpus: int = 1
    request_memory_mb: int = 2048
    request_disk_kb: int = 1024 * 1024
    accounting_group: str = ""
    accounting_group_user: str = ""
    max_minutes: int = 0  # 0: no limit of sitehub's own


def map_submit(directory: str, spec: MapSpec, batch_name: str = "condormap") -> str:
    """The submit description of a map; one proc per item of `index` (itemdata)."""
    directory = _checked(directory, SAFE_PATH, "map directory")
    python = _checked(spec.python, SAFE_PATH, "Python interpreter")
    batch = BATCH_NAME.sub("_", batch_name)[:64] or "condormap"
    lines = [
        "universe = vanilla",
        f"executable = {python}",
        "transfer_executable = false",
        f'arguments = "{RUNNER} {FUNCTION} in-$(index).pkl out-$(index).pkl"',
        f"initialdir = {directory}",
        "should_transfer_files = YES",
        "when_to_transfer_output = ON_EXIT",
        f"transfer_input_files = {RUNNER}, {FUNCTION}, in-$(index).pkl",
        "transfer_output_files = out-$(index).pkl",
        "output = logs/$(index).out",
        "error = logs/$(index).err",
        "log = events.log",
        f"batch_name = {batch}",
        f"request_cpus = {_count(spec.request_cpus, 'CPUs', 1, 4096)}",
        f"request_memory = {_count(spec.request_memory_mb, 'memory (MB)', 1, 64 * 1024**2)}",
        f"request_disk = {_count(spec.request_disk_kb, 'disk (KB)', 1, 2**40)}",
        "getenv = false",
    ]
    if spec.accounting_group:
        lines.append(f"accounting_group = {_checked(spec.accounting_group, GROUP_NAME, 'group')}")
        if spec.accounting_group_user:
            user = _checked(spec.accounting_group_user, GROUP_NAME, "user")
            lines.append(f"accounting_group_user = {user}")
    if spec.max_minutes:
        seconds = _count(spec.max_minutes, "runtime (minutes)", 1, 366 * 1440) * 60
        lines.append(f"allowed_execute_duration = {seconds}")
    return "\n".join(lines) + "\n"


def prepare(fn: Callable[[Any], Any], inputs: Iterable[Any], directory: Path) -> int:
    """Pickle fn and each input into directory (plus the runner); return the count."""
    import cloudpickle

    (directory / "logs").mkdir(parents=True, exist_ok=True)
    runner = resources.files("sitehub.htcondor").joinpath("_runner.py").read_text()
    (directory / RUNNER).write_text(runner)
    (directory / FUNCTION).write_bytes(cloudpickle.dumps(fn))
    count = 0
    for i, item in enumerate(inputs):
        (directory / f"in-{i}.pkl").write_bytes(cloudpickle.dumps(item))
        count += 1
    return count


def result(directory: Path, index: int, exit_code: int | None = None) -> Any:
    """The value the job for input `index` returned; RemoteError if it raised."""
    import pickle

    path = directory / f"out-{index}.pkl"
    if not path.exists():
        raise JobFailed(
            f"job for input {index} ended (exit code {exit_code}) without a result; "
            f"see {directory / 'logs' / f'{index}.err'}"
        )
    ok, value = pickle.loads(path.read_bytes())  # noqa: S301 (our own job wrote it)
    if not ok:
        raise RemoteError(f"input {index} raised in its job:\n{value}")
    return value


def collect(
    directory: Path,
    cluster_id: int,
    count: int,
    events: Any,
    *,
    poll_seconds: float = 2.0,
    timeout_seconds: float | None = None,
) -> Iterator[Any]:
    """Yield the results of procs 0..count-1 in order, as the event log reports them done.

    events: an htcondor2.JobEventLog of the map's log file (followed, not re-read)."""
    import htcondor2

    finished: dict[int, int | None] = {}
    next_index = 0
    started = time.monotonic()
    while next_index < count:
        for event in events.events(stop_after=max(1, int(poll_seconds))):
            if event.cluster != cluster_id:
                continue
            kind = event.type
            if kind == htcondor2.JobEventType.JOB_TERMINATED:
                finished[event.proc] = event.get("ReturnValue")
            elif kind in (htcondor2.JobEventType.JOB_HELD, htcondor2.JobEventType.JOB_ABORTED):
                reason = event.get("HoldReason") or event.get("Reason") or kind.name
                raise JobFailed(
                    f"job {cluster_id}.{event.proc} (input {event.proc}) "
                    f"{'held' if kind == htcondor2.JobEventType.JOB_HELD else 'removed'}: "
                    f"{reason}"
                )
        while next_index < count and next_index in finished:
            yield result(directory, next_index, finished[next_index])
            next_index += 1
        if timeout_seconds is not None and time.monotonic() - started > timeout_seconds:
            raise TimeoutError(f"condormap: {count - next_index} job(s) not finished in time")


def _default_spec(spec: MapSpec | None) -> MapSpec:
    if spec is not None:
        return spec
    # the group chosen in the spawn form, passed to the server by the spawner
    group = os.environ.get("SITEHUB_ACCOUNTING_GROUP", "")
    return MapSpec(accounting_group=group)


def condormap(
    fn: Callable[[Any], Any],
    inputs: Iterable[Any],
    *,
    spec: MapSpec | None = None,
    directory: str | None = None,
    schedd: Any = None,
    poll_seconds: float = 2.0,
    timeout_seconds: float | None = None,
    keep: bool = False,
) -> Iterator[Any]:
    """Yield fn(x) for each x of inputs, in order, each computed in its own HTCondor job.

    spec: resources per job (default: 1 CPU, 2 GB, the spawn form's accounting group).
    directory: where pickles and logs go (default: a new one under ~/.condormap); removed
    afterwards unless keep. schedd: an htcondor2.Schedd (default: this host's). A job that is
    held or removed ends the map with JobFailed; leaving the loop early removes the rest.
    """
    import htcondor2

    spec = _default_spec(spec)
    if directory is None:
        base = Path.home() / ".condormap"
        base.mkdir(mode=0o700, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="map-", dir=base))
    else:
        work = Path(directory)
        work.mkdir(parents=True, exist_ok=True)
    count = prepare(fn, inputs, work)
    if count == 0:
        return
    name = getattr(fn, "__name__", "fn")
    submit = htcondor2.Submit(map_submit(str(work), spec, f"condormap-{name}"))
    schedd = schedd or htcondor2.Schedd()
    submitted = schedd.submit(submit, itemdata=iter([{"index": str(i)} for i in range(count)]))
    cluster_id = submitted.cluster()
    complete = False
    try:
        log = work / "events.log"
        while not log.exists():  # written by the schedd once it has the jobs
            time.sleep(poll_seconds)
        events = htcondor2.JobEventLog(str(log))
        yield from collect(
            work,
            cluster_id,
            count,
            events,
            poll_seconds=poll_seconds,
            timeout_seconds=timeout_seconds,
        )
        complete = True
    finally:
        if not complete:
            schedd.act(htcondor2.JobAction.Remove, f"ClusterId == {cluster_id}")
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


__all__ = ["JobFailed", "MapSpec", "RemoteError", "UnsafeValue", "condormap", "map_submit"]
