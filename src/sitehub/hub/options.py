"""The spawn options form: what a user may choose, how the choices narrow, and the server-side
re-check of whatever comes back (pure; the spawner feeds it live Slurm data).

A user is offered a partition when it is up, their groups pass its AllowGroups, and at least
one of their associations (for that partition, or for all partitions) names an account the
partition accepts with a QOS it accepts. Per partition the form carries the accounts, the QOS
per account, the longest runtime and the GPU types, so choosing a partition narrows the rest
in the browser. Submitted values are checked again against the same model, since the form
can be forged and its values end up in a batch script.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from .batch import SLURM_NAME, JobRequest
from .images import NO_IMAGE, ImageChoice
from .slurm import Association, Node, Partition, gpus_by_partition

OPTION_KEYS = frozenset({"partition", "account", "qos", "gpu", "runtime", "image", "run_local"})
NO_GPU = "none"
ANY_GPU = "any"


class OptionsError(ValueError):
    """A submitted choice is not allowed; the message is shown to the user as is."""


@dataclass
class AccountChoice:
    name: str
    qos: list[str]  # [""] when the association has no QOS list (Slurm's default applies)
    default_qos: str = ""


@dataclass
class PartitionChoice:
    name: str
    max_minutes: int
    default_minutes: int
    gpu_types: list[str]
    has_gpus: bool
    accounts: list[AccountChoice] = field(default_factory=list)
    default_account: str = ""

    def account(self, name: str) -> AccountChoice | None:
        return next((a for a in self.accounts if a.name == name), None)


@dataclass
class FormModel:
    partitions: list[PartitionChoice]
    default_partition: str = ""
    allow_local: bool = False
    notice: str = ""  # shown above the form (e.g. "Slurm is not reachable")
    images: dict[str, ImageChoice] = field(default_factory=dict)  # same in every partition

    def partition(self, name: str) -> PartitionChoice | None:
        return next((p for p in self.partitions if p.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "default_partition": self.default_partition,
            "allow_local": self.allow_local,
            "partitions": {
                p.name: {
                    "max_minutes": p.max_minutes,
                    "default_minutes": p.default_minutes,
                    "gpus": ([NO_GPU, ANY_GPU, *p.gpu_types] if p.has_gpus else [NO_GPU]),
                    "default_account": p.default_account,
                    "accounts": {
                        a.name: {"qos": a.qos, "default_qos": a.default_qos} for a in p.accounts
                    },
                }
                for p in self.partitions
            },
            "images": {NO_IMAGE: "none (host system)"}
            | {n: c.label for n, c in self.images.items()},
        }


def _assoc_for(assocs: list[Association], partition: str) -> dict[str, Association]:
    """account -> the association that applies in `partition` (partition-specific wins)."""
    chosen: dict[str, Association] = {}
    for a in assocs:
        if a.partition == "" and a.account not in chosen:
            chosen[a.account] = a
    for a in assocs:
        if a.partition == partition:
            chosen[a.account] = a
    return chosen


def build_model(
    partitions: Iterable[Partition],
    nodes: Iterable[Node],
    assocs: Iterable[Association],
    *,
    user_groups: Iterable[str] = (),
    default_account: str = "",
    max_runtime_minutes: int = 7 * 24 * 60,
    default_runtime_minutes: int = 60,
    allow_local: bool = False,
    cluster: str = "",
    images: Mapping[str, ImageChoice] | None = None,
) -> FormModel:
    """Everything this user may choose, read from Slurm's own answers."""
    assocs = [a for a in assocs if not cluster or not a.cluster or a.cluster == cluster]
    groups = set(user_groups)
    gpus = gpus_by_partition(nodes)
    model = FormModel(partitions=[], allow_local=allow_local, images=dict(images or {}))
    for part in partitions:
        if part.state != "UP" or part.hidden or not part.groups_allowed(groups):
            continue
        if not SLURM_NAME.fullmatch(part.name):
            continue
        accounts = []
        for account, assoc in sorted(_assoc_for(assocs, part.name).items()):
            if not part.account_allowed(account) or not SLURM_NAME.fullmatch(account):
                continue
            qos = [q for q in assoc.qos if part.qos_allowed(q) and SLURM_NAME.fullmatch(q)]
            if assoc.qos and not qos:
                continue  # every QOS of this association is refused here
            default_qos = assoc.default_qos if assoc.default_qos in qos else ""
            # default first, so the form preselects it
            qos.sort(key=lambda q: (q != default_qos, q))
            accounts.append(AccountChoice(account, qos or [""], default_qos))
        if not accounts:
            continue
        cap = part.max_minutes if part.max_minutes is not None else max_runtime_minutes
        cap = min(cap, max_runtime_minutes)
        default = part.default_minutes or default_runtime_minutes
        has_gpus, types = gpus.get(part.name, (False, frozenset()))
        names = [a.name for a in accounts]
        choice = PartitionChoice(
            name=part.name,
            max_minutes=cap,
            default_minutes=max(1, min(default, cap)),
            gpu_types=sorted(t for t in types if SLURM_NAME.fullmatch(t)),
            has_gpus=has_gpus,
            accounts=accounts,
            default_account=default_account if default_account in names else names[0],
        )
        model.partitions.append(choice)
        if part.default and not model.default_partition:
            model.default_partition = part.name
    if model.partitions and not model.default_partition:
        model.default_partition = model.partitions[0].name
    return model


# ---------------------------------------------------------------------------------------
# reading what came back


