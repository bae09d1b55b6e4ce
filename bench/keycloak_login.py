"""Full browser-style Keycloak logins (password + TOTP) against the `identity` scenario.

Needs the scenario converged (`molecule converge -s identity`); reads the endpoint
description converge.yml wrote in molecule's ephemeral directory. Creates its own
users (bench-*), enrolls a TOTP device for each through the real setup page, then:
  1. latency: one login at a time, median and p95 of a full login
     (login page, password, OTP code, redirect back with an authorization code);
  2. throughput: WORKERS logins in parallel, logins per second over the run.
Each login is a fresh browser session (new TLS connection, no cookies). The run is
bounded (fixed number of logins) and removes its users at the end. Prints the figures
and writes artifacts/bench/keycloak_login.json.

Usage: python bench/keycloak_login.py [--endpoint FILE] [--sequential 20]
                                      [--workers 2] [--per-worker 25]
"""

from __future__ import annotations

import argparse
import glob
import ipaddress
import json
import os
import secrets
import statistics
import sys
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from sitehub.testing.keycloak_login import KeycloakLogin, TotpDevice

ROOT = Path(__file__).resolve().parents[1]


def find_endpoint() -> Path:
    found = sorted(
        glob.glob(os.path.expanduser("~/.ansible/tmp/molecule.*.identity/keycloak-endpoint.json")),
        key=os.path.getmtime,
    )
    if not found:
        sys.exit("no keycloak-endpoint.json: run `molecule converge -s identity` first")
    return Path(found[-1])


def check_target(base_url: str) -> None:
    """Only ever load a test container: refuse anything but a private or loopback address."""
    host = urllib.parse.urlsplit(base_url).hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        sys.exit(f"{base_url}: expected the scenario container's address, not a name")
    if not (address.is_private or address.is_loopback):
        sys.exit(f"{base_url}: not a private address, refusing to load it")


class Admin:
    def __init__(self, endpoint: dict):
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.verify = endpoint["ca_file"]
        # the admin listener: the public one refuses the admin API and the master realm
        self.base = endpoint["admin_url"]
        self.realm = endpoint["realm"]
        self.auth = {
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": endpoint["admin_username"],
            "password": Path(endpoint["admin_password_file"]).read_text().strip(),
        }

    def call(self, method: str, path: str, **kwargs):
        token = self.http.post(
            f"{self.base}/realms/master/protocol/openid-connect/token", data=self.auth, timeout=60
        )
        token.raise_for_status()
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        url = f"{self.base}/admin/realms/{self.realm}{path}"
        response = self.http.request(method, url, headers=headers, timeout=60, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def create_user(self, username: str, password: str) -> None:
        self.call(
            "POST",
            "/users",
            json={
                "username": username,
                "enabled": True,
                "email": f"{username}@bench.invalid",
                "emailVerified": True,
                "firstName": "Bench",
                "lastName": "User",
                "credentials": [{"type": "password", "value": password, "temporary": False}],
            },
        )

    def delete_bench_users(self) -> int:
        users = self.call("GET", "/users", params={"search": "bench-", "max": 1000})
        for user in users:
            if user["username"].startswith("bench-"):
                self.call("DELETE", f"/users/{user['id']}")
        return len(users)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary(seconds: list[float]) -> dict:
    return {
        "count": len(seconds),
        "median_ms": round(statistics.median(seconds) * 1000, 1),
        "p95_ms": round(percentile(seconds, 0.95) * 1000, 1),
        "min_ms": round(min(seconds) * 1000, 1),
        "max_ms": round(max(seconds) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", type=Path, default=None)
    parser.add_argument("--sequential", type=int, default=20, help="logins for latency")
    parser.add_argument("--workers", type=int, default=2, help="parallel logins for throughput")
    parser.add_argument("--per-worker", type=int, default=25, help="logins per worker")
    args = parser.parse_args()

    endpoint_file = args.endpoint or find_endpoint()
    endpoint = json.loads(endpoint_file.read_text())
    check_target(endpoint["base_url"])
    check_target(endpoint["admin_url"])
    otp = endpoint["otp"]
    otp_params = {
        "algorithm": otp["algorithm"],
        "digits": int(otp["digits"]),
        "period": int(otp["period"]),
    }
    kc = KeycloakLogin(endpoint["base_url"], endpoint["realm"], endpoint["ca_file"])
    admin = Admin(endpoint)
    admin.delete_bench_users()

    total = args.sequential + args.workers * args.per_worker
    run = secrets.token_hex(3)
    users: list[tuple[str, str, TotpDevice]] = []

    def enroll(index: int) -> tuple[str, str, TotpDevice, float]:
        username, password = f"bench-{run}-{index:04d}", secrets.token_urlsafe(18)
        admin.create_user(username, password)
        result = kc.login(username, password, enroll=True, otp_params=otp_params)
        if not result.ok:
            raise RuntimeError(f"enrolling {username}: {result.outcome} {result.error}")
        return username, password, result.device, result.seconds

    load_before = os.getloadavg()
    print(f"Keycloak at {endpoint['base_url']} realm {endpoint['realm']}; load {load_before}")
    print(f"enrolling {total} users through the TOTP setup page ...", flush=True)
    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.workers) as pool:
            enrolled = list(pool.map(enroll, range(total)))
        enroll_wall = time.perf_counter() - started
        users = [(u, p, d) for u, p, d, _ in enrolled]
        enroll_seconds = [s for *_, s in enrolled]

        def login(user: tuple[str, str, TotpDevice]) -> float:
            username, password, device = user
            result = kc.login(username, password, device=device)
            if not result.ok:
                raise RuntimeError(f"login {username}: {result.outcome} {result.error}")
            return result.seconds

        sequential = [login(user) for user in users[: args.sequential]]

        parallel_users = users[args.sequential :]
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.workers) as pool:
            parallel = list(pool.map(login, parallel_users))
        wall = time.perf_counter() - started
    finally:
        admin.delete_bench_users()
    load_after = os.getloadavg()

    results = {
        "keycloak": endpoint["base_url"],
        "what": "one full browser login: login page, password, TOTP code, redirect with code",
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "enrollment": dict(summary(enroll_seconds), wall_s=round(enroll_wall, 1)),
        "latency_one_at_a_time": summary(sequential),
        "throughput": dict(
            summary(parallel),
            workers=args.workers,
            wall_s=round(wall, 2),
            logins_per_s=round(len(parallel) / wall, 2),
        ),
    }
    lat, thr = results["latency_one_at_a_time"], results["throughput"]
    print(
        f"one login at a time ({lat['count']}): median {lat['median_ms']} ms, "
        f"p95 {lat['p95_ms']} ms"
    )
    print(
        f"{args.workers} workers x {args.per_worker}: {thr['logins_per_s']} logins/s "
        f"(median {thr['median_ms']} ms, p95 {thr['p95_ms']} ms, {thr['wall_s']} s)"
    )
    print(f"load average before {load_before}, after {load_after}")
    out = ROOT / "artifacts/bench/keycloak_login.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
