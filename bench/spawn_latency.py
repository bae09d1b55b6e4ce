"""Spawn latency: "click" (REST spawn request) to "server reachable through the proxy".

Runs on a host that may send the user header (a frontend address; in the `hubs` scenario the
hub host itself, 127.0.0.1), with the hub venv's Python (it needs only tornado):

    python spawn_latency.py --hub sitehub=http://127.0.0.1:8000/jupyterhub/slurm/ \\
        --hub stock=http://127.0.0.1:8200/jupyterhub/stock/ \\
        --user alice --concurrent-users bench01,...,bench10 --sequential 20 \\
        --options '{"partition": "debug", "runtime": 10}' > latency.json

Hubs behind a frontend that also sends a secret header (the demo) need --secret-file; hubs of
different schedulers take their own options (--options-for NAME=JSON), e.g. the demo's Slurm
and HTCondor clusters side by side (bench/demo_spawn_latency.py runs that on the demo).

N sequential spawns of one user (spawn, wait reachable, stop), alternating between the hubs
sample by sample, then a round of concurrent spawns of distinct users on each hub. Prints JSON
with every sample, median / p95 per hub and the ratios of the medians, so sitehub's spawner and
stock batchspawner settings are compared in the same run under the same load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from http.cookies import SimpleCookie

HEADER = "X-Sitehub-User"
FRONTEND_HEADER = "X-Sitehub-Frontend-Secret"


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (p95 of 20 samples is the 19th smallest)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def summary(samples: list[float]) -> dict:
    return {
        "n": len(samples),
        "median_s": round(statistics.median(samples), 2) if samples else None,
        "p95_s": round(percentile(samples, 95), 2) if samples else None,
        "max_s": round(max(samples), 2) if samples else None,
    }


class Session:
    """One user's browser-like session: header login, cookies, xsrf, a token for the server."""

    # from --secret-file: sent with every request, as the frontend does
    frontend_secret = ""

    def __init__(self, base: str, user: str):
        from tornado.httpclient import AsyncHTTPClient

        self.base = base.rstrip("/") + "/"
        self.user = user
        self.cookies: dict[str, str] = {}
        self.http = AsyncHTTPClient(max_clients=64)
        self.token = ""

    async def fetch(self, method: str, path: str, body=None, headers=None, auth=False):
        from tornado.httpclient import HTTPRequest

        h = dict(headers or {})
        if self.frontend_secret:
            h[FRONTEND_HEADER] = self.frontend_secret
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            if method != "GET" and "_xsrf" in self.cookies:
                h["X-XSRFToken"] = self.cookies["_xsrf"]
        if auth:
            h["Authorization"] = f"token {self.token}"
        data = json.dumps(body) if body is not None else ("" if method == "POST" else None)
        if data is not None:
            h["Content-Type"] = "application/json"
        req = HTTPRequest(
            self.base + path, method=method, body=data, headers=h,
            follow_redirects=False, request_timeout=600,
        )  # fmt: skip
        resp = await self.http.fetch(req, raise_error=False)
        for raw in resp.headers.get_list("Set-Cookie"):
            jar = SimpleCookie()
            jar.load(raw)
            self.cookies.update({k: m.value for k, m in jar.items()})
        return resp

    async def login(self) -> None:
        resp = await self.fetch("GET", "hub/login", headers={HEADER: self.user})
        if resp.code != 302:
            raise RuntimeError(f"login of {self.user} refused: {resp.code}")
        await self.fetch("GET", "hub/home")
        tok = await self.fetch("POST", f"hub/api/users/{self.user}/tokens", {"note": "bench"})
        if tok.code not in (200, 201):
            raise RuntimeError(f"token for {self.user}: {tok.code} {tok.body[:200]!r}")
        self.token = json.loads(tok.body)["token"]

    async def stop(self) -> None:
        await self.fetch("DELETE", f"hub/api/users/{self.user}/server")
        for _ in range(600):
            info = json.loads((await self.fetch("GET", f"hub/api/users/{self.user}")).body)
            if not info.get("servers") and not info.get("pending"):
                return
            await asyncio.sleep(0.2)

    async def spawn_seconds(self, options: dict, timeout: float) -> float:
        """Seconds from the spawn request to the first 200 from the server via the proxy."""
        await self.stop()
        t0 = time.monotonic()
        resp = await self.fetch("POST", f"hub/api/users/{self.user}/server", options)
        if resp.code not in (201, 202):
            raise RuntimeError(f"spawn of {self.user}: {resp.code} {resp.body[:300]!r}")
        while time.monotonic() - t0 < timeout:
            status = await self.fetch("GET", f"user/{self.user}/api/status", auth=True)
            if status.code == 200:
                return time.monotonic() - t0
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.user}'s server not reachable after {timeout}s")


