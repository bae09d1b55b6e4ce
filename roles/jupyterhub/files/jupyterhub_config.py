# Installed by the sitehub `jupyterhub` role. The same file serves every instance: the
# instance's values come from settings.json next to it (written by the role, mode 0600).
import json
import pathlib

# Registers sitehub's port-report API handler before JupyterHub builds its handler list.
import sitehub.hub.spawner  # noqa: F401

here = pathlib.Path(__file__).resolve().parent
s = json.loads((here / "settings.json").read_text())
c = get_config()  # noqa: F821

# --- where the hub and its proxy live ---------------------------------------------------
c.JupyterHub.bind_url = s["bind_url"]  # the proxy's public side, with base_url
c.JupyterHub.hub_ip = s["hub_ip"]
c.JupyterHub.hub_port = s["hub_port"]
c.JupyterHub.hub_connect_ip = s["hub_connect_ip"]
# The proxy is its own systemd unit: restarting the hub keeps routes and servers.
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = s["proxy_api_url"]  # token: CONFIGPROXY_AUTH_TOKEN
c.JupyterHub.cleanup_servers = False
c.JupyterHub.cleanup_proxy = False

# --- state and secrets ---------------------------------------------------------------
c.JupyterHub.db_url = s["db_url"]
c.JupyterHub.cookie_secret_file = s["cookie_secret_file"]
c.CryptKeeper.keys = [bytes.fromhex(pathlib.Path(s["crypt_key_file"]).read_text().strip())]
c.JupyterHub.log_level = s["log_level"]

# --- who may log in ------------------------------------------------------------------
c.JupyterHub.authenticator_class = "sitehub.hub.authenticator.TrustedHeaderAuthenticator"
c.TrustedHeaderAuthenticator.header_name = s["user_header"]
c.TrustedHeaderAuthenticator.frontend_addresses = s["frontend_addresses"]
c.TrustedHeaderAuthenticator.proxy_addresses = s["proxy_addresses"]
c.TrustedHeaderAuthenticator.secret_file = s["frontend_secret_file"]
c.TrustedHeaderAuthenticator.username_policy = s["username_pattern"]
# after ending the hub session, logout continues at the frontend (mellon, then Keycloak)
c.TrustedHeaderAuthenticator.frontend_logout_url = s.get("logout_url", "")
c.Authenticator.admin_users = set(s["admin_users"])
c.Authenticator.allow_all = s["allow_all"]
c.Authenticator.allowed_users = set(s["allowed_users"])

# --- servers ---------------------------------------------------------------------------
# sitehub's spawner; another class (e.g. stock batchspawner.SlurmSpawner as a benchmark
# baseline) gets the same settings section under its own name
c.JupyterHub.spawner_class = s["spawner_class"]
section = getattr(c, s["spawner_class"].rsplit(".", 1)[-1])
for key, value in s["spawner"].items():
    setattr(section, key, value)
# several hubs share one domain: no per-user config may change what a server trusts
c.Spawner.disable_user_config = True
c.Spawner.default_url = "/lab"

# Only the listed sites may frame the hub or the servers.
csp = "frame-ancestors " + " ".join(s["frame_ancestors"])
c.JupyterHub.tornado_settings = {"headers": {"Content-Security-Policy": csp}}
server_headers = json.dumps({"headers": {"Content-Security-Policy": csp}})
c.Spawner.args = [f"--ServerApp.tornado_settings={server_headers}"]

# --- idle culler ---------------------------------------------------------------------
if s["idle_timeout"] > 0:
    c.JupyterHub.services = [
        {
            "name": "idle-culler",
            "command": [
                s["python"],
                "-m",
                "jupyterhub_idle_culler",
                f"--timeout={s['idle_timeout']}",
                f"--cull-every={max(60, s['idle_timeout'] // 10)}",
            ],
        }
    ]
    c.JupyterHub.load_roles = [
        {
            "name": "idle-culler",
            "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
            "services": ["idle-culler"],
        }
    ]
