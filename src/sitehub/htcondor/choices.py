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

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from sitehub.hub import images as images_mod
from sitehub.hub.images import NO_IMAGE, ImageChoice
from sitehub.hub.options import OptionsError, _one, script_json

from .submit import CAPABILITY, DEVICE_NAME, GROUP_NAME, IMAGE_REF, GpuRequest, JobRequest

OPTION_KEYS = frozenset(
    {"accounting_group", "cpus", "memory", "gpu", "runtime", "image", "run_local"}
)
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
class FormModel:
    groups: list[GroupChoice]
    gpus: dict[str, GpuChoice] = field(default_factory=dict)
    images: dict[str, ImageChoice] = field(default_factory=dict)
    default_group: str = ""
    allow_local: bool = False
    notice: str = ""  # shown above the form (e.g. "no accounting group is open to you")

    def group(self, name: str) -> GroupChoice | None:
        return next((g for g in self.groups if g.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "default_group": self.default_group,
            "allow_local": self.allow_local,
            "groups": {
                g.name: {
                    "max_cpus": g.max_cpus,
                    "max_memory_gb": g.max_memory_gb,
                    "max_minutes": g.max_minutes,
                    "default_minutes": g.default_minutes,
                    "gpus": g.gpus,
                    "images": g.images,
                }
                for g in self.groups
            },
            "labels": {
                "gpus": {NO_GPU: "no GPU", **{v: c.label for v, c in self.gpus.items()}},
                "images": {NO_IMAGE: "none (host system)"}
                | {n: c.label for n, c in self.images.items()},
            },
        }


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


def _text(key: str, value: Any) -> str:
    value = _one(value)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise OptionsError(f"{key} must be text, not {value!r}")
    if any(c in value for c in "\r\n\0"):
        raise OptionsError(f"{key} must be a single line.")
    return value.strip()


def _whole(key: str, label: str, value: Any) -> int:
    value = _one(value)
    if isinstance(value, bool):
        raise OptionsError(f"{label} must be a whole number.")
    if isinstance(value, str):
        value = value.strip()
        if not value.isascii() or not value.isdigit() or len(value) > 9:
            raise OptionsError(f"{label} must be a whole number.")
        value = int(value)
    if not isinstance(value, int):
        raise OptionsError(f"{label} must be a whole number.")
    return value


def _truthy(value: Any) -> bool:
    value = _one(value)
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, str):
        v = value.strip().lower()
        if v in {"1", "true", "on", "yes"}:
            return True
        if v in {"", "0", "false", "off", "no"}:
            return False
    raise OptionsError(f"'run locally' must be true or false, not {value!r}")


def coerce(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Form data or API JSON -> user_options (types normalised, unknown keys refused)."""
    unknown = sorted(set(raw) - OPTION_KEYS)
    if unknown:
        raise OptionsError(f"Unknown option(s): {', '.join(map(str, unknown))[:200]}.")
    out: dict[str, Any] = {}
    if "run_local" in raw:
        out["run_local"] = _truthy(raw["run_local"])
    for key in ("accounting_group", "gpu", "image"):
        if key in raw:
            out[key] = _text(key, raw[key])
    labels = {"cpus": "CPUs", "memory": "Memory (GB)", "runtime": "Runtime (minutes)"}
    for key, label in labels.items():
        if key in raw:
            out[key] = _whole(key, label, raw[key])
    return out


@dataclass(frozen=True)
class Choice:
    """A validated spawn request: either local, or an HTCondor job."""

    run_local: bool
    job: JobRequest | None = None


def _listing(values: Iterable[str]) -> str:
    shown = list(values)
    return ", ".join(shown) if shown else "none"


def _shown(value: str) -> str:
    """A forged value, safe and short enough to repeat in a message."""
    return repr(value[:60])


def validate(model: FormModel, options: Mapping[str, Any]) -> Choice:
    """Re-check user_options against what this user may choose; OptionsError says why not."""
    opts = coerce(options)
    if opts.get("run_local"):
        if not model.allow_local:
            raise OptionsError("Running on the hub host is not offered here.")
        return Choice(run_local=True)
    if not model.groups:
        raise OptionsError(model.notice or "No accounting group of this pool is open to you.")
    gname = opts.get("accounting_group") or model.default_group
    group = model.group(gname)
    if group is None:
        raise OptionsError(
            f"Accounting group {_shown(gname)} is not open to you. "
            f"Your groups: {_listing(g.name for g in model.groups)}."
        )
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
    minutes = opts.get("runtime", group.default_minutes)
    if minutes < 1:
        raise OptionsError("Runtime must be at least 1 minute.")
    if minutes > group.max_minutes:
        raise OptionsError(
            f"Runtime {minutes} min exceeds the maximum of {group.max_minutes} min "
            f"in group {group.name}."
        )
    gpu_value = opts.get("gpu") or NO_GPU
    if gpu_value not in group.gpus:
        raise OptionsError(
            f"GPU choice {_shown(gpu_value)} is not offered here "
            f"(available: {_listing(group.gpus)})."
        )
    image_name = opts.get("image") or NO_IMAGE
    if image_name not in group.images:
        raise OptionsError(
            f"Image {_shown(image_name)} is not offered here (available: {_listing(group.images)})."
        )
    return Choice(
        run_local=False,
        job=JobRequest(
            accounting_group=group.name,
            cpus=cpus,
            memory_mb=memory * 1024,
            minutes=minutes,
            gpu=None if gpu_value == NO_GPU else model.gpus[gpu_value].request,
            image="" if image_name == NO_IMAGE else model.images[image_name].ref,
        ),
    )


# ---------------------------------------------------------------------------------------
# rendering


def render_form(model: FormModel, previous: Mapping[str, Any] | None = None) -> str:
    """HTML for JupyterHub's spawn page (inside its <form>)."""
    import jinja2  # the hub venv has it (JupyterHub needs it); imported late for tests

    source = resources.files("sitehub.htcondor").joinpath("templates/options_form.html.j2")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string(source.read_text())
    prev = {k: v for k, v in (previous or {}).items() if k in OPTION_KEYS}
    return template.render(
        model=model, data=script_json(model.to_json()), previous=script_json(prev)
    )