async def bench(hubs, user, concurrent_users, sequential, options, timeout) -> list[dict]:
    """Sequential spawns alternate between the hubs sample by sample, then each hub gets its
    concurrent round in turn: the machine's load drifts, and alternating spreads the drift
    over every hub instead of favouring whichever ran last."""
    firsts = {name: Session(base, user) for name, base in hubs}
    await asyncio.gather(*(s.login() for s in firsts.values()))
    results = {name: {"hub": name, "url": base, "seq": [], "conc": []} for name, base in hubs}
    for i in range(sequential):
        for name, _ in hubs:
            if "error" in results[name]:
                continue
            try:
                took = await firsts[name].spawn_seconds(options[name], timeout)
            except (RuntimeError, TimeoutError, OSError) as exc:  # keep the other hubs' figures
                results[name]["error"] = str(exc)
                print(f"{name}: {exc}", file=sys.stderr)
                continue
            results[name]["seq"].append(took)
            print(f"{name}: sequential spawn {i + 1}/{sequential}: {took:.2f} s", file=sys.stderr)
    await asyncio.gather(*(s.stop() for s in firsts.values()))
    for name, base in hubs:
        if "error" in results[name] or not concurrent_users:
            continue
        sessions = [Session(base, u) for u in concurrent_users]
        await asyncio.gather(*(s.login() for s in sessions))
        try:
            conc = await asyncio.gather(
                *(s.spawn_seconds(options[name], timeout) for s in sessions)
            )
        except (RuntimeError, TimeoutError, OSError) as exc:
            results[name]["error"] = str(exc)
            conc = []
        await asyncio.gather(*(s.stop() for s in sessions))
        results[name]["conc"] = list(conc)
        print(f"{name}: {len(conc)} concurrent spawns: {sorted(round(x, 1) for x in conc)}",
              file=sys.stderr)  # fmt: skip
    out = []
    for r in results.values():
        seq, conc = r.pop("seq"), r.pop("conc")
        r["sequential"] = {"samples": [round(x, 2) for x in seq], **summary(seq)}
        r["concurrent"] = {"samples": [round(x, 2) for x in conc], **summary(conc)}
        out.append(r)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hub", action="append", required=True, help="NAME=BASE_URL (repeatable)")
    p.add_argument("--user", required=True, help="user for the sequential spawns")
    p.add_argument("--concurrent-users", default="", help="comma list for the concurrent round")
    p.add_argument("--sequential", type=int, default=20)
    p.add_argument("--options", default="{}", help="user_options JSON for every spawn")
    p.add_argument(
        "--options-for", action="append", default=[], help="NAME=JSON: one hub's own options"
    )
    p.add_argument("--secret-file", default="", help="file with the frontend's header secret")
    p.add_argument("--timeout", type=float, default=300.0)
    args = p.parse_args(argv)
    hubs = [h.split("=", 1) for h in args.hub]
    users = [u for u in args.concurrent_users.split(",") if u]
    options = {name: json.loads(args.options) for name, _ in hubs}
    for item in args.options_for:
        name, text = item.split("=", 1)
        options[name] = json.loads(text)
    if args.secret_file:
        with open(args.secret_file, encoding="utf-8") as handle:
            Session.frontend_secret = handle.read().strip()

    results = asyncio.run(bench(hubs, args.user, users, args.sequential, options, args.timeout))
    medians = {
        r["hub"]: (r["sequential"]["median_s"], r["concurrent"]["median_s"])
        for r in results
        if r["sequential"]["n"] and r["concurrent"]["n"]
    }
    ratios = {}
    if len(medians) >= 2:
        (a, (a_seq, a_conc)), (b, (b_seq, b_conc)) = list(medians.items())[:2]
        ratios = {
            f"{a}/{b} sequential median": round(a_seq / b_seq, 3),
            f"{a}/{b} concurrent median": round(a_conc / b_conc, 3),
        }
    json.dump({"results": results, "ratios": ratios}, sys.stdout, indent=2)
    print()
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
