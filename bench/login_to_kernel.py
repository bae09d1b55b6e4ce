"""Login-to-running-kernel time on the demo site, in the end-to-end test's browser flow.

Needs the demo up (`make demo`). Each run is a first login of the test user (bob) in a
fresh headless Chromium context (Debian's), exactly as tests/e2e does it, with that code:
the user is made new (no server, no Keycloak session, no OTP device) outside the clock,
then the clock runs from the click on Launch for `hpc` to the first output of a notebook
cell (password, TOTP enrollment, spawn form, Slurm job, JupyterLab, new notebook, kernel
start, cell run). No think time: the browser types and clicks as fast as pages allow.
Step screenshots are off (a failed run still leaves one under artifacts/bench/).

Prints each run's phases and the median, and writes artifacts/bench/login_to_kernel.json.

Usage: python bench/login_to_kernel.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the end-to-end test's modules: same site discovery, same browser flow
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from e2e_flow import SPAWN_CHOICE, BrowserFlow  # noqa: E402
from e2e_site import (  # noqa: E402
    CHROMIUM,
    DemoDown,
    check_up,
    chromium_args,
    load_site,
    reset_user,
    squeue,
)

# phases between the flow's marks (seconds since Launch was clicked)
PHASES = [
    ("login", "spawn_form", "Launch -> spawn form (password + TOTP enrollment + SAML)"),
    ("spawn", "server_redirect", "Start -> server up (Slurm job, server reports its port)"),
    ("lab", "lab_loaded", "server up -> JupyterLab launcher shown"),
    ("kernel", "kernel_output", "launcher -> new notebook, kernel started, cell output"),
]


def one_run(demo, browser, artifacts: Path, index: int) -> dict:
    reset = reset_user(demo)
    flow = BrowserFlow(demo, browser, artifacts, screenshots=False, prefix=f"run{index}-")
    try:
        result = flow.run_to_kernel(demo.password())
        job = next((j for j in squeue(demo) if j.id == result.cell_job_id), None)
        if job is None or job.state != "RUNNING" or job.nodes != result.cell_host:
            raise AssertionError(f"cell says job {result.cell_job_id} on {result.cell_host}; "
                                 f"squeue: {job}")  # fmt: skip
        # outside the clock: leave nothing running for the next run
        flow.delete_notebook()
        flow.stop_server()
        flow.log_out()
    finally:
        flow.close()
    marks = result.marks
    previous = 0.0
    phases = {}
    for name, mark, _ in PHASES:
        phases[name] = round(marks[mark] - previous, 2)
        previous = marks[mark]
    return {
        "login_to_kernel_s": round(result.login_to_kernel, 2),
        "phases_s": phases,
        "marks_s": marks,
        "route": result.route,
        "job_id": result.cell_job_id,
        "host": result.cell_host,
        "reset": reset,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    try:
        demo = load_site()
        check_up(demo)
    except DemoDown as exc:
        sys.exit(f"the demo site is not up ({exc}); deploy it with `make demo`")
    artifacts = ROOT / "artifacts" / "bench"
    artifacts.mkdir(parents=True, exist_ok=True)
    runs = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=chromium_args(demo)
        )
        for index in range(1, args.runs + 1):
            run = one_run(demo, browser, artifacts, index)
            runs.append(run)
            phases = "  ".join(f"{k} {v:5.1f}" for k, v in run["phases_s"].items())
            print(
                f"run {index}: login-to-kernel {run['login_to_kernel_s']:6.1f} s   ({phases})"
                f"   hub {run['route']}, job {run['job_id']} on {run['host']}",
                flush=True,
            )
        chromium_version = browser.version
        browser.close()
    totals = [r["login_to_kernel_s"] for r in runs]
    summary = {
        "bench": "bench/login_to_kernel.py",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "site": demo.site_url,
        "cluster": demo.hpc.segment,
        "user": demo.user,
        "spawn_choice": SPAWN_CHOICE,
        "browser": f"Chromium {chromium_version} (Debian, headless)",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "runs": runs,
        "login_to_kernel_s": {
            "median": round(statistics.median(totals), 2),
            "min": min(totals),
            "max": max(totals),
        },
        "phase_medians_s": {
            name: round(statistics.median(r["phases_s"][name] for r in runs), 2)
            for name, _, _ in PHASES
        },
        "phases": {name: text for name, _, text in PHASES},
    }
    out = artifacts / "login_to_kernel.json"
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"\nlogin-to-running-kernel, median of {len(runs)}: "
        f"{summary['login_to_kernel_s']['median']:.1f} s "
        f"(min {min(totals):.1f}, max {max(totals):.1f})"
    )
    for name, text in summary["phases"].items():
        print(f"  {name:7s} {summary['phase_medians_s'][name]:6.1f} s  {text}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
