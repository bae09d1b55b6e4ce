"""Job and machine ClassAds for checking sitehub's submit descriptions without a pool.

`parse(text)` reads a description with HTCondor's own parser (`htcondor2.Submit`). Turning
it into a job ad is the schedd-side half of condor_submit (SubmitHash::make_job_ad), which the
25.x bindings only run while submitting to a live schedd (`Submit.jobs()` raises
NotImplementedError). So `job_ad()` builds the ad for the submit commands sitehub emits,
and completes Requirements the way condor_submit 25.x does. The clauses below were read from
the bindings' own libcondor_utils (its string table holds them, e.g.
``&& (countMatches(MY.%s,TARGET.Available%s) >= %s)``, ``TARGET.HasContainer``,
``&& TARGET.HasSandboxImage``):

    (TARGET.Arch == "X86_64") && (TARGET.OpSys == "LINUX") && (TARGET.Disk >= RequestDisk)
    && (TARGET.Memory >= RequestMemory) && (TARGET.Cpus >= RequestCpus)
    && (countMatches(MY.RequireGPUs,TARGET.AvailableGPUs) >= RequestGPUs)   [require_gpus]
    && (TARGET.GPUs >= RequestGPUs)                                         [GPUs, no require]
    && (TARGET.HasFileTransfer)
    && TARGET.HasContainer && TARGET.HasSIF | HasDockerURL | HasSandboxImage [container]

`matches(job, machine)` evaluates with classad2 in both directions; importing htcondor2
first registers HTCondor's ClassAd functions (countMatches, userMap), without which they
evaluate to error. On a real submit host `condor_submit -dry-run` prints the schedd-side ad:
a site should compare it once (see roles/htcondor_submit/README.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import classad2
import htcondor2  # importing it registers countMatches and friends with classad2

VANILLA = 5
# condor_submit's estimate for the wrapper plus the environment file, in KiB
DISK_USAGE_KB = 64


def parse(text: str) -> htcondor2.Submit:
    """HTCondor's parser; raises ValueError on text it cannot read up to `queue`."""
    return htcondor2.Submit(text)


def _expr(text: str) -> classad2.ExprTree:
    return classad2.ExprTree(text)


def container_clause(image: str) -> str:
    if image.startswith("docker://"):
        kind = "TARGET.HasDockerURL"
    elif image.endswith(".sif"):
        kind = "TARGET.HasSIF"
    else:
        kind = "TARGET.HasSandboxImage"
    return f"(TARGET.HasContainer && {kind})"


def requirements(submit: htcondor2.Submit, arch: str = "X86_64", opsys: str = "LINUX") -> str:
    clauses = []
    user = submit.get("requirements")
    if user:
        clauses.append(f"({submit.expand('requirements')})")
    clauses += [
        f'(TARGET.Arch == "{arch}")',
        f'(TARGET.OpSys == "{opsys}")',
        "(TARGET.Disk >= RequestDisk)",
        "(TARGET.Memory >= RequestMemory)",
        "(TARGET.Cpus >= RequestCpus)",
    ]
    if submit.get("request_gpus"):
        if submit.get("require_gpus"):
            clauses.append("(countMatches(MY.RequireGPUs,TARGET.AvailableGPUs) >= RequestGPUs)")
        else:
            clauses.append("(TARGET.GPUs >= RequestGPUs)")
    if (submit.get("should_transfer_files") or "").upper() == "YES":
        clauses.append("(TARGET.HasFileTransfer)")
    if (submit.get("universe") or "").lower() == "container":
        clauses.append(container_clause(submit.expand("container_image")))
    return " && ".join(clauses)


