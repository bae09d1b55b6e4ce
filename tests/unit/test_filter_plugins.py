"""The filters are thin: they must give exactly what the renderers give."""

import importlib.util
from pathlib import Path

from sitehub.inventory.model import Kernel
from sitehub.render.kernelspec import render_kernel

ROOT = Path(__file__).resolve().parents[2]


def load_filters():
    spec = importlib.util.spec_from_file_location(
        "sitehub_filters", ROOT / "filter_plugins/sitehub.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FilterModule().filters()


def test_filters_are_registered():
    assert {"sitehub_url_spaces", "sitehub_kernelspec"} <= set(load_filters())


def test_url_spaces_filter_adds_the_cookie_header():
    spaces = load_filters()["sitehub_url_spaces"](
        [
            {
                "segment": "htc",
                "title": "HTC",
                "scheduler": "local",
                "instances": [{"host": "h", "port": 8000, "route": "r1"}],
            }
        ]
    )
    assert spaces[0]["path"] == "/jupyterhub/htc/"
    assert "Path=/jupyterhub/htc/" in spaces[0]["set_cookie"]


def test_kernelspec_filter_matches_renderer():
    raw = {"name": "k", "display_name": "K", "env": {"A": "it's"}}
    assert load_filters()["sitehub_kernelspec"](raw) == render_kernel(Kernel(**raw)).files()


def test_site_wiring_filters_take_the_inventory_as_it_is():
    filters = load_filters()
    identity = {
        "host": "kc",
        "url": "https://kc.example.org",
        "realm": "sitehub",
        "demo_users": [{"name": "alice", "uid": 2001, "groups": ["atlas"]}],
    }
    (user,) = filters["sitehub_realm_users"](identity, "pw")
    assert (user["username"], user["password"], user["groups"]) == ("alice", "pw", ["atlas"])
    secrets = {"hub_cookie_secret": "a" * 64, "hub_crypt_key": "b" * 64, "hub_proxy_token": "c"}
    clusters = [
        {
            "segment": "hpc",
            "title": "HPC",
            "scheduler": "slurm",
            "instances": [{"host": "h1", "port": 8000, "route": "hub1"}],
        }
    ]
    (instance,) = filters["sitehub_hub_instances"](clusters, "h1", secrets)
    assert instance["name"] == "hpc-hub1" and instance["hub_port"] == 8081
    assert len(filters["sitehub_frontend_secret"](secrets)) == 64
