"""Small helpers to use a hub through the frontend like JupyterLab does (REST + websocket)."""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import urljoin, urlsplit

import requests
import websocket

from sitehub.testing.saml_login import parse_forms


def wait_for_server(session, site, segment, username, timeout=300, spawn_form=None):
    """Wait until the user's default server on the cluster is ready; returns the user model.

    spawn_form: the fields to submit when the cluster's hub shows an options form (GET
    /hub/spawn then shows the form instead of spawning); None: the GET spawns.
    """
    hub = f"{site}/jupyterhub/{segment}/hub"
    deadline = time.monotonic() + timeout
    while True:
        model = session.get(f"{hub}/api/user", timeout=30).json()
        server = model.get("servers", {}).get("")
        if server and spawn_form and not started_with(server, spawn_form):
            # started elsewhere with other choices (e.g. a Slurm job, not on the hub host)
            raise RuntimeError(
                f"{username}'s server on {segment} runs with options {server.get('user_options')}, "
                f"not {spawn_form}: stop it first"
            )
        if server and server.get("ready"):
            # open a page of the server (as a browser does): only pages, not its API, run the
            # OAuth round trip with the hub that sets the server's own cookie
            page = session.get(f"{site}/jupyterhub/{segment}/user/{username}/lab", timeout=60)
            page.raise_for_status()
            return model
        if not server or not server.get("pending"):
            # no server yet (or it stopped): ask the hub to start one
            request_spawn(session, hub, spawn_form)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{username}'s server on {segment} not ready: {model}")
        time.sleep(1)


def started_with(server, spawn_form):
    """Whether the server was started with the form's fields set (its user_options)."""
    chosen = server.get("user_options") or {}
    return all(chosen.get(name) for name in spawn_form)


def request_spawn(session, hub, spawn_form=None):
    """What a browser does at /hub/spawn: open it and, when it is a form, submit it."""
    page = session.get(f"{hub}/spawn", timeout=60)
    if spawn_form is None:
        return
    form = next((f for f in parse_forms(page.text) if f.attrs.get("id") == "spawn_form"), None)
    if form is None:
        return  # no form: the server is on its way already
    # the form's action carries the _xsrf token the hub checks
    reply = session.post(urljoin(page.url, form.action), data=spawn_form, timeout=60)
    reply.raise_for_status()


def stop_servers(session, site, segment, username, routes):
    """Stop the user's server on each of the cluster's instances (pinned to it in turn by its
    ROUTEID cookie), so later suites on the same site find none left running."""
    path = f"/jupyterhub/{segment}/"
    hub = f"{site}{path}hub"
    cookie = next(c for c in session.cookies if c.name == "ROUTEID" and c.path == path)
    for route in routes:
        session.cookies.set("ROUTEID", f".{route}", domain=cookie.domain, path=path)
        session.get(f"{hub}/home", timeout=60).raise_for_status()
        server = session.get(f"{hub}/api/user", timeout=30).json().get("servers", {}).get("")
        if server is None:
            continue
        reply = session.delete(
            f"{hub}/api/users/{username}/server",
            headers={"X-XSRFToken": xsrf(session, f"{path}hub/") or ""},
            timeout=120,
        )
        assert reply.status_code in (202, 204), (route, reply.status_code, reply.text[:300])


def xsrf(session, path):
    return session.cookies.get("_xsrf", path=path)


def cookie_header(session, url):
    """The Cookie header the session's jar would send to url (what a browser sends)."""
    return session.prepare_request(requests.Request("GET", url)).headers.get("Cookie", "")


class Kernel:
    """A kernel started over REST and driven over its websocket, all through the frontend."""

    def __init__(self, session, site, segment, username, ca_file):
        self.session = session
        self.path = f"/jupyterhub/{segment}/user/{username}/"
        self.base = site + self.path.rstrip("/")
        # host[:port] of the site: the websocket's URL and the Origin header name it
        self.netloc = urlsplit(site).netloc
        self.ca_file = ca_file
        self.username = username
        self.ws = None
        self.id = None

    def __enter__(self):
        token = xsrf(self.session, self.path)
        reply = self.session.post(
            f"{self.base}/api/kernels",
            json={"name": "python3"},
            headers={"X-XSRFToken": token},
            timeout=60,
        )
        reply.raise_for_status()
        self.id = reply.json()["id"]
        url = f"wss://{self.netloc}{self.path}api/kernels/{self.id}/channels"
        self.ws = websocket.create_connection(
            f"{url}?session_id={uuid.uuid4().hex}",
            cookie=cookie_header(self.session, f"{self.base}/api/kernels"),
            origin=f"https://{self.netloc}",
            header=[f"X-XSRFToken: {token}"],
            sslopt={"ca_certs": self.ca_file},
            timeout=60,
        )
        return self

    def execute(self, code: str) -> tuple[str, str]:
        """Run code; returns (reply status, stdout)."""
        msg_id = uuid.uuid4().hex
        self.ws.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "username": self.username,
                        "session": uuid.uuid4().hex,
                        "msg_type": "execute_request",
                        "version": "5.3",
                        "date": "",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {
                        "code": code,
                        "silent": False,
                        "store_history": False,
                        "user_expressions": {},
                        "allow_stdin": False,
                    },
                    "channel": "shell",
                    "buffers": [],
                }
            )
        )
        # the reply (shell) and the output (iopub) are not ordered between channels: the
        # kernel's "idle" status on iopub comes after all output of the request
        stdout, status, idle = "", None, False
        while status is None or not idle:
            message = json.loads(self.ws.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = message["msg_type"]
            if kind == "stream" and message["content"]["name"] == "stdout":
                stdout += message["content"]["text"]
            elif kind == "execute_reply":
                status = message["content"]["status"]
            elif kind == "status" and message["content"]["execution_state"] == "idle":
                idle = True
        return status, stdout

    def __exit__(self, *exc):
        if self.ws is not None:
            self.ws.close()
        token = xsrf(self.session, self.path)
        self.session.delete(
            f"{self.base}/api/kernels/{self.id}", headers={"X-XSRFToken": token}, timeout=60
        )
