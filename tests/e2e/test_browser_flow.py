"""End to end on the demo site, in Debian's headless Chromium: a user who never logged in
launches the `hpc` hub, logs in at Keycloak, enrolls TOTP, starts a Slurm job from the
spawn form and runs a notebook cell in it; then, in the same browser session and without
logging in again, launches the `htc` hub, starts an HTCondor job from its form and runs the
same cell there; stops both servers and logs out; every session is then gone.

The test owns the demo user bob (alice stays for people trying the demo). Before the flow
it makes bob new again (no server on any hpc or htc instance, no batch job, no JupyterLab
workspace, no Keycloak session, no OTP device), so it can run again and again against the
same demo. Screenshots of every step go to artifacts/e2e/.
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlsplit

import pytest
from e2e_flow import SPAWN_CHOICE, htc_spawn_choice
from e2e_site import (
    compute_nodes,
    condor_q,
    hub_api_with_cookie,
    reset_user,
    slot_machine,
    squeue,
    wait_no_condor_jobs,
    wait_no_jobs,
)

pytestmark = pytest.mark.slow


def cookie(cookies: list[dict], name: str, path: str | None = None) -> dict | None:
    return next(
        (c for c in cookies if c["name"] == name and (path is None or c["path"] == path)), None
    )


def mellon_replay(demo, mellon: dict):
    """A new client holding only the mellon session cookie asks for a path mellon protects
    (the hub's API root, which needs no hub login): 200 while the session lives, a redirect
    to mellon's login endpoint (and from there to Keycloak) once it is over."""
    client = demo.session()
    # Python's cookie jar stores single-label hosts as "<host>.local"
    client.cookies.set(
        mellon["name"],
        mellon["value"],
        domain=f"{urlsplit(demo.site_url).hostname}.local",
        path="/",
    )
    return client.get(f"{demo.hpc.hub_url}hub/api/", allow_redirects=False, timeout=30)


def test_launch_login_enroll_spawn_run_cell_and_log_out(demo, flow, artifacts):
    began = time.monotonic()
    admin = demo.admin()
    hpc, htc = demo.hpc, demo.htc
    htc_choice = htc_spawn_choice(demo)

    # ---- a user who has never been here ------------------------------------------------
    reset_log = reset_user(demo)
    leftover = {job.id for job in squeue(demo)}  # orphans the hubs' reaper has not got to
    condor_leftover = set(condor_q(demo))  # reset_user removed server jobs; others stay
    assert admin.sessions(demo.user) == [], "Keycloak still has a session of the test user"
    assert not [c for c in admin.credentials(demo.user) if c["type"] == "otp"]

    # ---- hpc: landing page -> Keycloak -> TOTP enrollment -> spawn form -> JupyterLab -> cell
    result = flow.run_to_kernel(demo.password())

    # the device enrolled on the page is the user's one OTP credential now
    otp = [c for c in admin.credentials(demo.user) if c["type"] == "otp"]
    assert [c.get("userLabel") for c in otp] == [result.totp_label]

    # the cell ran in the Slurm job the hub submitted, on a compute node
    assert result.cell_job_id != "none", f"no SLURM_JOB_ID in the kernel: {result.cell_output}"
    assert result.progress_job_id == result.cell_job_id, result.progress
    jobs = {job.id: job for job in squeue(demo)}
    assert result.cell_job_id in jobs, f"squeue for {demo.user} shows {list(jobs.values())}"
    assert result.cell_job_id not in leftover
    job = jobs[result.cell_job_id]
    assert job.state == "RUNNING", job
    assert result.cell_host == job.nodes, (result.cell_host, job)
    assert result.cell_host in compute_nodes(demo)
    assert result.route in {i.route for i in hpc.instances}, result.route

    # ---- the three sessions, alive ----------------------------------------------------------
    cookies = flow.context.cookies()
    hub = cookie(cookies, "jupyterhub-hub-login", f"{hpc.hub_path}hub/")
    mellon = next((c for c in cookies if c["name"].startswith("mellon-")), None)
    keycloak = [c for c in cookies if c["path"].startswith(f"/realms/{demo.realm}")]
    assert hub and mellon and keycloak, [(c["name"], c["path"]) for c in cookies]
    alive = hub_api_with_cookie(hpc, result.route, hub["value"])
    assert alive.status_code == 200 and alive.json()["name"] == demo.user, alive.text[:300]
    assert mellon_replay(demo, mellon).status_code == 200
    assert len(admin.sessions(demo.user)) == 1

    # ---- htc, same browser: landing page -> HTC card -> HTCondor form -> JupyterLab -> cell --
    htc_result = flow.run_to_htc_kernel(htc_choice)

    # no second login: mellon's session took the browser to the hub, Keycloak never saw it
    assert htc_result.launch_urls, "no navigation recorded after the click on the HTC card"
    assert not [u for u in htc_result.launch_urls if u.startswith(demo.keycloak_url)], (
        htc_result.launch_urls
    )
    assert len(admin.sessions(demo.user)) == 1
    assert [c.get("userLabel") for c in admin.credentials(demo.user) if c["type"] == "otp"] == [
        result.totp_label
    ]
    # the htc instance logged the browser in from the frontend's header: its own cookie
    htc_hub = cookie(flow.context.cookies(), "jupyterhub-hub-login", f"{htc.hub_path}hub/")
    assert htc_hub, [(c["name"], c["path"]) for c in flow.context.cookies()]
    htc_alive = hub_api_with_cookie(htc, htc_result.route, htc_hub["value"])
    assert htc_alive.status_code == 200, (htc_alive.status_code, htc_alive.text[:300])
    assert htc_alive.json()["name"] == demo.user, htc_alive.text[:300]
    # the form offers exactly the groups the pool's user map gives the user
    assert sorted(htc_result.groups_offered) == sorted(demo.htc_groups[demo.user])

    # the cell ran in the HTCondor job the hub submitted, on the execute node
    assert htc_result.cell_job_id != "none", f"no job ad in the kernel: {htc_result.cell_output}"
    assert htc_result.progress_job_id == htc_result.cell_job_id, htc_result.progress
    ads = condor_q(demo)
    assert htc_result.cell_job_id in ads, f"condor_q for {demo.user} shows {ads}"
    assert htc_result.cell_job_id not in condor_leftover
    ad = ads[htc_result.cell_job_id]
    assert ad["Owner"] == demo.user, ad
    assert ad["JobStatus"] == 2, ad  # 2: running
    assert slot_machine(ad["RemoteHost"]) == htc_result.cell_host, (htc_result.cell_host, ad)
    assert htc_result.cell_host in demo.htc_execute_nodes, htc_result.cell_host
    assert ad["AcctGroup"] == htc_choice["accounting_group"], ad
    assert (ad["RequestCpus"], ad["RequestMemory"]) == (1, 1024), ad  # 1 CPU, 1 GB chosen
    assert htc_result.route in {i.route for i in htc.instances}, htc_result.route
    # the hpc job still runs beside it: one session, a server on each card
    assert result.cell_job_id in {job.id for job in squeue(demo)}

    # ---- tidy up: each server stopped from its hub's home page, then the hub's Logout -----
    flow.use(htc)
    assert flow.delete_notebook() == 204
    flow.stop_server()
    htc_left = wait_no_condor_jobs(demo, timeout=60, jobs={htc_result.cell_job_id})
    assert not htc_left, f"HTCondor job still queued after Stop My Server: {htc_left}"
    flow.use(hpc)
    assert flow.delete_notebook() == 204
    flow.stop_server()
    assert result.cell_job_id not in {job.id for job in wait_no_jobs(demo, timeout=60)}
    flow.log_out()

    # hub: the login cookie is refused by the instance itself
    refused = hub_api_with_cookie(hpc, result.route, hub["value"])
    assert refused.status_code == 403, (refused.status_code, refused.text[:300])
    assert cookie(flow.context.cookies(), "jupyterhub-hub-login", f"{hpc.hub_path}hub/") is None
    # mellon: its cookie on a protected path is sent to Keycloak to log in again
    replay = mellon_replay(demo, mellon)
    assert replay.status_code in (302, 303), replay.status_code
    # mellon sends an unknown session to its own login endpoint, which sends it to Keycloak
    login_url = replay.headers["Location"]
    assert login_url.startswith(f"{demo.site_url}/mellon/login?"), replay.headers
    to_idp = demo.session().get(login_url, allow_redirects=False, timeout=30)
    assert to_idp.status_code in (302, 303), to_idp.status_code
    assert to_idp.headers["Location"].startswith(demo.realm_url + "/"), to_idp.headers
    # Keycloak: no session on the server, and the password is asked for again, both in this
    # browser and in a new one holding the old Keycloak cookies
    assert admin.sessions(demo.user) == []
    assert flow.password_asked(name="11-password-asked-again")
    other = flow.context.browser.new_context(locale="en-US")
    try:
        other.add_cookies(keycloak)
        assert flow.password_asked(other.new_page(), name="12-old-keycloak-cookies")
    finally:
        other.close()

    summary = {
        "user": demo.user,
        "cluster": hpc.segment,
        "route": result.route,
        "spawn_choice": SPAWN_CHOICE,
        "job_id": result.cell_job_id,
        "host": result.cell_host,
        "progress": result.progress,
        "marks_s": result.marks,
        "login_to_kernel_s": result.login_to_kernel,
        htc.segment: {
            "route": htc_result.route,
            "spawn_choice": htc_choice,
            "job_id": htc_result.cell_job_id,
            "host": htc_result.cell_host,
            "condor_q": ad,
            "progress": htc_result.progress,
            "marks_s": htc_result.marks,  # seconds since the click on the HTC card
            "launch_to_kernel_s": htc_result.login_to_kernel,
        },
        "test_wall_s": round(time.monotonic() - began, 1),
        "reset": reset_log,
        "screenshots": [p.name for p in flow.screenshots_taken],
    }
    (artifacts / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
