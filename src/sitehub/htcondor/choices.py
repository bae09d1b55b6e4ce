"""The spawn options form of an HTCondor cluster: what a user may choose, how the choices
narrow, and the server-side re-check of whatever comes back (pure; callers pass the pool's
configuration in).

Same shape as the Slurm form (sitehub.hub.options): one top-level choice narrows the others
in the browser. For Slurm it is the partition; here it is the accounting group, since that is
what the pool's group quotas and the site's user map attach limits to. `FormModel.to_json()`:

    {"default_group": "group_atlas",
     "allow_local": true,
     "groups": {"group_atlas": {"max_cpus": 8, "max_memory_gb": 32, "max_minutes": 1440,
                                "default_minutes": 60, "gpus": ["none", "any", ...],
                                "images": ["none", "sl7-atlas"]}},
     "labels": {"gpus": {"capability:8.0": "compute capability 8.0 or newer", ...},
                "images": {"sl7-atlas": "ATLAS AnalysisBase (SL7)", ...}}}

Form keys (`OPTION_KEYS`): accounting_group, cpus, memory (GB), gpu ("none", "any",
"capability:<X.Y>" or "device:<model>"), runtime (minutes), image ("none" or an image
name), run_local. Which groups a user may use: the inventory's `accounting_groups`, less
those the pool's negotiator does not know (``GROUP_NAMES``) or gives no room
(``GROUP_QUOTA_<g>`` with surplus off also caps the CPUs), less those the site's user map
(``CLASSAD_USER_MAPFILE_<name>``, HTCondor's own map-file format, read with the bindings)
does not list for the user, when the pool configures one.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sitehub.hub import form
from sitehub.hub import images as images_mod

# the shared form's, also reachable from here
from sitehub.hub.form import Choice as Choice
from sitehub.hub.form import OptionsError
from sitehub.hub.form import script_json as script_json
from sitehub.hub.images import NO_IMAGE, ImageChoice

from .submit import CAPABILITY, DEVICE_NAME, GROUP_NAME, IMAGE_REF, GpuRequest, JobRequest

TEXT_KEYS = ("accounting_group", "gpu", "image")
NUMBER_KEYS = ("cpus", "memory", "runtime")
OPTION_KEYS = frozenset({*TEXT_KEYS, *NUMBER_KEYS, "run_local"})  # FORM.option_keys
NOTHING_OFFERED = "No accounting group of this pool is open to you."
TEMPLATE = "htcondor_form.html.j2"  # in sitehub/hub/templates, on the shared options_form.html.j2
NO_GPU = "none"
ANY_GPU = "any"
DEFAULT_MEMORY_GB = 2
USERMAP_NAME = "Groups"


@dataclass(frozen=True)
class GpuChoice:
    value: str  # form value: "any", "capability:8.0", "device:<model>"
    label: str
    request: GpuRequest


@dataclass
class GroupChoice:
    name: str
    max_cpus: int
    max_memory_gb: int
    max_minutes: int
    default_minutes: int
    gpus: list[str]  # GpuChoice values, NO_GPU first
    images: list[str]  # ImageChoice names, NO_IMAGE first


@dataclass
class FormModel(form.Offer):
    groups: list[GroupChoice]
    gpus: dict[str, GpuChoice] = field(default_factory=dict)
    images: dict[str, ImageChoice] = field(default_factory=dict)
    default_group: str = ""
    allow_local: bool = False
    notice: str = ""  # shown above the form (e.g. "no accounting group is open to you")

    top: ClassVar[form.Top] = form.Top("groups", "default_group", "Accounting group")

    def group(self, name: str) -> GroupChoice | None:
        return self.named(name)

    def choice_json(self, g: GroupChoice) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(g).items() if k != "name"}

    def extra_json(self) -> dict[str, Any]:
        gpus = {NO_GPU: "no GPU", **{v: c.label for v, c in self.gpus.items()}}
        return {"labels": {"gpus": gpus, "images": form.image_labels(self.images)}}


# ---------------------------------------------------------------------------------------
# the offer


def gpu_choices(capabilities: Iterable[str], devices: Iterable[str]) -> dict[str, GpuChoice]:
    """GPU form values from the inventory; unsafe inventory values are a site error."""
    caps, devs = list(capabilities), list(devices)
    out: dict[str, GpuChoice] = {}
    if not caps and not devs:
        return out
    out[ANY_GPU] = GpuChoice(ANY_GPU, "any GPU", GpuRequest("any"))
    for cap in sorted(caps, key=lambda c: tuple(int(p) for p in _site(c, CAPABILITY).split("."))):
        out[f"capability:{cap}"] = GpuChoice(
            f"capability:{cap}",
            f"compute capability {cap} or newer",
            GpuRequest("capability", cap),
        )
    for dev in devs:
        out[f"device:{dev}"] = GpuChoice(
            f"device:{dev}", _site(dev, DEVICE_NAME), GpuRequest("device", dev)
        )
    return out


def _site(value: str, pattern: Any) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"inventory value {value!r} is not allowed in a submit description")
    return value


def image_choices(
    images: Iterable[Mapping[str, Any] | Any], image_dirs: Iterable[str] = ()
) -> dict[str, ImageChoice]:
    """Images from the inventory plus *.sif files in image_dirs, with the references
    HTCondor's container universe takes (a path or docker://)."""
    return images_mod.image_choices(images, image_dirs, IMAGE_REF)


