"""Drive a hub the way the frontend and a browser do, and print what happened as JSON.

Runs with the hub venv's Python (tornado is there):
  hubcheck.py spawn URL USER [--options JSON]   header login, REST spawn, progress, token,
                                                kernel code over the websocket
  hubcheck.py exec  URL USER --token T          server reachable + kernel code again
  hubcheck.py stop  URL USER --token T          stop the server through the REST API
  hubcheck.py login URL USER                    header login only
  hubcheck.py form  URL USER                    header login, the spawn form's embedded choices
  hubcheck.py reset URL USER                    header login, stop the user's server if one runs
URL is the hub's public base, e.g. http://127.0.0.1:8000/jupyterhub/alpha/
--code CODE: what spawn and exec run in the kernel (default: print 42, the uid and the host).
--secret-file FILE: send the frontend's secret (X-Sitehub-Frontend-Secret) with every request, as
the frontend does, for hubs that require it (run from a frontend address then).
"""

import argparse
import asyncio
import contextlib
import datetime
import json
import sys
import time
import uuid
from http.cookies import SimpleCookie

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

HEADER = "X-Sitehub-User"
FRONTEND_HEADER = "X-Sitehub-Frontend-Secret"


class Client:
    # from --secret-file: sent with every request in FRONTEND_HEADER, as the frontend does
    frontend_secret = ""

    def __init__(self, base, user):
        self.base = base.rstrip("/") + "/"
        self.user = user
        self.cookies = {}
        self.http = AsyncHTTPClient()

    async def fetch(self, method, path, body=None, token=None, headers=None, stream=None):
        h = dict(headers or {})
        if self.frontend_secret:
            h[FRONTEND_HEADER] = self.frontend_secret
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            if method not in ("GET", "HEAD") and "_xsrf" in self.cookies:
                h["X-XSRFToken"] = self.cookies["_xsrf"]
        if token:
            h["Authorization"] = f"token {token}"
        data = None
        if body is not None:
            data = json.dumps(body)
            h["Content-Type"] = "application/json"
        elif method in ("POST", "PUT", "PATCH"):
            data = ""
        req = HTTPRequest(
            self.base + path,
            method=method,
            body=data,
            headers=h,
            follow_redirects=False,
            request_timeout=120,
            streaming_callback=stream,
        )
        resp = await self.http.fetch(req, raise_error=False)
        for raw in resp.headers.get_list("Set-Cookie"):
            jar = SimpleCookie()
            jar.load(raw)
            for key, morsel in jar.items():
                self.cookies[key] = morsel.value
        return resp

    async def login(self):
        resp = await self.fetch("GET", "hub/login", headers={HEADER: self.user})
        if resp.code != 302:
            return resp.code, resp.body.decode(errors="replace")[:400]
        home = await self.fetch("GET", "hub/home")
        return home.code, ""

    async def token(self):
        resp = await self.fetch(
            "POST", f"hub/api/users/{self.user}/tokens", {"note": "hubcheck", "expires_in": 3600}
        )
        assert resp.code in (200, 201), (resp.code, resp.body)
        return json.loads(resp.body)["token"]


def event_lines(buf):
    """Parse 'data: {...}' lines of an event stream."""
    out = []
    for line in buf.decode(errors="replace").splitlines():
        if line.startswith("data:"):
            with contextlib.suppress(ValueError):
                out.append(json.loads(line[5:].strip()))
    return out


async def wait_ready(c, timeout):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        resp = await c.fetch("GET", f"hub/api/users/{c.user}")
        info = json.loads(resp.body)
        server = info.get("servers", {}).get("")
        if server and server.get("ready"):
            return server
        if not info.get("pending") and not server:
            raise RuntimeError(f"server gone while starting: {info}")
        await asyncio.sleep(0.5)
    raise TimeoutError("server not ready")


