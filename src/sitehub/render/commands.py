"""`sitehub render`: write what a site would configure, for review and audit."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sitehub.inventory import load_inventory, validate_loaded
from sitehub.inventory.model import SiteModel
from sitehub.inventory.validate import _plain
from sitehub.render.kernelspec import render_kernel
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
    except ValueError as exc:
        print(
            f"{args.inventory}: not rendered, the inventory has problems:\n{exc}", file=sys.stderr
        )
        return 1
    out = Path(args.out)
    written = render_site(site, out)
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


def render_site(site: SiteModel, out: Path) -> list[Path]:
    written: list[Path] = []

    def write(rel: str, text: str, mode: int = 0o644) -> None:
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        path.chmod(mode)
        written.append(path)

    spaces = [space.as_dict() for space in url_spaces(site)]
    write("frontend/url-spaces.json", json.dumps(spaces, indent=2) + "\n")
    for cluster in site.sitehub_clusters:
        if cluster.scheduler == "htcondor":
            for name, text in htcondor_samples(cluster).items():
                write(f"htcondor/{cluster.segment}/{name}", text)
    for kernel in site.sitehub_kernels:
        spec = render_kernel(kernel)
        write(f"kernels/{kernel.name}/kernel.json", spec.kernel_json)
        write(f"kernels/{kernel.name}/launch", spec.launcher, 0o755)
    return written
