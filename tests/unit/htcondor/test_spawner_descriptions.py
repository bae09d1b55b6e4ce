"""Every submit description CondorSpawner can produce, read by HTCondor's own code.

Inventory variants (the example site's `htc` pool and three others: local schedd without
GPUs or images; capability-only GPUs with .sif and docker:// images; device-only GPUs) go
through sitehub.htcondor.deploy.spawner_settings into a CondorSpawner; the spawner's own
choose() and submit_description() turn each form choice into a description, which is then

* parsed by htcondor2.Submit,
* split into argv by HTCondor's argument parser (the ClassAd function argsToList), which
  must give back the wrapper's environment file name and the spawner's server command,
  JupyterHub's Spawner.args (a JSON value with spaces and quotes) included,
* made into a job ad (sitehub.htcondor.jobad) whose Requirements classad2 evaluates
  against machine ads; the outcome must equal a plain-Python statement of the choice.

Form choices crossed: every group x every GPU choice x every image x runtime {1, max} x CPUs
and memory at the values where a machine's answer changes (1, the small node's size and one
above it, the maximum); the full CPU x memory range of the example site goes through
build_submit directly in test_jobad.py.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import pwd
import time
import types
from dataclasses import dataclass, field

import pytest

pytest.importorskip("jupyterhub")
pytest.importorskip("batchspawner")

import classad2
from jupyterhub.objects import Hub, Server
from tornado import web

from sitehub.htcondor import jobad
from sitehub.htcondor.choices import NO_GPU, NO_IMAGE
from sitehub.htcondor.deploy import spawner_settings
from sitehub.hub.condor import CondorSpawner
from sitehub.inventory.model import Image

ALICE = pwd.struct_passwd(("alice", "x", 1000, 1000, "Alice", "/home/alice", "/bin/bash"))
TOKEN = "hub-token-must-not-appear"
# what roles/jupyterhub's jupyterhub_config.py sets as Spawner.args
CSP = json.dumps({"headers": {"Content-Security-Policy": "frame-ancestors 'self' https://x"}})
SERVER_ARGS = [f"--ServerApp.tornado_settings={CSP}", "--debug"]
EXTRA = {"+ProjectName": '"facility"', "request_disk": "2GB"}


@dataclass(frozen=True)
class Node:
    name: str
    cpus: int
    memory_mb: int
    gpus: tuple[tuple[float, str], ...] = ()
    container: frozenset[str] = field(default_factory=frozenset)

    def ad(self):
        return jobad.machine_ad(
            self.name,
            cpus=self.cpus,
            memory_mb=self.memory_mb,
            gpus=self.gpus,
            container=self.container,
        )


A100 = (8.0, "NVIDIA A100-SXM4-40GB")
V100 = (7.0, "Tesla V100-SXM2-32GB")
P100 = (6.0, "Tesla P100-PCIE-16GB")
APPTAINER = frozenset({"sif", "sandbox"})
NODES = [
    Node("cpu-big", 64, 256 * 1024, container=APPTAINER),
    Node("gpu-a100", 32, 256 * 1024, (A100, A100), APPTAINER),
    Node("gpu-v100", 16, 128 * 1024, (V100,), APPTAINER),
    Node("gpu-mixed", 16, 64 * 1024, (P100, V100), APPTAINER),
    Node("cpu-small", 2, 4 * 1024, container=APPTAINER),
    Node("no-containers", 64, 256 * 1024, (A100,)),
    Node("docker-a100", 32, 256 * 1024, (A100,), frozenset({"docker"})),
]


def image_kind(ref: str) -> str:
    if ref.startswith("docker://"):
        return "docker"
    return "sif" if ref.endswith(".sif") else "sandbox"


def expected(job, node: Node) -> bool:
    """What the validated choice means, without ClassAds."""
    if job.cpus > node.cpus or job.memory_mb > node.memory_mb:
        return False
    if job.gpu is not None:
        if job.gpu.kind == "any":
            ok = bool(node.gpus)
        elif job.gpu.kind == "capability":
            ok = any(cap >= float(job.gpu.value) for cap, _ in node.gpus)
        else:
            ok = any(dev == job.gpu.value for _, dev in node.gpus)
        if not ok:
            return False
    return not job.image or image_kind(job.image) in node.container


def variants(htc, image_dir):
    pool = htc.htcondor
    yield "example-htc", htc
    yield (
        "local-cpu-only",
        htc.model_copy(
            update={
                "htcondor": pool.model_copy(
                    update={
                        "schedd": None,
                        "accounting_groups": ["group_x"],
                        "gpu_capabilities": [],
                        "gpu_devices": [],
                        "max_cpus": 3,
                        "max_memory_gb": 5,
                        "max_runtime": 90,
                    }
                ),
                "images": [],
                "image_dirs": [],
                "options": htc.options.model_copy(update={"run_locally": False}),
            }
        ),
    )
    yield (
        "capabilities-sif-docker",
        htc.model_copy(
            update={
                "htcondor": pool.model_copy(
                    update={"gpu_capabilities": ["6.0", "8.0"], "gpu_devices": [], "max_cpus": 16}
                ),
                "images": [
                    Image(name="scipy", ref="docker://registry.example.org/jupyter/scipy:2024")
                ],
                "image_dirs": [str(image_dir)],
            }
        ),
    )
    yield (
        "devices-only",
        htc.model_copy(
            update={
                "htcondor": pool.model_copy(
                    update={"gpu_capabilities": [], "gpu_devices": ["Tesla V100-SXM2-32GB"]}
                ),
                "images": [],
            }
        ),
    )


def spawner_for(cluster) -> CondorSpawner:
    settings = spawner_settings(cluster) | {
        "condor_read_pool_config": False,
        "condor_job_dir": "/var/lib/sitehub/condor-jobs/{user}",
        "condor_extra_submit": EXTRA,
        "reaper_interval": 0,
        "instance": cluster.segment,
        "args": SERVER_ARGS,
    }
    hub = Hub(ip="10.0.0.1", port=8081, base_url=f"/jupyterhub/{cluster.segment}/hub/")
    user = types.SimpleNamespace(name="alice", url="/user/alice/", spawners={})
    s = CondorSpawner(user=user, hub=hub, api_token=TOKEN, **settings)
    s.orm_spawner = types.SimpleNamespace(name="", state=None, server=None, user_options=None)
    s.server = Server(base_url="/user/alice/")
    s._pw = lambda: ALICE
    return s


def boundaries(maximum: int, small: int) -> list[int]:
    return sorted({v for v in (1, small, small + 1, maximum) if 1 <= v <= maximum})


def argv_of(sub) -> list[str]:
    """The job's argv as HTCondor splits it. Submit-file quoting wraps the value in double
    quotes and doubles the ones inside (condor_submit's documented rule, applied here); the
    split itself is HTCondor's (argsToList)."""
    raw = sub["arguments"]
    assert raw.startswith('"') and raw.endswith('"')
    v2 = raw[1:-1].replace('""', '"')
    return classad2.ExprTree(f"argsToList({classad2.quote(v2)})").eval()


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    (d / "pytorch-2.3.sif").write_text("")
    return d


@pytest.fixture(scope="module")
def machines():
    return [(n, n.ad()) for n in NODES]


def test_every_description_the_spawner_can_produce(htc, image_dir, machines):
    started = time.monotonic()
    counts = {}

    async def check(name, cluster):
        s = spawner_for(cluster)
        model = await s.form_model()
        assert model.groups, name
        count = matched = 0
        for group in model.groups:
            product = itertools.product(
                boundaries(group.max_cpus, 2),
                boundaries(group.max_memory_gb, 4),
                group.gpus,
                group.images,
                sorted({1, group.max_minutes}),
            )
            for cpus, memory, gpu, image, minutes in product:
                s.user_options = {
                    "accounting_group": group.name,
                    "cpus": cpus,
                    "memory": memory,
                    "gpu": gpu,
                    "image": image,
                    "runtime": minutes,
                }
                choice = await s.choose()
                text = s.submit_description(choice.job, ALICE)
                sub = jobad.parse(text)
                assert argv_of(sub) == [s._env_name(), *s.server_argv()]
                assert s.server_argv()[-2:] == SERVER_ARGS
                assert TOKEN not in text and "environment" not in sub
                assert sub["getenv"] == "false"
                assert sub["accounting_group_user"] == "alice"
                assert sub["request_disk"] == "2GB" and sub["MY.ProjectName"] == '"facility"'
                assert (sub.get("container_image") or "") == choice.job.image
                ad = jobad.job_ad(sub)
                assert jobad.evaluate(ad, "AllowedExecuteDuration") == minutes * 60
                for node, machine in machines:
                    got = jobad.matches(ad, machine)
                    want = expected(choice.job, node)
                    assert got == want, f"{name} {s.user_options} on {node.name}\n{text}"
                    matched += got
                count += 1
        assert 0 < matched < count * len(machines)
        counts[name] = count

    async def all_variants():
        for name, cluster in variants(htc, image_dir):
            await check(name, cluster)

    asyncio.run(all_variants())
    # every variant offers what its inventory says, so the product has this size
    assert counts == {
        "example-htc": 3 * 4 * 4 * 6 * 2 * 2,
        "local-cpu-only": 1 * 3 * 3 * 1 * 1 * 2,
        "capabilities-sif-docker": 3 * 4 * 4 * 4 * 3 * 2,
        "devices-only": 3 * 4 * 4 * 3 * 1 * 2,
    }
    total = sum(counts.values())
    print(f"{total} spawner descriptions x {len(machines)} machines: {counts} "
          f"in {time.monotonic() - started:.1f}s")  # fmt: skip


def test_images_and_gpus_of_each_variant(htc, image_dir):
    offered = {}
    for name, cluster in variants(htc, image_dir):
        model = asyncio.run(spawner_for(cluster).form_model())
        group = model.groups[0]
        offered[name] = (group.gpus, group.images)
    assert offered["capabilities-sif-docker"] == (
        [NO_GPU, "any", "capability:6.0", "capability:8.0"],
        [NO_IMAGE, "scipy", "pytorch-2.3"],
    )
    assert offered["devices-only"] == ([NO_GPU, "any", "device:Tesla V100-SXM2-32GB"], [NO_IMAGE])
    assert offered["local-cpu-only"] == ([NO_GPU], [NO_IMAGE])


def test_run_locally_makes_no_description_and_is_refused_where_not_offered(htc, image_dir):
    found = dict(variants(htc, image_dir))
    s = spawner_for(found["example-htc"])
    s.user_options = {"run_local": True}
    assert asyncio.run(s.choose()).run_local
    s = spawner_for(found["local-cpu-only"])
    s.user_options = {"run_local": True}
    with pytest.raises(web.HTTPError, match="not offered here"):
        asyncio.run(s.choose())
