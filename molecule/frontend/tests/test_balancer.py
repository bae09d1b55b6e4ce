"""Per-cluster sticky balancers: the ROUTEID cookie, websockets, and a dead pinned instance.

Stated behaviour (frontend_balancer_failover: true, the default): a user whose instance stops
is moved, on their next request, to a healthy instance of the same cluster, logs in there
afresh through the frontend's header (no password: the mellon session still holds) and gets
a new ROUTEID. No request waits longer than the connect timeout.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid

import pytest
from hubclient import Kernel, stop_servers, wait_for_server

from sitehub.testing.saml_login import LoginTrace, new_session, origin

SEGMENT = "hpc"


@pytest.fixture(scope="module")
def hpc(log_in, site, endpoint):
    """alice's session, logged in on cluster hpc with a running server on a hub host."""
    session, page = log_in("alice", f"{site}/jupyterhub/{SEGMENT}/")
    assert page.status_code == 200
    wait_for_server(session, site, SEGMENT, "alice", spawn_form=spawn_form(endpoint))
    yield session
    # the site may be shared with later suites: leave no server of the tests running
    stop_servers(session, site, SEGMENT, "alice", members(endpoint))


def route_of(session, segment=SEGMENT):
    return session.cookies.get("ROUTEID", path=f"/jupyterhub/{segment}/")


def cluster_of(endpoint, segment=SEGMENT):
    (cluster,) = [c for c in endpoint["clusters"] if c["segment"] == segment]
    return cluster


def members(endpoint, segment=SEGMENT):
    return {i["route"]: i for i in cluster_of(endpoint, segment)["instances"]}


def spawn_form(endpoint):
    """What the cluster's options form gets (None: no form): a server on the hub host."""
    return cluster_of(endpoint).get("spawn_form")


def units(instance):
    """The instance's systemd units on its host (named after the instance)."""
    name = instance["name"]
    return {"hub": f"jupyterhub@{name}", "proxy": f"configurable-http-proxy@{name}"}


def kernel(session, site, endpoint):
    return Kernel(session, site, SEGMENT, "alice", endpoint["ca_file"])


def access_log(podman_exec, endpoint, marker):
    log = podman_exec(
        endpoint["frontend_host"], "grep", "-F", marker, "/var/log/apache2/sitehub-access.log"
    )
    return log.stdout.splitlines()


def test_route_cookie_is_scoped_and_hardened(endpoint, site, log_in):
    trace = LoginTrace()
    log_in("bob", f"{site}/jupyterhub/local/hub/api", trace=trace)
    headers = [h for _, h in trace.set_cookies if h.startswith("ROUTEID=")]
    assert headers == ["ROUTEID=.local1; Path=/jupyterhub/local/; Secure; HttpOnly; SameSite=Lax"]


