"""`sitehub render`: write what a site would configure, for review and audit."""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import sys
from pathlib import Path
from typing import Any

from sitehub.inventory import load_inventory, validate_loaded
from sitehub.inventory.model import Cluster, ContainerSettings, Kernel, SiteModel
from sitehub.inventory.validate import _plain
from sitehub.render.frontend import SECRET_PLACEHOLDER, render_frontend
from sitehub.render.kernelspec import KernelSpec, render_kernel
from sitehub.render.urlspace import url_spaces


def add_subparsers(sub) -> None:
    parser = sub.add_parser(
        "render",
        help="write the configuration a site would get into a folder (no host is touched)",
    )
    parser.add_argument("inventory")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--vault-password-file", action="append", default=[])
    parser.set_defaults(func=cmd_render)


def site_model(inventory: str, vault_password_files=()) -> SiteModel:
    loaded = load_inventory(inventory, vault_password_files)
    problems = validate_loaded(loaded)
    if problems:
        raise ValueError("\n".join(str(p) for p in problems))
    return SiteModel.model_validate(_plain(loaded.site_vars))


def cmd_render(args) -> int:
    try:
        site = site_model(args.inventory, args.vault_password_file)
    except (ValueError, FileNotFoundError) as exc:
        print(
            f"{args.inventory}: not rendered, the inventory has problems:\n{exc}", file=sys.stderr
        )
        return 1
    out = Path(args.out)
    try:
        written = render_site(site, out, inventory_dir=args.inventory.rstrip("/"))
    except Exception as exc:  # validation should have refused it: say so, no traceback
        print(
            f"{args.inventory}: rendering failed ({type(exc).__name__}: {exc}); validation "
            "accepted a value a renderer refuses, which is a sitehub bug: please report it",
            file=sys.stderr,
        )
        return 2
    for path in written:
        print(path)
    return 0


def htcondor_samples(cluster) -> dict[str, str]:
    """The submit-host role variables and sample submit descriptions of an HTC cluster.

    Samples use the first accounting group: one CPU job, and a GPU job per offered
    capability and device, so an auditor sees exactly what reaches the pool.
    """
    from sitehub.htcondor.deploy import submit_role_vars
    from sitehub.htcondor.submit import GpuRequest, JobRequest, SubmitContext, build_submit

    pool = cluster.htcondor
    group = (pool.accounting_groups or ["group_default"])[0]
    ctx = SubmitContext(
        user="USER",
        job_dir="/var/lib/sitehub/jobs/USER",
        command=["batchspawner-singleuser", "jupyterhub-singleuser"],
        batch_name=f"jupyter-{cluster.segment}",
    )
    requests = {"cpu": JobRequest(accounting_group=group, minutes=pool.max_runtime)}
    for capability in pool.gpu_capabilities:
        requests[f"gpu-capability-{capability}"] = JobRequest(
            accounting_group=group, gpu=GpuRequest("capability", capability)
        )
    for i, device in enumerate(pool.gpu_devices):
        requests[f"gpu-device-{i}"] = JobRequest(
            accounting_group=group, gpu=GpuRequest("device", device)
        )
    out = {f"{name}.sub": build_submit(request, ctx) for name, request in requests.items()}
    out["htcondor_submit-vars.json"] = json.dumps(submit_role_vars(cluster), indent=2) + "\n"
    return out


# Hub instances: what hub_instances derives from the vault is never rendered. It gets these
# stand-ins (it refuses empty ones), and every secret-looking value is replaced afterwards.
PLACEHOLDER_SECRETS = {
    "hub_cookie_secret": "render-placeholder",
    "hub_crypt_key": "render-placeholder",
    "hub_proxy_token": "render-placeholder",
}
SECRET_KEYS = {"cookie_secret", "crypt_key", "proxy_auth_token"}
SECRET_KEY_PARTS = ("secret", "token", "password")


def _is_secret_key(key: str) -> bool:
    return key in SECRET_KEYS or any(part in key.lower() for part in SECRET_KEY_PARTS)


