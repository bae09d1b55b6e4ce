"""Every description the form can lead to, for the example site's `htc` pool, is parsed by
htcondor2.Submit and its Requirements are evaluated by classad2 against machine ads.

The expected outcome comes from a plain-Python statement of what each choice means (enough
CPUs, memory, a GPU of that capability or model, a node that runs that kind of image), so
a wrong expression shows up as a disagreement, not as an echo of itself.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import pytest

from sitehub.htcondor import jobad
from sitehub.htcondor.choices import NO_GPU, NO_IMAGE, model_for_cluster, validate
from sitehub.htcondor.submit import SubmitContext, build_submit

CTX = SubmitContext(
    user="alice",
    job_dir="/home/alice/.sitehub/condor",
    command=["batchspawner-singleuser", "jupyterhub-singleuser"],
)


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


RUNS_IMAGES = frozenset({"sif", "sandbox"})
A100 = (8.0, "NVIDIA A100-SXM4-40GB")
V100 = (7.0, "Tesla V100-SXM2-32GB")
P100 = (6.0, "Tesla P100-PCIE-16GB")
NODES = [
    Node("cpu-big", 64, 256 * 1024, container=RUNS_IMAGES),
    Node("gpu-a100", 32, 256 * 1024, (A100, A100), RUNS_IMAGES),
    Node("gpu-v100", 16, 128 * 1024, (V100,), RUNS_IMAGES),
    Node("gpu-mixed", 16, 64 * 1024, (P100, V100), RUNS_IMAGES),
    Node("gpu-p100", 16, 64 * 1024, (P100,), RUNS_IMAGES),
    Node("cpu-small", 2, 4 * 1024, container=RUNS_IMAGES),
    Node("no-containers", 64, 256 * 1024, (A100,)),
]


def expected(options: dict, node: Node) -> bool:
    """What the choice means, independently of ClassAds."""
    if options["cpus"] > node.cpus or options["memory"] * 1024 > node.memory_mb:
        return False
    gpu = options["gpu"]
    if gpu != NO_GPU:
        if gpu == "any":
            ok = bool(node.gpus)
        elif gpu.startswith("capability:"):
            want = float(gpu.split(":", 1)[1])
            ok = any(cap >= want for cap, _ in node.gpus)
        else:
            ok = any(dev.lower() == gpu.split(":", 1)[1].lower() for _, dev in node.gpus)
        if not ok:
            return False
    # the example's image is an unpacked directory: a sandbox image
    return not (options["image"] != NO_IMAGE and "sandbox" not in node.container)


@pytest.fixture(scope="module")
def model(htc):
    return model_for_cluster(htc)


@pytest.fixture(scope="module")
def node_ads():
    return [(n, n.ad()) for n in NODES]


def all_choices(model):
    """Every value the form offers in every field (runtime checked separately below)."""
    for group in model.groups:
        for cpus, memory, gpu, image in itertools.product(
            range(1, group.max_cpus + 1),
            range(1, group.max_memory_gb + 1),
            group.gpus,
            group.images,
        ):
            yield {
                "accounting_group": group.name,
                "cpus": cpus,
                "memory": memory,
                "gpu": gpu,
                "image": image,
            }


def test_example_site_offers_what_its_inventory_says(model):
    assert [g.name for g in model.groups] == ["group_atlas", "group_belle2", "group_sphenix"]
    g = model.groups[0]
    assert (g.max_cpus, g.max_memory_gb, g.max_minutes) == (8, 32, 1440)
    assert g.gpus == [
        "none",
        "any",
        "capability:7.0",
        "capability:8.0",
        "device:Tesla V100-SXM2-32GB",
        "device:NVIDIA A100-SXM4-40GB",
    ]
    assert g.images == ["none", "sl7-atlas"]


def test_every_description_parses_and_matches_as_intended(model, node_ads):
    started = time.monotonic()
    count = matched = 0
    for options in all_choices(model):
        choice = validate(model, options)
        text = build_submit(choice.job, CTX)
        ad = jobad.job_ad(jobad.parse(text))
        for node, machine in node_ads:
            got = jobad.matches(ad, machine)
            want = expected(options, node)
            assert got == want, f"{options} on {node.name}: classad {got}, meant {want}\n{text}"
            matched += got
        count += 1
    # 3 groups x 8 CPUs x 32 GB x 6 GPU choices x 2 images
    assert count == 3 * 8 * 32 * 6 * 2
    assert 0 < matched < count * len(node_ads)
    print(f"{count} descriptions x {len(node_ads)} machines in {time.monotonic() - started:.1f}s")


@pytest.mark.parametrize("minutes", [1, 60, 1440])
@pytest.mark.parametrize("gpu", ["none", "capability:8.0", "device:Tesla V100-SXM2-32GB"])
@pytest.mark.parametrize("image", ["none", "sl7-atlas"])
def test_runtime_bounds_reach_the_description(model, minutes, gpu, image):
    opts = {"accounting_group": "group_belle2", "runtime": minutes, "gpu": gpu, "image": image}
    sub = jobad.parse(build_submit(validate(model, opts).job, CTX))
    ad = jobad.job_ad(sub)
    assert jobad.evaluate(ad, "AllowedExecuteDuration") == minutes * 60


def _by_name(node_ads, name):
    return next(ad for node, ad in node_ads if node.name == name)


@pytest.mark.parametrize(
    ("gpu", "matching"),
    [
        ("capability:8.0", {"gpu-a100", "no-containers"}),
        ("capability:7.0", {"gpu-a100", "gpu-v100", "gpu-mixed", "no-containers"}),
        ("device:Tesla V100-SXM2-32GB", {"gpu-v100", "gpu-mixed"}),
        ("device:NVIDIA A100-SXM4-40GB", {"gpu-a100", "no-containers"}),
        ("any", {"gpu-a100", "gpu-v100", "gpu-mixed", "gpu-p100", "no-containers"}),
        ("none", {n.name for n in NODES} - {"cpu-small"}),
    ],
)
def test_gpu_requests_land_on_the_right_nodes(model, node_ads, gpu, matching):
    opts = {"accounting_group": "group_atlas", "cpus": 4, "memory": 8, "gpu": gpu}
    ad = jobad.job_ad(jobad.parse(build_submit(validate(model, opts).job, CTX)))
    assert {n.name for n, m in node_ads if jobad.matches(ad, m)} == matching


def test_a_small_node_takes_a_small_job_only(model, node_ads):
    small = _by_name(node_ads, "cpu-small")
    fits = {"accounting_group": "group_atlas", "cpus": 2, "memory": 4}
    too_many_cpus = fits | {"cpus": 3}
    too_much_memory = fits | {"memory": 5}
    results = [
        jobad.matches(jobad.job_ad(jobad.parse(build_submit(validate(model, o).job, CTX))), small)
        for o in (fits, too_many_cpus, too_much_memory)
    ]
    assert results == [True, False, False]


def test_several_gpus_on_one_node_count_separately(model, node_ads):
    # one P100 and one V100: capability 7 matches only the V100, so asking for two fails
    opts = {"accounting_group": "group_atlas", "gpu": "capability:7.0"}
    text = build_submit(validate(model, opts).job, CTX)
    text = text.replace("request_gpus = 1", "request_gpus = 2")
    ad = jobad.job_ad(jobad.parse(text))
    assert not jobad.matches(ad, _by_name(node_ads, "gpu-mixed"))
    assert jobad.matches(ad, _by_name(node_ads, "gpu-a100"))


class TestPeriodicRemove:
    """The runtime fallback, evaluated by classad2 on job ads in each state."""

    @pytest.fixture
    def ad(self, model):
        opts = {"accounting_group": "group_atlas", "runtime": 60}
        return jobad.job_ad(jobad.parse(build_submit(validate(model, opts).job, CTX)))

    def removed(self, ad, **attrs) -> bool:
        for key, value in attrs.items():
            ad[key] = value
        return jobad.evaluate(ad, "PeriodicRemove") is True

    def test_running_within_runtime_and_grace_stays(self, ad):
        now = int(time.time())
        assert not self.removed(ad, JobStatus=2, JobCurrentStartExecutingDate=now - 3600 - 200)

    def test_running_past_runtime_and_grace_is_removed(self, ad):
        now = int(time.time())
        assert self.removed(ad, JobStatus=2, JobCurrentStartExecutingDate=now - 3600 - 400)

    def test_running_without_a_start_date_is_not_removed(self, ad):
        assert not self.removed(ad, JobStatus=2)

    def test_idle_before_first_start_stays(self, ad):
        assert not self.removed(ad, JobStatus=1, NumJobStarts=0)

    def test_idle_again_after_eviction_is_removed(self, ad):
        assert self.removed(ad, JobStatus=1, NumJobStarts=1)

    def test_held_is_removed_after_the_grace(self, ad):
        now = int(time.time())
        assert not self.removed(ad, JobStatus=5, EnteredCurrentStatus=now - 60)
        assert self.removed(ad, JobStatus=5, EnteredCurrentStatus=now - 400)


def test_countmatches_is_htcondors_not_an_error():
    # classad2 alone evaluates countMatches to an error value; importing htcondor2 (jobad
    # does) registers HTCondor's implementation. Guard against a silent regression.
    import classad2

    machine = NODES[1].ad()
    job = classad2.ClassAd("[ RequireGPUs = Capability >= 8.0 ]")
    value = classad2.ExprTree("countMatches(MY.RequireGPUs, TARGET.AvailableGPUs)").eval(
        job, machine
    )
    assert value == 2
