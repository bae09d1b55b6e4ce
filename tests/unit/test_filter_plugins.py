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
