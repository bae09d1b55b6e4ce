"""Small helpers to use a hub through the frontend like JupyterLab does (REST + websocket)."""

from __future__ import annotations

import json
import time
import uuid

import requests
import websocket


def wait_for_server(session, site, segment, username, timeout=300):
    """Wait until the user's default server on the cluster is ready; returns the user model."""
    deadline = time.monotonic() + timeout
    while True:
        model = session.get(f"{site}/jupyterhub/{segment}/hub/api/user", timeout=30).json()
        server = model.get("servers", {}).get("")
        if server and server.get("ready"):
            # open a page of the server (as a browser does): only pages, not its API, run the
            # OAuth round trip with the hub that sets the server's own cookie
            page = session.get(f"{site}/jupyterhub/{segment}/user/{username}/lab", timeout=60)
            page.raise_for_status()
            return model
        if not server or not server.get("pending"):
            # no server yet (or it stopped): ask the hub to start one
            session.get(f"{site}/jupyterhub/{segment}/hub/spawn", timeout=60)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{username}'s server on {segment} not ready: {model}")
        time.sleep(1)


def xsrf(session, path):
    return session.cookies.get("_xsrf", path=path)


def cookie_header(session, url):
    """The Cookie header the session's jar would send to url (what a browser sends)."""
    return session.prepare_request(requests.Request("GET", url)).headers.get("Cookie", "")


class Kernel:
    """A kernel started over REST and driven over its websocket, all through the frontend."""

    def __init__(self, session, site, host, segment, username, ca_file):
        self.session = session
        self.path = f"/jupyterhub/{segment}/user/{username}/"
        self.base = site + self.path.rstrip("/")
        self.host = host
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
        url = f"wss://{self.host}{self.path}api/kernels/{self.id}/channels"
        self.ws = websocket.create_connection(
            f"{url}?session_id={uuid.uuid4().hex}",
            cookie=cookie_header(self.session, f"https://{self.host}{self.path}api/kernels"),
            origin=f"https://{self.host}",
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