async def run_code(c, token, code):
    resp = await c.fetch("POST", f"user/{c.user}/api/kernels", {"name": "python3"}, token=token)
    assert resp.code == 201, (resp.code, resp.body[:300])
    kernel = json.loads(resp.body)["id"]
    ws_url = c.base.replace("http", "ws", 1) + f"user/{c.user}/api/kernels/{kernel}/channels"
    ws_url += f"?session_id={uuid.uuid4().hex}"
    conn = await websocket_connect(
        HTTPRequest(ws_url, headers={"Authorization": f"token {token}"}, request_timeout=60)
    )
    msg_id, session = uuid.uuid4().hex, uuid.uuid4().hex
    now = datetime.datetime.now(datetime.UTC).isoformat()
    conn.write_message(
        json.dumps(
            {
                "header": {"msg_id": msg_id, "username": c.user, "session": session,
                           "msg_type": "execute_request", "version": "5.3", "date": now},
                "parent_header": {},
                "metadata": {},
                "content": {"code": code, "silent": False, "store_history": False,
                            "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
                "channel": "shell",
                "buffers": [],
            }
        )
    )  # fmt: skip
    # the reply (shell) can overtake the output (iopub): read until both the reply and the
    # kernel's "idle" status for this request have arrived
    out, status, idle = "", None, False
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and (status is None or not idle):
        raw = await asyncio.wait_for(conn.read_message(), timeout=90)
        if raw is None:
            break
        msg = json.loads(raw)
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            out += msg["content"]["text"]
        elif msg["msg_type"] == "execute_reply":
            status = msg["content"]["status"]
        elif msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
            idle = True
    conn.close()
    await c.fetch("DELETE", f"user/{c.user}/api/kernels/{kernel}", token=token)
    return {"stdout": out.strip(), "status": status, "kernel": kernel}


CODE = "import os, socket; print(6 * 7, os.getuid(), socket.gethostname())"
# What a user could try from inside their server: rewrite the spawner through batchspawner's
# port-report API with the server's own token (stock batchspawner 1.3.0 would setattr it).
FORGE = """
import json, os, urllib.error, urllib.request
def post(body):
    req = urllib.request.Request(
        os.environ["JUPYTERHUB_API_URL"] + "/batchspawner", data=json.dumps(body).encode(),
        headers={"Authorization": "token " + os.environ["JUPYTERHUB_API_TOKEN"],
                 "Content-Type": "application/json"}, method="POST")
    try:
        return urllib.request.urlopen(req).status
    except urllib.error.HTTPError as e:
        return e.code
print(post({"exec_prefix": "touch /tmp/pwned"}), post({"port": 1}))
"""


async def stop_existing(c):
    """A server left from an earlier run (verify may run twice): stop it first."""
    info = json.loads((await c.fetch("GET", f"hub/api/users/{c.user}")).body)
    if not info.get("servers"):
        return
    await c.fetch("DELETE", f"hub/api/users/{c.user}/server")
    for _ in range(120):
        info = json.loads((await c.fetch("GET", f"hub/api/users/{c.user}")).body)
        if not info.get("servers") and not info.get("pending"):
            return
        await asyncio.sleep(0.5)


async def spawn(args):
    c = Client(args.url, args.user)
    result = {}
    code, why = await c.login()
    assert code == 200, (code, why)
    await stop_existing(c)
    t0 = time.monotonic()
    request = asyncio.ensure_future(
        c.fetch("POST", f"hub/api/users/{c.user}/server", json.loads(args.options))
    )
    # The hub answers the POST only when the server is up (or after slow_spawn_timeout), and a
    # progress stream opened after a fast spawn shows just "ready": open it while pending.
    buf = bytearray()
    progress = None
    while not request.done():
        model = await c.fetch("GET", f"hub/api/users/{c.user}")
        if model.code == 200 and json.loads(model.body).get("pending") == "spawn":
            progress = asyncio.ensure_future(
                c.fetch("GET", f"hub/api/users/{c.user}/server/progress", stream=buf.extend)
            )
            break
        await asyncio.sleep(0.1)
    resp = await request
    result["spawn_status"] = resp.code
    if resp.code not in (201, 202):
        result["spawn_error"] = resp.body.decode(errors="replace")[:500]
        print(json.dumps(result))
        return 0
    if progress is None:  # spawned before the first look: only "ready" is left to see
        progress = asyncio.ensure_future(
            c.fetch("GET", f"hub/api/users/{c.user}/server/progress", stream=buf.extend)
        )
    try:
        await wait_ready(c, timeout=args.timeout)
    except (RuntimeError, TimeoutError) as exc:
        # a spawn that fails after the API accepted it: report the hub's own message
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(progress, timeout=10)
        events = event_lines(bytes(buf))
        result["progress"] = [e.get("message") for e in events]
        result["spawn_failed"] = next(
            (e.get("message") for e in events if e.get("failed")), str(exc)
        )
        print(json.dumps(result))
        return 0
    result["spawn_seconds"] = round(time.monotonic() - t0, 2)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(progress, timeout=10)
    result["progress"] = [e.get("message") for e in event_lines(bytes(buf))]
    token = await c.token()
    status = await c.fetch("GET", f"user/{c.user}/api/status", token=token)
    result["server_status"] = status.code
    result["csp"] = status.headers.get("Content-Security-Policy", "")
    result["kernel"] = await run_code(c, token, args.code)
    result["forged_port_report"] = (await run_code(c, token, FORGE))["stdout"]
    result["token"] = token
    print(json.dumps(result))
    return 0


async def exec_(args):
    c = Client(args.url, args.user)
    status = await c.fetch("GET", f"user/{c.user}/api/status", token=args.token)
    result = {"server_status": status.code}
    if status.code == 200:
        result["kernel"] = await run_code(c, args.token, args.code)
    print(json.dumps(result))
    return 0


async def stop(args):
    c = Client(args.url, args.user)
    resp = await c.fetch("DELETE", f"hub/api/users/{c.user}/server", token=args.token)
    result = {"stop_status": resp.code}
    for _ in range(120):
        info = json.loads((await c.fetch("GET", f"hub/api/users/{c.user}", token=args.token)).body)
        if not info.get("servers") and not info.get("pending"):
            break
        await asyncio.sleep(0.5)
    result["servers"] = info.get("servers")
    print(json.dumps(result))
    return 0


async def form(args):
    c = Client(args.url, args.user)
    code, why = await c.login()
    assert code == 200, (code, why)
    resp = await c.fetch("GET", "hub/spawn")
    page = resp.body.decode(errors="replace")
    start = page.find('id="sitehub-options-data">')
    data = None
    if start >= 0:
        start = page.index(">", start) + 1
        data = json.loads(page[start : page.index("</script>", start)])
    print(json.dumps({"status": resp.code, "choices": data}))
    return 0


async def reset(args):
    c = Client(args.url, args.user)
    code, why = await c.login()
    result = {"login_status": code}
    if code == 200:
        await stop_existing(c)
        info = json.loads((await c.fetch("GET", f"hub/api/users/{c.user}")).body)
        result["servers"] = info.get("servers")
        result["pending"] = info.get("pending")
    else:
        result["login_error"] = why
    print(json.dumps(result))
    return 0


async def login(args):
    c = Client(args.url, args.user)
    resp = await c.fetch("GET", "hub/login", headers={HEADER: args.user})
    print(json.dumps({"status": resp.code, "body": resp.body.decode(errors="replace")[-300:]}))
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("action", choices=["spawn", "exec", "stop", "login", "form", "reset"])
    p.add_argument("url")
    p.add_argument("user")
    p.add_argument("--token", default="")
    p.add_argument("--options", default="{}")
    p.add_argument("--timeout", type=float, default=180, help="seconds to wait for the server")
    p.add_argument("--secret-file", default="", help="file with the frontend's header secret")
    p.add_argument("--code", default=CODE, help="the code spawn and exec run in the kernel")
    args = p.parse_args()
    if args.secret_file:
        with open(args.secret_file, encoding="utf-8") as f:
            Client.frontend_secret = f.read().strip()
    actions = {"spawn": spawn, "exec": exec_, "stop": stop, "login": login, "form": form}
    actions["reset"] = reset
    return asyncio.run(actions[args.action](args))


if __name__ == "__main__":
    sys.exit(main())