def _truth(value: str | None) -> bool | None:
    if value is None:
        return None
    v = value.strip().lower()
    if v in {"true", "1", "yes", "on"}:
        return True
    if v in {"false", "0", "no", "off", ""}:
        return False
    return None


def pool_groups(
    groups: Iterable[str], config: Mapping[str, str] | None, max_cpus: int
) -> tuple[dict[str, int], list[str]]:
    """Inventory groups the pool can run, each with its CPU cap; and notes on dropped ones.

    Reads the negotiator's settings: GROUP_NAMES, GROUP_QUOTA_<g> (a static quota in cores;
    dynamic GROUP_QUOTA_DYNAMIC_<g> shares are not caps) and GROUP_ACCEPT_SURPLUS[_<g>].
    Without the pool's configuration every inventory group is offered with max_cpus.
    """
    out: dict[str, int] = {}
    notes: list[str] = []
    config = config or {}
    known_text = config.get("GROUP_NAMES")
    known = None
    if known_text is not None:
        known = {g for g in known_text.replace(",", " ").split() if g}
    surplus_all = _truth(config.get("GROUP_ACCEPT_SURPLUS")) or False
    for g in groups:
        _site(g, GROUP_NAME)
        if known is not None and g not in known:
            notes.append(f"{g} is not a group of the pool (GROUP_NAMES)")
            continue
        cap = max_cpus
        quota_text = config.get(f"GROUP_QUOTA_{g}")
        surplus = _truth(config.get(f"GROUP_ACCEPT_SURPLUS_{g}"))
        surplus = surplus_all if surplus is None else surplus
        if quota_text is not None and not surplus:
            try:
                quota = int(float(quota_text))
            except ValueError:
                quota = None
            if quota is not None:
                if quota < 1:
                    notes.append(f"{g} has no quota in the pool")
                    continue
                cap = min(cap, quota)
        out[g] = cap
    return out, notes


def build_model(
    *,
    accounting_groups: Sequence[str],
    max_cpus: int,
    max_memory_gb: int,
    max_runtime_minutes: int,
    default_runtime_minutes: int = 60,
    gpu_capabilities: Iterable[str] = (),
    gpu_devices: Iterable[str] = (),
    images: Iterable[Any] = (),
    image_dirs: Iterable[str] = (),
    allow_local: bool = False,
    pool_config: Mapping[str, str] | None = None,
    user_groups: Iterable[str] | None = None,
    default_group: str = "",
) -> FormModel:
    """What this user may choose. user_groups: the groups the site's user map gives them
    (None when the pool has no map: every group is open)."""
    caps, notes = pool_groups(accounting_groups, pool_config, max_cpus)
    if user_groups is not None:
        allowed = set(user_groups)
        caps = {g: c for g, c in caps.items() if g in allowed}
    gpus = gpu_choices(gpu_capabilities, gpu_devices)
    imgs = image_choices(images, image_dirs)
    max_minutes = max(1, max_runtime_minutes)
    model = FormModel(groups=[], gpus=gpus, images=imgs, allow_local=allow_local)
    for g, cap in caps.items():
        model.groups.append(
            GroupChoice(
                name=g,
                max_cpus=cap,
                max_memory_gb=max_memory_gb,
                max_minutes=max_minutes,
                default_minutes=max(1, min(default_runtime_minutes, max_minutes)),
                gpus=[NO_GPU, *gpus],
                images=[NO_IMAGE, *imgs],
            )
        )
    names = [g.name for g in model.groups]
    model.default_group = default_group if default_group in names else (names or [""])[0]
    if not model.groups:
        model.notice = "No accounting group of this pool is open to you."
        if notes:
            model.notice += " (" + "; ".join(notes) + ")"
    return model


