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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from . import form
from .batch import SLURM_NAME, JobRequest

# the shared form's, also reachable from here
from .form import Choice as Choice
from .form import OptionsError
from .form import script_json as script_json
from .images import ImageChoice
from .slurm import Association, Node, Partition, gpus_by_partition

TEXT_KEYS = ("partition", "account", "qos", "gpu", "image")
NUMBER_KEYS = ("runtime",)
OPTION_KEYS = frozenset({*TEXT_KEYS, *NUMBER_KEYS, "run_local"})  # FORM.option_keys
NOTHING_OFFERED = "You are not entitled to any partition on this cluster."
TEMPLATE = "slurm_form.html.j2"  # in sitehub/hub/templates, on the shared options_form.html.j2
NO_GPU = "none"
ANY_GPU = "any"


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
class FormModel(form.Offer):
    partitions: list[PartitionChoice]
    default_partition: str = ""
    allow_local: bool = False
    notice: str = ""  # shown above the form (e.g. "Slurm is not reachable")
    images: dict[str, ImageChoice] = field(default_factory=dict)  # same in every partition

    top: ClassVar[form.Top] = form.Top("partitions", "default_partition", "Partition")

    def partition(self, name: str) -> PartitionChoice | None:
        return self.named(name)

    def choice_json(self, p: PartitionChoice) -> dict[str, Any]:
        return {
            "max_minutes": p.max_minutes,
            "default_minutes": p.default_minutes,
            "gpus": ([NO_GPU, ANY_GPU, *p.gpu_types] if p.has_gpus else [NO_GPU]),
            "default_account": p.default_account,
            "accounts": {a.name: {"qos": a.qos, "default_qos": a.default_qos} for a in p.accounts},
        }

    def extra_json(self) -> dict[str, Any]:
        return {"images": form.image_labels(self.images)}


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


def _job(model: FormModel, opts: dict[str, Any]) -> JobRequest:
    part = model.pick(opts, "partition")
    aname = opts.get("account") or part.default_account
    account = part.account(aname)
    if account is None:
        raise OptionsError(
            f"Account '{aname}' cannot be used in partition '{part.name}'. "
            f"Your accounts there: {form.listing(a.name for a in part.accounts)}."
        )
    qos = opts.get("qos") or account.default_qos or account.qos[0]
    if qos not in account.qos:
        raise OptionsError(
            f"QOS '{qos}' is not allowed for account '{account.name}' in partition "
            f"'{part.name}'. Allowed: {form.listing(account.qos)}."
        )
    minutes = form.runtime(
        opts.get("runtime", part.default_minutes), part.max_minutes, f"for partition '{part.name}'"
    )
    gpu = opts.get("gpu", NO_GPU) or NO_GPU
    if gpu != NO_GPU:
        if not part.has_gpus:
            raise OptionsError(f"Partition '{part.name}' has no GPUs; choose GPU type 'none'.")
        if gpu != ANY_GPU and gpu not in part.gpu_types:
            raise OptionsError(
                f"GPU type '{gpu}' is not offered in partition '{part.name}' "
                f"(available: {form.listing([ANY_GPU, *part.gpu_types])})."
            )
    return JobRequest(
        partition=part.name,
        account=account.name,
        qos=qos,
        minutes=minutes,
        gpu="" if gpu == NO_GPU else gpu,
        image=form.image_ref(model.images, opts.get("image", "")),
    )


# ---------------------------------------------------------------------------------------
# the form: coerce(raw), validate(model, raw) -> Choice, render_form(model, previous)

FORM = form.Form(TEXT_KEYS, NUMBER_KEYS, _job, NOTHING_OFFERED, TEMPLATE)
coerce = FORM.coerce
validate = FORM.validate
render_form = FORM.render_form