def _one(value: Any) -> Any:
    """Form data arrives as lists of strings; the REST API sends plain JSON values."""
    if isinstance(value, list):
        if len(value) != 1:
            raise OptionsError("each option takes exactly one value")
        return value[0]
    return value


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        v = value.strip().lower()
        if v in {"1", "true", "on", "yes"}:
            return True
        if v in {"", "0", "false", "off", "no"}:
            return False
    if value is None:
        return False
    raise OptionsError(f"'run locally' must be true or false, not {value!r}")


def coerce(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Form data or API JSON -> user_options (types normalised, unknown keys refused)."""
    unknown = sorted(set(raw) - OPTION_KEYS)
    if unknown:
        raise OptionsError(f"Unknown option(s): {', '.join(unknown)}.")
    out: dict[str, Any] = {}
    if "run_local" in raw:
        out["run_local"] = _truthy(_one(raw["run_local"]))
    for key in ("partition", "account", "qos", "gpu", "image"):
        if key in raw:
            value = _one(raw[key])
            if value is None:
                value = ""
            if not isinstance(value, str):
                raise OptionsError(f"{key} must be text, not {value!r}")
            out[key] = value.strip()
    if "runtime" in raw:
        value = _one(raw["runtime"])
        if isinstance(value, bool):
            raise OptionsError("Runtime must be a whole number of minutes.")
        if isinstance(value, str):
            value = value.strip()
            if not value.isdigit():
                raise OptionsError("Runtime must be a whole number of minutes.")
            value = int(value)
        if not isinstance(value, int):
            raise OptionsError("Runtime must be a whole number of minutes.")
        out["runtime"] = value
    return out


@dataclass(frozen=True)
class Choice:
    """A validated spawn request: either local, or a Slurm job."""

    run_local: bool
    job: JobRequest | None = None


def _listing(values: Iterable[str]) -> str:
    shown = [v or "(default)" for v in values]
    return ", ".join(shown) if shown else "none"


def validate(model: FormModel, options: Mapping[str, Any]) -> Choice:
    """Re-check user_options against what this user may choose; OptionsError says why not."""
    opts = coerce(options)
    image_name = opts.get("image") or NO_IMAGE
    if opts.get("run_local"):
        if not model.allow_local:
            raise OptionsError("Running on the hub host is not offered here.")
        if image_name != NO_IMAGE:
            raise OptionsError(
                "Container images run in batch jobs only: choose image 'none' to run locally."
            )
        return Choice(run_local=True)
    if not model.partitions:
        raise OptionsError(model.notice or "You are not entitled to any partition on this cluster.")
    pname = opts.get("partition") or model.default_partition
    part = model.partition(pname)
    if part is None:
        raise OptionsError(
            f"Partition '{pname}' is not available to you. "
            f"Your partitions: {_listing(p.name for p in model.partitions)}."
        )
    aname = opts.get("account") or part.default_account
    account = part.account(aname)
    if account is None:
        raise OptionsError(
            f"Account '{aname}' cannot be used in partition '{part.name}'. "
            f"Your accounts there: {_listing(a.name for a in part.accounts)}."
        )
    qos = opts.get("qos") or account.default_qos or account.qos[0]
    if qos not in account.qos:
        raise OptionsError(
            f"QOS '{qos}' is not allowed for account '{account.name}' in partition "
            f"'{part.name}'. Allowed: {_listing(account.qos)}."
        )
    minutes = opts.get("runtime", part.default_minutes)
    if minutes < 1:
        raise OptionsError("Runtime must be at least 1 minute.")
    if minutes > part.max_minutes:
        raise OptionsError(
            f"Runtime {minutes} min exceeds the maximum of {part.max_minutes} min "
            f"for partition '{part.name}'."
        )
    gpu = opts.get("gpu", NO_GPU) or NO_GPU
    if gpu != NO_GPU:
        if not part.has_gpus:
            raise OptionsError(f"Partition '{part.name}' has no GPUs; choose GPU type 'none'.")
        if gpu != ANY_GPU and gpu not in part.gpu_types:
            raise OptionsError(
                f"GPU type '{gpu}' is not offered in partition '{part.name}' "
                f"(available: {_listing([ANY_GPU, *part.gpu_types])})."
            )
    if image_name != NO_IMAGE and image_name not in model.images:
        raise OptionsError(
            f"Image '{image_name[:64]}' is not offered here "
            f"(available: {_listing([NO_IMAGE, *model.images])})."
        )
    return Choice(
        run_local=False,
        job=JobRequest(
            partition=part.name,
            account=account.name,
            qos=qos,
            minutes=minutes,
            gpu="" if gpu == NO_GPU else gpu,
            image="" if image_name == NO_IMAGE else model.images[image_name].ref,
        ),
    )


# ---------------------------------------------------------------------------------------
# rendering


def script_json(data: Any) -> str:
    """JSON safe inside <script>: no '</script>', no HTML-significant characters."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_form(model: FormModel, previous: Mapping[str, Any] | None = None) -> str:
    """HTML for JupyterHub's spawn page (inside its <form>)."""
    import jinja2  # the hub venv has it (JupyterHub needs it); imported late for tests

    source = resources.files("sitehub.hub").joinpath("templates/options_form.html.j2")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string(source.read_text())
    prev = {}
    for key, value in (previous or {}).items():
        if key in OPTION_KEYS:
            prev[key] = value
    return template.render(
        model=model, data=script_json(model.to_json()), previous=script_json(prev)
    )