def model_for_cluster(
    cluster: Any,
    *,
    pool_config: Mapping[str, str] | None = None,
    user_groups: Iterable[str] | None = None,
    default_group: str = "",
) -> FormModel:
    """build_model from an inventory Cluster (sitehub.inventory.model) with an htcondor block."""
    pool = cluster.htcondor
    if pool is None:
        raise ValueError(f"cluster {cluster.segment} has no htcondor block")
    return build_model(
        accounting_groups=pool.accounting_groups,
        max_cpus=pool.max_cpus,
        max_memory_gb=pool.max_memory_gb,
        max_runtime_minutes=pool.max_runtime,
        default_runtime_minutes=cluster.options.default_runtime,
        gpu_capabilities=pool.gpu_capabilities,
        gpu_devices=pool.gpu_devices,
        images=cluster.images,
        image_dirs=cluster.image_dirs,
        allow_local=cluster.options.run_locally,
        pool_config=pool_config,
        user_groups=user_groups,
        default_group=default_group,
    )


# ---------------------------------------------------------------------------------------
# the pool's side, through HTCondor's Python bindings (the hub venv needs `htcondor`)


def local_pool_config(names: Iterable[str] = ()) -> dict[str, str]:
    """GROUP_* settings (and `names`) as this host's HTCondor configuration gives them."""
    import htcondor2

    param = htcondor2.param
    wanted = set(names) | {"GROUP_NAMES", "GROUP_ACCEPT_SURPLUS", "SCHEDD_CLASSAD_USER_MAP_NAMES"}
    out: dict[str, str] = {}
    prefixes = ("GROUP_QUOTA_", "GROUP_ACCEPT_SURPLUS_", "CLASSAD_USER_MAPFILE_")
    for key in param:
        if key in wanted or key.startswith(prefixes):
            # the bindings type known settings (GROUP_ACCEPT_SURPLUS is a bool): text, as read
            out[key] = str(param[key])
    return out


def usermap_groups(
    user: str, config: Mapping[str, str], map_name: str = USERMAP_NAME
) -> list[str] | None:
    """Groups HTCondor's user map `map_name` gives `user`, or None when no map is configured.

    The map file is loaded and queried with HTCondor's own code (userMap() in a ClassAd),
    so the file's syntax and regular expressions mean exactly what they mean to the schedd.
    """
    path = config.get(f"CLASSAD_USER_MAPFILE_{map_name}")
    if not path or not os.path.isfile(path):
        return None
    import classad2
    import htcondor2

    htcondor2.load_a_config_usermap_file(map_name, path)
    value = classad2.ExprTree(f"userMap({classad2.quote(map_name)}, {classad2.quote(user)})").eval()
    if not isinstance(value, str):
        return []
    return [g.strip() for g in value.split(",") if g.strip()]


# ---------------------------------------------------------------------------------------
# reading what came back


def _job(model: FormModel, opts: dict[str, Any]) -> JobRequest:
    group = model.pick(opts, "accounting_group")
    cpus = opts.get("cpus", 1)
    if not 1 <= cpus <= group.max_cpus:
        raise OptionsError(
            f"CPUs must be from 1 to {group.max_cpus} in group {group.name}, not {cpus}."
        )
    memory = opts.get("memory", min(DEFAULT_MEMORY_GB, group.max_memory_gb))
    if not 1 <= memory <= group.max_memory_gb:
        raise OptionsError(
            f"Memory must be from 1 to {group.max_memory_gb} GB in group {group.name}, "
            f"not {memory}."
        )
    minutes = form.runtime(
        opts.get("runtime", group.default_minutes), group.max_minutes, f"in group {group.name}"
    )
    gpu_value = opts.get("gpu") or NO_GPU
    if gpu_value not in group.gpus:
        raise OptionsError(
            f"GPU choice {form.shown(gpu_value)} is not offered here "
            f"(available: {form.listing(group.gpus)})."
        )
    return JobRequest(
        accounting_group=group.name,
        cpus=cpus,
        memory_mb=memory * 1024,
        minutes=minutes,
        gpu=None if gpu_value == NO_GPU else model.gpus[gpu_value].request,
        image=form.image_ref(model.images, opts.get("image", "")),
    )


# ---------------------------------------------------------------------------------------
# the form: coerce(raw), validate(model, raw) -> Choice, render_form(model, previous)

FORM = form.Form(TEXT_KEYS, NUMBER_KEYS, _job, NOTHING_OFFERED, TEMPLATE)
coerce = FORM.coerce
validate = FORM.validate
render_form = FORM.render_form
