"""What the frontend costs: requests per second and websocket round-trip time through
Apache + mod_auth_mellon versus straight to a hub's proxy, in one run, as ratios.

Needs the `frontend` scenario converged (`molecule converge -s frontend` and one
`molecule verify -s frontend`, which writes the endpoint file and enrolls the users' TOTP),
or the demo site with the endpoint of `tests/site/frontend_endpoint.py` (`--endpoint FILE`).
Logs alice in through the frontend (Keycloak password + TOTP), makes sure her server runs on
cluster `hpc`, then measures, alternating the two paths round by round so both see the same
machine load:

  1. HTTP: GET <server>/api/status with WORKERS concurrent keep-alive clients; through the
     frontend (HTTPS, mellon session cookie, balancer) vs to the pinned instance's proxy
     (plain HTTP, API token);
  2. websocket: kernel_info_request -> kernel_info_reply round trips on one kernel's
     channels socket (what a user waits for), and ping -> pong on the same sockets (the
     transport alone), through the frontend (wss) vs direct (ws).

Only the scenario's containers are contacted. Prints the figures and writes
artifacts/bench/frontend_overhead.json.

Usage: python bench/frontend_overhead.py [--endpoint FILE] [--rounds 5] [--requests 400]
                                         [--workers 4] [--messages 200]
"""

from __future__ import annotations

import argparse
import glob
import ipaddress
import json
import os
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import requests
import websocket

from sitehub.testing.saml_login import TotpStore, login, new_session, resolve_hosts

ROOT = Path(__file__).resolve().parents[1]
# the frontend suite's hub client: spawns through the options form where a cluster has one
sys.path.insert(0, str(ROOT / "molecule" / "frontend" / "tests"))
from hubclient import wait_for_server  # noqa: E402

SEGMENT = "hpc"
USER = "alice"


def find_endpoint() -> Path:
    found = sorted(
        glob.glob(os.path.expanduser("~/.ansible/tmp/molecule.*.frontend/frontend-endpoint.json")),
        key=os.path.getmtime,
    )
    if not found:
        sys.exit("no frontend-endpoint.json: run `molecule converge/verify -s frontend` first")
    return Path(found[-1])


def check_targets(hosts: dict[str, str]) -> None:
    """Only ever load the scenario's containers: private addresses only."""
    for name, address in hosts.items():
        if not ipaddress.ip_address(address).is_private:
            sys.exit(f"{name} is {address}, not a private address: refusing to load it")


def cookie_header(session: requests.Session, url: str) -> str:
    return session.prepare_request(requests.Request("GET", url)).headers.get("Cookie", "")


def clone(session: requests.Session, endpoint: dict) -> requests.Session:
    """Another keep-alive client of the same browser (same cookies, own connection)."""
    other = new_session(endpoint["ca_file"], endpoint["hosts"])
    for cookie in session.cookies:
        other.cookies.set_cookie(cookie)
    return other


def http_round(make_client, url: str, requests_total: int, workers: int) -> float:
    """Requests per second of `workers` keep-alive clients sharing `requests_total` GETs."""
    clients = [make_client() for _ in range(workers)]
    for client in clients:  # open the connections (and TLS sessions) before timing
        client.get(url, timeout=30).raise_for_status()
    share = requests_total // workers

    def run(client):
        for _ in range(share):
            reply = client.get(url, timeout=30)
            if reply.status_code != 200:
                raise RuntimeError(f"{url}: {reply.status_code}")

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(run, clients))
    elapsed = time.perf_counter() - started
    for client in clients:
        client.close()
    return share * workers / elapsed


def kernel_info_rtts(ws: websocket.WebSocket, count: int) -> list[float]:
    session = uuid.uuid4().hex
    samples = []
    for _ in range(count):
        msg_id = uuid.uuid4().hex
        message = {
            "header": {
                "msg_id": msg_id,
                "username": USER,
                "session": session,
                "msg_type": "kernel_info_request",
                "version": "5.3",
                "date": "",
            },
            "parent_header": {},
            "metadata": {},
            "content": {},
            "channel": "shell",
            "buffers": [],
        }
        started = time.perf_counter()
        ws.send(json.dumps(message))
        while True:
            reply = json.loads(ws.recv())
            if (
                reply.get("msg_type") == "kernel_info_reply"
                and reply.get("parent_header", {}).get("msg_id") == msg_id
            ):
                break
        samples.append(time.perf_counter() - started)
    return samples