def job_ad(
    submit: htcondor2.Submit, *, cluster_id: int = 1, now: int | None = None
) -> classad2.ClassAd:
    """The job ad for sitehub's submit commands (see the module docstring)."""
    now = int(time.time()) if now is None else now
    ad = classad2.ClassAd()
    x = submit.expand
    user = x("accounting_group_user")
    ad["ClusterId"] = cluster_id
    ad["ProcId"] = 0
    ad["JobUniverse"] = VANILLA
    ad["Owner"] = user
    ad["QDate"] = now
    ad["JobStatus"] = 1
    ad["EnteredCurrentStatus"] = now
    ad["NumJobStarts"] = 0
    ad["Cmd"] = x("executable")
    ad["Arguments"] = x("arguments").strip('"')
    ad["Iwd"] = x("initialdir")
    ad["TransferInput"] = x("transfer_input_files")
    ad["ShouldTransferFiles"] = x("should_transfer_files").upper()
    ad["WhenToTransferOutput"] = x("when_to_transfer_output").upper()
    ad["JobBatchName"] = x("batch_name")
    if (submit.get("universe") or "").lower() == "container":
        ad["WantContainer"] = True
        ad["ContainerImage"] = x("container_image")
    group = x("accounting_group")
    ad["AcctGroup"] = group
    ad["AcctGroupUser"] = user
    ad["AccountingGroup"] = f"{group}.{user}"
    ad["DiskUsage"] = DISK_USAGE_KB
    ad["RequestDisk"] = _expr("DiskUsage")
    ad["RequestCpus"] = int(x("request_cpus"))
    ad["RequestMemory"] = int(x("request_memory"))
    if submit.get("request_gpus"):
        ad["RequestGPUs"] = int(x("request_gpus"))
    if submit.get("require_gpus"):
        ad["RequireGPUs"] = _expr(x("require_gpus"))
    if submit.get("allowed_execute_duration"):
        ad["AllowedExecuteDuration"] = int(x("allowed_execute_duration"))
    if submit.get("periodic_remove"):
        ad["PeriodicRemove"] = _expr(x("periodic_remove"))
    ad["Requirements"] = _expr(requirements(submit))
    return ad


def gpu_ad(ident: str, capability: float, device: str, memory_mb: int = 16384) -> str:
    return (
        f'[ Id = "{ident}"; Capability = {capability}; DeviceName = "{device}"; '
        f"GlobalMemoryMb = {memory_mb} ]"
    )


def machine_ad(
    name: str,
    *,
    cpus: int,
    memory_mb: int,
    gpus: Iterable[tuple[float, str]] = (),
    disk_kb: int = 100 * 1024 * 1024,
    container: Iterable[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> classad2.ClassAd:
    """A partitionable slot as a startd advertises it, with GPUs in HTCondor 9.8+'s layout
    (AvailableGPUs lists references to one nested ad per GPU). container: any of
    'sif', 'sandbox', 'docker' the node can run."""
    kinds = set(container)
    gpus = list(gpus)
    ids = [f"GPU_{name.replace('-', '_')}_{i}" for i, _ in enumerate(gpus)]
    text = [
        f'Name = "slot1@{name}"',
        'MyType = "Machine"',
        'Arch = "X86_64"',
        'OpSys = "LINUX"',
        f"Cpus = {cpus}",
        f"Memory = {memory_mb}",
        f"Disk = {disk_kb}",
        f"GPUs = {len(ids)}",
        "AvailableGPUs = {" + ", ".join(f"GPUs_{i}" for i in ids) + "}",
        "HasFileTransfer = true",
        f"HasContainer = {'true' if kinds else 'false'}",
        f"HasSIF = {'true' if 'sif' in kinds else 'false'}",
        f"HasSandboxImage = {'true' if 'sandbox' in kinds else 'false'}",
        f"HasDockerURL = {'true' if 'docker' in kinds else 'false'}",
        "START = true",
        "Requirements = START",
    ]
    for ident, (cap, dev) in zip(ids, gpus, strict=True):
        text.append(f"GPUs_{ident} = {gpu_ad(ident, cap, dev)}")
    ad = classad2.ClassAd("[ " + "; ".join(text) + " ]")
    for key, value in (extra or {}).items():
        ad[key] = value
    return ad


def matches(job: classad2.ClassAd, machine: classad2.ClassAd) -> bool:
    """The negotiator's test: both ads' Requirements hold against each other.

    The job side is also evaluated explicitly (MY = job, TARGET = machine) and must agree,
    so an expression that evaluates to error or undefined counts as no match, never as a
    silent pass."""
    explicit = job.lookup("Requirements").eval(job, machine)
    symmetric = job.symmetricMatch(machine)
    if (explicit is True) != symmetric:
        raise AssertionError(f"classad2 disagrees with itself: {explicit!r} vs {symmetric!r}")
    return symmetric


def evaluate(ad: classad2.ClassAd, attribute: str, target: classad2.ClassAd | None = None) -> Any:
    return ad.lookup(attribute).eval(ad, target)