def test_health_checks_ask_each_hub_at_its_health_endpoint(endpoint, podman_exec):
    """mod_proxy_hcheck joins the member URL and hcuri with a '/': what reaches the hub must be
    exactly <base>/hub/health, answered 200 (an absolute hcuri would double the base path)."""
    host = endpoint["clusters"][0]["instances"][0]["host"]
    here = {
        cluster["segment"]: instance["port"]
        for cluster in endpoint["clusters"]
        for instance in cluster["instances"]
        if instance["host"] == host
    }
    ports = " or ".join(f"tcp port {port}" for port in here.values())
    # two health-check intervals (5 s) and a little
    tcpdump = ["timeout", "12", "tcpdump", "-i", "any", "-A", "-s0", "-l", ports]
    capture = subprocess.run(
        [*endpoint["netns_exec"][host], *tcpdump],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    out = capture.stdout
    seen = set(re.findall(r"GET (\S*health\S*) HTTP/1\.[01]", out))
    assert seen == {f"/jupyterhub/{segment}/hub/health" for segment in here}, (seen, out[-2000:])
    assert "HTTP/1.1 200 OK" in out
    rows = balancer_rows(podman_exec, endpoint)
    for cluster in endpoint["clusters"]:
        for instance in cluster["instances"]:
            assert "Init Ok" in " ".join(rows[instance["route"]]), rows[instance["route"]]


def test_hundred_requests_with_the_cookie_reach_one_instance(hpc, site, endpoint, podman_exec):
    route = route_of(hpc)
    assert route and route.lstrip(".") in members(endpoint)
    marker = uuid.uuid4().hex
    started = set()
    for i in range(100):
        reply = hpc.get(
            f"{site}/jupyterhub/{SEGMENT}/user/alice/api/status",
            params={"probe": f"{marker}-{i}"},
            allow_redirects=False,
            timeout=30,
        )
        assert reply.status_code == 200, reply.status_code
        assert "ROUTEID" not in reply.headers.get("Set-Cookie", "")
        started.add(reply.json()["started"])
    # one server answered every time (its start time is its identity)...
    assert len(started) == 1, started
    # ...and the frontend logged the same member for all 100
    lines = access_log(podman_exec, endpoint, marker)
    assert len(lines) == 100
    assert {line.rsplit("route=", 1)[1] for line in lines} == {route.lstrip(".")}
    assert all(" alice [" in line for line in lines)


def test_a_new_browser_is_pinned_to_the_least_used_instance(hpc, site, endpoint, podman_exec):
    """Same user, no ROUTEID: byrequests picks the member owed the most requests."""
    loads = balancer_loads(podman_exec, endpoint)
    expected = max(loads, key=loads.get)
    probe = new_session(endpoint["ca_file"], endpoint["hosts"])
    for cookie in hpc.cookies:
        if cookie.name != "ROUTEID":
            probe.cookies.set_cookie(cookie)
    reply = probe.get(f"{site}/jupyterhub/{SEGMENT}/hub/api", timeout=30)
    assert reply.status_code == 200
    assert route_of(probe) == "." + expected, loads


def test_a_server_answers_its_owner_only(hpc, site, log_in):
    """bob in a browser that still holds alice's server cookie (a shared machine): the
    frontend refuses him before alice's server could accept the cookie."""
    bob, _ = log_in("bob", f"{site}/mellon/login?ReturnTo={site}/")
    for cookie in hpc.cookies:
        if cookie.path.startswith(f"/jupyterhub/{SEGMENT}/"):
            bob.cookies.set_cookie(cookie)
    reply = bob.get(
        f"{site}/jupyterhub/{SEGMENT}/user/alice/api/status", allow_redirects=False, timeout=30
    )
    assert reply.status_code == 403
    assert "You don't have permission" in reply.text  # Apache's page, not a hub's
    assert hpc.get(f"{site}/jupyterhub/{SEGMENT}/user/alice/api/status", timeout=30).ok


def test_kernel_websocket_through_the_frontend_runs_code(hpc, site, endpoint):
    with kernel(hpc, site, endpoint) as k:
        assert k.execute("print(6 * 7)") == ("ok", "42\n")
        status, out = k.execute("import socket; print(socket.gethostname())")
    assert status == "ok"
    assert out.strip() == members(endpoint)[route_of(hpc).lstrip(".")]["host"]


def test_a_stopped_pinned_instance_moves_the_user_to_a_healthy_one(
    hpc, site, endpoint, podman_exec
):
    pinned = route_of(hpc).lstrip(".")
    host = members(endpoint)[pinned]["host"]
    podman_exec(host, "systemctl", "stop", *units(members(endpoint)[pinned]).values())
    try:
        # what reloading JupyterLab does: the first hop is answered by a healthy instance
        lab = f"{site}/jupyterhub/{SEGMENT}/user/alice/lab"
        started = time.monotonic()
        first = hpc.get(lab, allow_redirects=False, timeout=60)
        elapsed = time.monotonic() - started
        assert elapsed < 10, f"the first request took {elapsed:.1f} s"
        assert first.status_code in (200, 302, 303), first.status_code
        moved = route_of(hpc).lstrip(".")
        assert moved != pinned and moved in members(endpoint)
        # the new instance logs alice in from the frontend's header: no password asked
        page = hpc.get(lab, timeout=120)
        assert origin(page.url) == origin(site)
        assert (
            hpc.get(f"{site}/jupyterhub/{SEGMENT}/hub/api/user", timeout=30).json()["name"]
            == "alice"
        )
        # the new pin holds
        for _ in range(20):
            assert hpc.get(f"{site}/jupyterhub/{SEGMENT}/hub/api/user", timeout=30).ok
        assert route_of(hpc).lstrip(".") == moved
        # and the healthy instance serves the user's notebooks
        wait_for_server(hpc, site, SEGMENT, "alice", spawn_form=spawn_form(endpoint))
        with kernel(hpc, site, endpoint) as k:
            assert k.execute("print('moved')") == ("ok", "moved\n")
    finally:
        podman_exec(host, "systemctl", "start", *units(members(endpoint)[pinned]).values())
        wait_healthy(podman_exec, endpoint, pinned)


def test_a_hung_pinned_instance_costs_one_timeout_then_fails_over(hpc, site, endpoint, podman_exec):
    """An instance that accepts connections but never answers (frozen proxy): the request in
    flight ends after the proxy timeout with the "unavailable" page, and that instance is
    taken out at once (failontimeout), so the user's next request moves on."""
    pinned = route_of(hpc).lstrip(".")
    host = members(endpoint)[pinned]["host"]
    unit = units(members(endpoint)[pinned])["proxy"]
    limit = int(endpoint["proxy_timeout"])
    podman_exec(host, "systemctl", "kill", "--signal=SIGSTOP", unit)
    try:
        started = time.monotonic()
        stuck = hpc.get(f"{site}/jupyterhub/{SEGMENT}/hub/api/user", timeout=limit + 60)
        elapsed = time.monotonic() - started
        assert limit - 5 < elapsed < limit + 15, f"{elapsed:.1f} s"
        assert stuck.status_code in (502, 504)
        assert "This hub is not available right now" in stuck.text
        started = time.monotonic()
        page = hpc.get(f"{site}/jupyterhub/{SEGMENT}/hub/home", timeout=60)
        assert time.monotonic() - started < 10
        assert page.status_code == 200
        moved = route_of(hpc).lstrip(".")
        assert moved != pinned
        assert (
            hpc.get(f"{site}/jupyterhub/{SEGMENT}/hub/api/user", timeout=30).json()["name"]
            == "alice"
        )
    finally:
        podman_exec(host, "systemctl", "kill", "--signal=SIGCONT", unit)
        wait_healthy(podman_exec, endpoint, pinned)


def balancer_rows(podman_exec, endpoint):
    """The balancer manager's member rows (from the frontend itself): {route: [cells]}."""
    page = podman_exec(
        endpoint["frontend_host"],
        "curl",
        "-sS",
        "--max-time",
        "10",
        "https://localhost/balancer-manager",
        check=False,
    ).stdout
    rows = {}
    for row in page.split("<tr>")[1:]:
        cells = re.findall(r"<td>(.*?)</td>", row, re.S)
        if len(cells) > 8 and cells[0].startswith("<a href"):
            rows[cells[1]] = [re.sub(r"<[^>]+>", "", c).strip() for c in cells]
    return rows


def balancer_loads(podman_exec, endpoint, segment=SEGMENT):
    """byrequests' running score per member of the cluster (the manager's Load column)."""
    rows = balancer_rows(podman_exec, endpoint)
    return {route: int(rows[route][8]) for route in members(endpoint, segment)}


def wait_healthy(podman_exec, endpoint, route, timeout=120):
    """Until the balancer's health checks see the member again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = podman_exec(
            endpoint["frontend_host"],
            "curl",
            "-sS",
            "--max-time",
            "10",
            "https://localhost/balancer-manager",
            check=False,
        ).stdout
        row = next((line for line in page.split("<tr>") if f"<td>{route}</td>" in line), "")
        if row and "Init Ok" in row and "Err" not in row:
            return
        time.sleep(2)
    raise TimeoutError(f"member {route} did not come back")
