"""The hub end of batchspawner's port report, replacing batchspawner's own handler.

`batchspawner-singleuser` (on the compute node) picks a free port and POSTs {"port": N} to
/hub/api/batchspawner with the server's API token before it starts the server. batchspawner
1.3.0's handler copies *every* key of that JSON onto the spawner with setattr; the token sits
in the user's environment, so a user could rewrite e.g. `exec_prefix` or `batch_submit_cmd`,
commands the hub runs as root. This handler accepts exactly one integer port, only from the
token of a server that is starting and has not reported yet, and wakes the spawner at once.
"""

from __future__ import annotations

import json

from jupyterhub import apihandlers
from jupyterhub.apihandlers import APIHandler
from tornado import web

PATH = r"/api/batchspawner"


class PortReportHandler(APIHandler):
    @web.authenticated
    async def post(self):
        user = self.current_user
        token = self.get_auth_token()
        spawner = None
        for candidate in getattr(user, "spawners", {}).values():
            if token and getattr(candidate, "api_token", None) == token:
                spawner = candidate
                break
        if spawner is None:
            raise web.HTTPError(403, "token does not belong to a server of this user")
        body = self.get_json_body() or {}
        if set(body) != {"port"}:
            raise web.HTTPError(400, "only {'port': <int>} is accepted")
        port = body["port"]
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise web.HTTPError(400, "port must be an integer 1-65535")
        if hasattr(spawner, "report_port"):
            accepted = spawner.report_port(port)
        else:
            # a stock batchspawner spawner (e.g. the benchmark's baseline): its start() waits
            # for .port to change from 0; still only the port, still only once
            accepted = bool(getattr(spawner, "_start_pending", False)) and not spawner.port
            if accepted:
                spawner.port = port
        if not accepted:
            raise web.HTTPError(409, "port already reported or server not starting")
        self.set_status(201)
        self.finish(json.dumps({"message": "port recorded"}))


def install() -> None:
    """Put our handler where batchspawner's was (and add it if batchspawner was not loaded)."""
    handlers = apihandlers.default_handlers
    handlers[:] = [h for h in handlers if h[0] != PATH]
    handlers.append((PATH, PortReportHandler))
