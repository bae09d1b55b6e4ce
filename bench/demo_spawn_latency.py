"""Spawn latency on the demo site: its Slurm and HTCondor clusters side by side, in one run.

    .venv/bin/python bench/demo_spawn_latency.py [--sequential 10] [--concurrent alice,bob]

Runs bench/spawn_latency.py on the demo's frontend host (the hubs take the user header only
from the frontend, with its secret header) against the first instance of the first Slurm
cluster and of the first HTCondor cluster, alternating sample by sample, with each cluster's
own options (the demo user's default Slurm partition and account; on HTCondor each user's
default accounting group, 1 CPU, 1 GB). Prints the figures and writes
artifacts/bench/demo_spawn_latency.json. The demo has two users, so the concurrent round
has at most two spawns per hub.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from sitehub.deploy import frontend_secret, htcondor_group_map, hub_instances
from sitehub.render.commands import site_model

REPO = Path(__file__).resolve().parents[1]
INVENTORY = REPO / "inventories" / "demo"
SCRATCH = "/var/tmp/sitehub-bench"  # noqa: S108  (inside the frontend container, 0700)
SLURM_OPTIONS = {"partition": "debug", "account": "default", "qos": "normal", "runtime": 20}
CONDOR_OPTIONS = {"cpus": 1, "memory": 1, "runtime": 20, "gpu": "none"}


def podman(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *argv], check=True, text=True, **kwargs)


def first_instance_url(site, scheduler: str, secrets: dict) -> str:
    cluster = next(c for c in site.sitehub_clusters if c.scheduler == scheduler)
    host = cluster.instances[0].host
    instance = next(
        i
        for i in hub_instances(site.sitehub_clusters, host, secrets)
        if i["route"] == cluster.segment
    )
    return f"http://{host}:{instance['port']}/jupyterhub/{cluster.segment}/"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sequential", type=int, default=10)
    p.add_argument("--user", default="alice")
    p.add_argument("--concurrent", default="alice,bob", help="users of the concurrent round")
    p.add_argument("--out", default=str(REPO / "artifacts" / "bench" / "demo_spawn_latency.json"))
    args = p.parse_args(argv)

    site = site_model(str(INVENTORY))
    secrets_dir = INVENTORY / ".secrets"
    secrets = {
        name: (secrets_dir / name).read_text().strip()
        for name in ("hub_cookie_secret", "hub_crypt_key", "hub_proxy_token")
    }
    frontend = site.sitehub_site.frontends[0]
    # no accounting group: each user gets their own default group (one set of options
    # serves every user of the concurrent round)
    htc = next(c for c in site.sitehub_clusters if c.scheduler == "htcondor")
    if args.user not in htcondor_group_map(htc, site.sitehub_identity):
        print(f"{args.user} may charge no accounting group of {htc.segment}", file=sys.stderr)
        return 2
    condor = CONDOR_OPTIONS
    wheels = sorted((Path("/var/cache/sitehub") / "wheelhouse" / "hub").glob("tornado-*.whl"))
    if not wheels:
        print("no tornado wheel in the hub wheel set: converge the demo first", file=sys.stderr)
        return 2

    podman("exec", frontend, "mkdir", "-p", "-m", "0700", SCRATCH)
    podman("cp", str(REPO / "bench" / "spawn_latency.py"), f"{frontend}:{SCRATCH}/")
    podman("cp", str(wheels[-1]), f"{frontend}:{SCRATCH}/tornado.whl")
    podman("exec", frontend, "python3", "-m", "zipfile", "-e", f"{SCRATCH}/tornado.whl",
           f"{SCRATCH}/lib")  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".secret") as handle:
        handle.write(frontend_secret(secrets) + "\n")
        handle.flush()
        podman("cp", handle.name, f"{frontend}:{SCRATCH}/frontend_secret")
    podman("exec", frontend, "chmod", "0600", f"{SCRATCH}/frontend_secret")

    argv_bench = [
        "env", f"PYTHONPATH={SCRATCH}/lib", "python3", f"{SCRATCH}/spawn_latency.py",
        "--hub", f"slurm={first_instance_url(site, 'slurm', secrets)}",
        "--hub", f"htcondor={first_instance_url(site, 'htcondor', secrets)}",
        "--options-for", f"slurm={json.dumps(SLURM_OPTIONS)}",
        "--options-for", f"htcondor={json.dumps(condor)}",
        "--secret-file", f"{SCRATCH}/frontend_secret",
        "--user", args.user, "--sequential", str(args.sequential),
        "--concurrent-users", args.concurrent,
    ]  # fmt: skip
    run = subprocess.run(
        ["podman", "exec", frontend, *argv_bench], capture_output=True, text=True, check=False
    )
    sys.stderr.write(run.stderr)
    if not run.stdout.strip():
        return run.returncode or 1
    result = json.loads(run.stdout)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    for r in result["results"]:
        seq, conc = r["sequential"], r["concurrent"]
        print(
            f"{r['hub']:9} sequential median {seq['median_s']} s p95 {seq['p95_s']} s"
            f" (n={seq['n']}); concurrent median {conc['median_s']} s (n={conc['n']})"
            f" {r.get('error', '')}"
        )
    for name, value in result["ratios"].items():
        print(f"{name}: {value}")
    print(f"JSON: {out}")
    return run.returncode


if __name__ == "__main__":
    raise SystemExit(main())