def ping_rtts(ws: websocket.WebSocket, count: int) -> list[float]:
    """WebSocket ping -> pong: the transport alone (the notebook server answers, no kernel)."""
    samples = []
    for number in range(count):
        payload = f"bench-{number}".encode()
        started = time.perf_counter()
        ws.ping(payload)
        while True:
            opcode, frame = ws.recv_data_frame(True)
            if opcode == websocket.ABNF.OPCODE_PONG and frame.data == payload:
                break
        samples.append(time.perf_counter() - started)
    return samples


def summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "p95": ordered[max(0, int(len(ordered) * 0.95) - 1)],
        "n": len(ordered),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=400, help="HTTP requests per round")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--messages", type=int, default=200, help="websocket messages per round")
    args = parser.parse_args()

    endpoint = json.loads((args.endpoint or find_endpoint()).read_text())
    check_targets(endpoint["hosts"])
    site = endpoint["public_url"].rstrip("/")
    password = (Path(endpoint["passwords_dir"]) / USER).read_text().strip()
    totp = TotpStore(endpoint["totp_dir"])
    if not totp.has(USER):
        sys.exit(f"no TOTP secret for {USER}: run `molecule verify -s frontend` first")
    (cluster,) = [c for c in endpoint["clusters"] if c["segment"] == SEGMENT]

    with resolve_hosts(endpoint["hosts"]):
        browser = new_session(endpoint["ca_file"], endpoint["hosts"])
        login(browser, f"{site}/jupyterhub/{SEGMENT}/", USER, password, totp)
        hub = f"{site}/jupyterhub/{SEGMENT}/hub"
        # also opens a page of the server: only pages run the OAuth round trip that sets the
        # server cookie
        wait_for_server(browser, site, SEGMENT, USER, spawn_form=cluster.get("spawn_form"))
        user_path = f"/jupyterhub/{SEGMENT}/user/{USER}/"
        route = browser.cookies.get("ROUTEID", path=f"/jupyterhub/{SEGMENT}/").lstrip(".")
        instance = next(i for i in cluster["instances"] if i["route"] == route)
        direct = f"http://{instance['host']}:{instance['port']}{user_path}"

        # an API token for the direct path (the proxy is reached without the frontend)
        hub_xsrf = browser.cookies.get("_xsrf", path=f"/jupyterhub/{SEGMENT}/hub/")
        made = browser.post(
            f"{hub}/api/users/{USER}/tokens",
            json={"note": "bench/frontend_overhead.py", "expires_in": 3600},
            headers={"X-XSRFToken": hub_xsrf},
            timeout=30,
        )
        made.raise_for_status()
        token = made.json()["token"]

        def direct_client():
            client = new_session(endpoint["ca_file"], endpoint["hosts"])
            client.headers["Authorization"] = f"token {token}"
            return client

        # one kernel, two websockets onto it
        server_xsrf = browser.cookies.get("_xsrf", path=user_path)
        kernel = browser.post(
            f"{site}{user_path}api/kernels",
            json={"name": "python3"},
            headers={"X-XSRFToken": server_xsrf},
            timeout=60,
        )
        kernel.raise_for_status()
        kernel_id = kernel.json()["id"]
        # one client session per socket: a second socket with the same id replaces the first
        channels = f"{user_path}api/kernels/{kernel_id}/channels?session_id="
        ws_front = websocket.create_connection(
            f"wss://{urlsplit(site).netloc}{channels}{uuid.uuid4().hex}",
            cookie=cookie_header(browser, f"{site}{user_path}api/kernels"),
            origin=site,
            header=[f"X-XSRFToken: {server_xsrf}"],
            sslopt={"ca_certs": endpoint["ca_file"]},
            timeout=60,
        )
        ws_direct = websocket.create_connection(
            f"ws://{instance['host']}:{instance['port']}{channels}{uuid.uuid4().hex}",
            header=[f"Authorization: token {token}"],
            timeout=60,
        )
        kernel_info_rtts(ws_front, 20)  # warm up both paths and the kernel
        kernel_info_rtts(ws_direct, 20)

        rps = {"frontend": [], "direct": []}
        rtt = {"frontend": [], "direct": []}
        ping = {"frontend": [], "direct": []}
        try:
            for number in range(args.rounds):
                rps["frontend"].append(
                    http_round(
                        lambda: clone(browser, endpoint),
                        f"{site}{user_path}api/status",
                        args.requests,
                        args.workers,
                    )
                )
                rps["direct"].append(
                    http_round(direct_client, f"{direct}api/status", args.requests, args.workers)
                )
                rtt["frontend"] += kernel_info_rtts(ws_front, args.messages)
                rtt["direct"] += kernel_info_rtts(ws_direct, args.messages)
                ping["frontend"] += ping_rtts(ws_front, args.messages)
                ping["direct"] += ping_rtts(ws_direct, args.messages)
                print(
                    f"round {number + 1}/{args.rounds}: "
                    f"{rps['frontend'][-1]:.0f} vs {rps['direct'][-1]:.0f} req/s",
                    file=sys.stderr,
                )
        finally:
            ws_front.close()
            ws_direct.close()
            browser.delete(
                f"{site}{user_path}api/kernels/{kernel_id}",
                headers={"X-XSRFToken": server_xsrf},
                timeout=60,
            )

    result = {
        "setup": {
            "rounds": args.rounds,
            "requests_per_round": args.requests,
            "workers": args.workers,
            "messages_per_round": args.messages,
            "instance": route,
            "frontend": f"{site}{user_path}api/status (HTTPS, mellon, balancer)",
            "direct": f"{direct}api/status (HTTP to the instance's proxy, API token)",
        },
        "http_requests_per_second": {
            path: {"median": statistics.median(values), "rounds": values}
            for path, values in rps.items()
        },
        "websocket_rtt_seconds": {path: summary(values) for path, values in rtt.items()},
        "websocket_ping_seconds": {path: summary(values) for path, values in ping.items()},
    }
    result["ratios"] = {
        # < 1: the frontend serves fewer requests per second than the hub's proxy alone
        "http_rps_frontend_over_direct": (
            result["http_requests_per_second"]["frontend"]["median"]
            / result["http_requests_per_second"]["direct"]["median"]
        ),
        # > 1: a websocket round trip through the frontend takes longer
        "ws_rtt_median_frontend_over_direct": (
            result["websocket_rtt_seconds"]["frontend"]["median"]
            / result["websocket_rtt_seconds"]["direct"]["median"]
        ),
        "ws_rtt_p95_frontend_over_direct": (
            result["websocket_rtt_seconds"]["frontend"]["p95"]
            / result["websocket_rtt_seconds"]["direct"]["p95"]
        ),
        "ws_ping_median_frontend_over_direct": (
            result["websocket_ping_seconds"]["frontend"]["median"]
            / result["websocket_ping_seconds"]["direct"]["median"]
        ),
    }
    out = ROOT / "artifacts" / "bench" / "frontend_overhead.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    http = result["http_requests_per_second"]
    ws = result["websocket_rtt_seconds"]
    ratios = result["ratios"]
    print(f"HTTP GET api/status, {args.workers} clients, median of {args.rounds} rounds:")
    print(f"  frontend {http['frontend']['median']:8.1f} req/s")
    print(f"  direct   {http['direct']['median']:8.1f} req/s")
    print(f"  ratio    {ratios['http_rps_frontend_over_direct']:8.2f} (frontend / direct)")
    print(f"websocket kernel_info round trip, {len(rtt['frontend'])} messages per path:")
    for path in ("frontend", "direct"):
        print(
            f"  {path:8} median {ws[path]['median'] * 1000:7.2f} ms"
            f"   p95 {ws[path]['p95'] * 1000:7.2f} ms"
        )
    print(
        f"  ratio    median {ratios['ws_rtt_median_frontend_over_direct']:7.2f}"
        f"   p95 {ratios['ws_rtt_p95_frontend_over_direct']:7.2f} (frontend / direct)"
    )
    pings = result["websocket_ping_seconds"]
    print("websocket ping/pong (transport only, answered by the notebook server):")
    for path in ("frontend", "direct"):
        print(
            f"  {path:8} median {pings[path]['median'] * 1000:7.2f} ms"
            f"   p95 {pings[path]['p95'] * 1000:7.2f} ms"
        )
    ping_ratio = ratios["ws_ping_median_frontend_over_direct"]
    print(f"  ratio    median {ping_ratio:7.2f} (frontend / direct)")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