def redact(value: Any) -> Any:
    """`value` with every secret-named entry, at any depth, replaced by the placeholder."""
    if isinstance(value, dict):
        return {
            k: SECRET_PLACEHOLDER if _is_secret_key(str(k)) else redact(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def hub_samples(site: SiteModel) -> dict[str, str]:
    """hubs/<host>/<instance>.json: the jupyterhub role's instance entries, secrets redacted."""
    from sitehub.deploy import hub_instances

    hosts = dict.fromkeys(i.host for c in site.sitehub_clusters for i in c.instances)
    out = {}
    for host in hosts:
        for entry in hub_instances(site.sitehub_clusters, host, PLACEHOLDER_SECRETS):
            out[f"{host}/{entry['name']}.json"] = json.dumps(redact(entry), indent=2) + "\n"
    return out


# What the spawner writes into a Slurm job (sitehub.hub.slurm_spawner.SlurmSpawner defaults).
SAMPLE_USER = "USER"
SAMPLE_HOME = f"/home/{SAMPLE_USER}"
NOTEBOOK_BIN = "/opt/sitehub/notebook/venv/bin"
SERVER_CMD = [f"{NOTEBOOK_BIN}/batchspawner-singleuser", f"{NOTEBOOK_BIN}/jupyterhub-singleuser"]
# The names SitehubSpawner.user_env() exports for an ordinary user: JupyterHub's
# Spawner.get_env() (with the role's default_url and disable_user_config), plus the account.
SAMPLE_EXPORT = sorted(
    [
        "HOME",
        "JPY_API_TOKEN",
        "JUPYTERHUB_ACTIVITY_URL",
        "JUPYTERHUB_API_TOKEN",
        "JUPYTERHUB_API_URL",
        "JUPYTERHUB_BASE_URL",
        "JUPYTERHUB_CLIENT_ID",
        "JUPYTERHUB_COOKIE_HOST_PREFIX_ENABLED",
        "JUPYTERHUB_DEFAULT_URL",
        "JUPYTERHUB_DISABLE_USER_CONFIG",
        "JUPYTERHUB_HOST",
        "JUPYTERHUB_OAUTH_ACCESS_SCOPES",
        "JUPYTERHUB_OAUTH_CALLBACK_URL",
        "JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES",
        "JUPYTERHUB_OAUTH_SCOPES",
        "JUPYTERHUB_PUBLIC_HUB_URL",
        "JUPYTERHUB_PUBLIC_URL",
        "JUPYTERHUB_SERVER_NAME",
        "JUPYTERHUB_SERVICE_PREFIX",
        "JUPYTERHUB_SERVICE_URL",
        "JUPYTERHUB_USER",
        "LANG",
        "LOGNAME",
        "PATH",
        "SHELL",
        "USER",
    ]
)


def spawner_max_runtime() -> int:
    """The hub's runtime cap when a partition has none (options.build_model's default, the
    same as SlurmSpawner.max_runtime_minutes')."""
    from sitehub.hub.options import build_model

    return int(inspect.signature(build_model).parameters["max_runtime_minutes"].default)


DISCOVER_README = """\
Cluster {segment}: no batch script sample.

Its form reads partitions, accounts and QOS live from Slurm (options.discover: true), so what
a job asks for depends on the cluster at spawn time. The script has the same form as the
samples of the other Slurm clusters: the #SBATCH lines of the chosen partition, account,
QOS, runtime and GPU, and `exec srun ... batchspawner-singleuser jupyterhub-singleuser`.
"""


def slurm_samples(cluster: Cluster) -> dict[str, str]:
    """The batch scripts the spawner would submit: one per partition (its first account and
    QOS, its longest runtime, its first GPU type), and one per inventory image on the first
    partition."""
    from sitehub.deploy import instance_name
    from sitehub.hub.batch import JobRequest, job_name, render_batch_script, server_in_image

    partitions = cluster.options.partitions
    if not partitions:
        return {"README.txt": DISCOVER_README.format(segment=cluster.segment)}
    instance = instance_name(cluster, cluster.instances[0])
    cap = spawner_max_runtime()

    def script(request: JobRequest, cmd: list[str]) -> str:
        return render_batch_script(
            request,
            job_name=job_name(f"jupyter-{instance}", SAMPLE_USER),
            output=f"{SAMPLE_HOME}/.jupyterhub-slurm-%j.log",
            workdir=SAMPLE_HOME,
            cmd=cmd,
            export=SAMPLE_EXPORT,
        )

    out = {}
    requests = {}
    for part in partitions:
        requests[part.name] = JobRequest(
            partition=part.name,
            account=(part.accounts or cluster.options.accounts or [""])[0],
            qos=(part.qos or cluster.options.qos or [""])[0],
            minutes=min(part.max_runtime, cap),
            gpu=part.gpu_types[0] if part.gpu_types else "",
        )
        out[f"{part.name}.sbatch"] = script(requests[part.name], SERVER_CMD)
    first = requests[partitions[0].name]
    settings = cluster.container
    for image in cluster.images:
        cmd = server_in_image(
            settings.runtime,
            image.ref,
            SERVER_CMD,
            export=SAMPLE_EXPORT,
            binds=settings.binds,
            options=settings.options,
            server_cmd=settings.server_cmd,
        )
        request = dataclasses.replace(first, image=image.ref)
        out[f"{first.partition}-image-{image.name}.sbatch"] = script(request, cmd)
    return out


HEX64 = re.compile(r"\b[0-9a-f]{64}\b")


def render_site_kernel(site: SiteModel, kernel: Kernel) -> KernelSpec:
    """A kernel as playbooks/kernels.yml installs it, with the Slurm cluster's container
    settings."""
    slurm = next((c for c in site.sitehub_clusters if c.scheduler == "slurm"), None)
    container = slurm.container if slurm else ContainerSettings()
    return render_kernel(
        kernel,
        container_runtime=container.runtime,  # type: ignore[arg-type]
        bind_paths=container.binds,
        container_options=container.options,
    )


def render_site(site: SiteModel, out: Path, *, inventory_dir: str = "<inventory>") -> list[Path]:
    """Write what `site` would configure below `out`; return the files written.

    `inventory_dir` only names the controller paths of certificates in frontend-vars.json.
    """
    written: list[Path] = []

    def write(rel: str, text: str, mode: int = 0o644) -> None:
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        path.chmod(mode)
        written.append(path)

    spaces = [space.as_dict() for space in url_spaces(site)]
    write("frontend/url-spaces.json", json.dumps(spaces, indent=2) + "\n")
    for name, text in render_frontend(site, inventory_dir=inventory_dir).items():
        write(f"frontend/{name}", text)
    for name, text in hub_samples(site).items():
        if HEX64.search(text):  # a secret the redaction missed: refuse to write it
            raise ValueError(f"hubs/{name}: a derived secret would be written")
        write(f"hubs/{name}", text)
    for cluster in site.sitehub_clusters:
        if cluster.scheduler == "htcondor":
            for name, text in htcondor_samples(cluster).items():
                write(f"htcondor/{cluster.segment}/{name}", text)
        elif cluster.scheduler == "slurm":
            for name, text in slurm_samples(cluster).items():
                write(f"slurm/{cluster.segment}/{name}", text)
    for kernel in site.sitehub_kernels:
        spec = render_site_kernel(site, kernel)
        write(f"kernels/{kernel.name}/kernel.json", spec.kernel_json)
        write(f"kernels/{kernel.name}/launch", spec.launcher, 0o755)
    return written
