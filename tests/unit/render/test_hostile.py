"""Hostile site values either are refused by validation or render into files that parse.

Each property takes the example site, puts generated text (line breaks, quotes, Jinja,
shell and HTML metacharacters, NUL, Unicode line separators) into the fields a renderer
writes, and validates the site as `sitehub validate` does. When validation accepts the
site, every renderer must render it (a renderer's own refusal is a validation gap, so the
render dry run inside validation is switched off here) and each output must parse as its
language expects: `bash -n` and shell words for kernel launchers and batch scripts; JSON
for kernel.json and hub instances; Apache's line structure (the same directives as the
unmodified site, no new lines); Keycloak's key=value lines (the same keys); HTML with no
element the unmodified page lacks.
"""

from __future__ import annotations

import copy
import json
import shlex
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest
import yaml
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from sitehub.inventory import load_inventory
from sitehub.inventory import validate as validate_mod
from sitehub.inventory.loader import LoadedInventory
from sitehub.inventory.model import Kernel, SiteModel
from sitehub.inventory.validate import _plain
from sitehub.render import quoting
from sitehub.render.commands import hub_samples, slurm_samples
from sitehub.render.frontend import render_frontend
from sitehub.render.kernelspec import render_kernel
from sitehub.testing.apache_variants import accepted
from sitehub.testing.hostile import hostile, maybe, sneaky

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "inventories" / "example-site"
PROFILE = settings(
    max_examples=30,
    deadline=None,
    # no shrinking: `make quick` runs these, and a failure prints its example anyway
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture(scope="module")
def example() -> LoadedInventory:
    return load_inventory(EXAMPLE)


@pytest.fixture(scope="module")
def frontend_before(example) -> dict[str, str]:
    return render_frontend(SiteModel.model_validate(raw_site(example)))


@pytest.fixture(scope="module")
def keycloak_before(example) -> list[str]:
    site = SiteModel.model_validate(raw_site(example))
    return keycloak_keys(render_keycloak_conf(site, "secret"))


@pytest.fixture(autouse=True)
def _no_render_backstop(monkeypatch):
    # the properties below render themselves: a renderer that refuses must fail the test
    monkeypatch.setattr(validate_mod, "_check_renders", lambda report, raw: None)


def raw_site(example: LoadedInventory) -> dict:
    raw = {name: _plain(value) for name, value in example.site_vars.items()}
    # the secrets as loaded: inline vault values stay recognisable as vaulted
    raw["sitehub_secrets"] = example.site_vars["sitehub_secrets"]
    return raw


# --- the languages ---------------------------------------------------------------------------


def apache_lines(text: str) -> list[tuple[str, int]]:
    """(directive or section, number of arguments) per line; comments and blanks skipped."""
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        words = apache_words(stripped)
        out.append((words[0], len(words)))
    return out


def apache_words(line: str) -> list[str]:
    """httpd's ap_getword_conf: words, "quoted" with \\" and \\\\ escapes."""
    words, i = [], 0
    while i < len(line):
        if line[i].isspace():
            i += 1
            continue
        if line[i] in "\"'":
            quote, i, word = line[i], i + 1, ""
            while i < len(line) and line[i] != quote:
                if line[i] == "\\" and i + 1 < len(line) and line[i + 1] in (quote, "\\"):
                    i += 1
                word += line[i]
                i += 1
            assert i < len(line), f"unterminated quote in {line!r}"
            words.append(word)
            i += 1
        else:
            start = i
            while i < len(line) and not line[i].isspace():
                i += 1
            words.append(line[start:i])
    return words


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_endtag(self, tag):
        self.tags.append("/" + tag)

    def handle_data(self, data):
        self.text.append(data)


def html_of(text: str) -> Elements:
    parser = Elements()
    parser.feed(text)
    parser.close()
    return parser


def bash_ok(script: str) -> None:
    result = subprocess.run(
        ["bash", "-n"], input=script, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"bash -n: {result.stderr}\n{script}"


KEYCLOAK = ROOT / "roles" / "keycloak"


def render_keycloak_conf(site: SiteModel, db_password: str) -> str:
    """roles/keycloak/templates/keycloak.conf.j2 with the role's defaults and the role vars
    playbooks/identity.yml passes (templated defaults rendered with jinja2 first)."""
    values: dict = {}
    for name in ("defaults/main.yml", "vars/main.yml"):
        values |= yaml.safe_load((KEYCLOAK / name).read_text()) or {}
    env = jinja2.Environment(undefined=jinja2.Undefined)
    _ansible_plugins(env)
    env.filters.update(quoting.FILTERS)
    identity = site.sitehub_identity
    values |= {"inventory_hostname": identity.host, "ansible_managed": "test"}
    for _ in range(3):  # defaults that refer to other defaults
        values = {
            k: env.from_string(v).render(values) if isinstance(v, str) else v
            for k, v in values.items()
        }
    # the role vars playbooks/identity.yml passes, added untemplated (they are data here)
    values |= {
        "keycloak_hostname": identity.url,
        "keycloak_db": identity.database,
        "keycloak_db_password": db_password,
    }
    # the role's derived vars (the public and admin URLs) from those: rendered from their own
    # templates, the passed values going in as data
    derived = yaml.safe_load((KEYCLOAK / "vars/main.yml").read_text()) or {}
    for _ in range(2):
        values |= {
            k: env.from_string(v).render(values) for k, v in derived.items() if isinstance(v, str)
        }
    template = (KEYCLOAK / "templates" / "keycloak.conf.j2").read_text()
    conf_env = jinja2.Environment(
        trim_blocks=True, keep_trailing_newline=True, undefined=jinja2.Undefined
    )
    _ansible_plugins(conf_env)
    conf_env.filters.update(quoting.FILTERS)
    return conf_env.from_string(template).render(values)


def _ansible_plugins(env: jinja2.Environment) -> None:
    """Ansible's own filters and tests the role's vars use (regex_replace, urlsplit, match),
    by their short and ansible.builtin names."""
    from ansible.plugins.filter.core import FilterModule
    from ansible.plugins.filter.urlsplit import FilterModule as UrlsplitFilters
    from ansible.plugins.test.core import TestModule

    for plugins, table in (
        (FilterModule().filters() | UrlsplitFilters().filters(), env.filters),
        (TestModule().tests(), env.tests),
    ):
        for name, function in plugins.items():
            table[name] = table[f"ansible.builtin.{name}"] = function


def keycloak_keys(text: str) -> list[str]:
    keys = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, sep, _ = line.partition("=")
        assert sep and quoting.keycloak_key(key), f"not a key=value line: {line!r}"
        keys.append(key)
    return keys


# --- the properties ------------------------------------------------------------------------


@PROFILE
@given(
    title=sneaky | hostile,
    description=maybe,
    cluster_title=maybe,
    segment=maybe,
    route=maybe,
    info_url=maybe,
)
def test_frontend_renders_parse(
    example, frontend_before, title, description, cluster_title, segment, route, info_url
):
    base, before = raw_site(example), frontend_before
    raw = {k: copy.deepcopy(v) if k != "sitehub_secrets" else v for k, v in base.items()}
    site_vars, cluster = raw["sitehub_site"], raw["sitehub_clusters"][0]
    site_vars["title"] = title
    for mapping, key, value in (
        (site_vars, "description", description),
        (
            site_vars,
            "info_url",
            None if info_url is None else "https://docs.example.org/" + info_url,
        ),
        (cluster, "title", cluster_title),
        (cluster, "segment", segment),
        (cluster["instances"][0], "route", route),
    ):
        if value is not None:
            mapping[key] = value
    site = accepted(example, raw)
    assume(site is not None)
    after = render_frontend(site)
    for name in ("sitehub-site.conf", "ports.conf", "sitehub-server.conf"):
        assert apache_lines(after[name]) == apache_lines(before[name]), name
    page, page_before = html_of(after["index.html"]), html_of(before["index.html"])
    # optional elements (a description's <p>) may appear; no element the template lacks
    assert set(page.tags) <= set(page_before.tags), page.tags
    assert title in "".join(page.text)
    json.loads(after["frontend-vars.json"])
    for text in hub_samples(site).values():
        json.loads(text)


@PROFILE
@given(url_tail=hostile, realm=maybe, db_password=hostile)
def test_keycloak_conf_parses(example, keycloak_before, url_tail, realm, db_password):
    base, before = raw_site(example), keycloak_before
    raw = dict(base, sitehub_identity=copy.deepcopy(base["sitehub_identity"]))
    raw["sitehub_identity"]["url"] = "https://sso.example.org/" + url_tail
    if realm is not None:
        raw["sitehub_identity"]["realm"] = realm
    site = accepted(example, raw)
    assume(site is not None)
    try:
        text = render_keycloak_conf(site, db_password)
    except quoting.UnsafeText:
        # a secret is not a site value validation reads: the filter refuses it instead
        assert quoting.control_character(db_password)
        return
    assert keycloak_keys(text) == before
    line = next(x for x in text.splitlines() if x.startswith("hostname="))
    assert line.removeprefix("hostname=").replace("\\\\", "\\") == site.sitehub_identity.url


@PROFILE
@given(
    name=maybe,
    display_name=hostile,
    env_value=sneaky,
    script=sneaky,
    arg=sneaky,
    argv=st.lists(sneaky, min_size=1, max_size=3),
    image=maybe,
)
def test_kernel_files_parse(example, name, display_name, env_value, script, arg, argv, image):
    raw = raw_site(example)
    raw["sitehub_clusters"] = [dict(c, kernels=[]) for c in raw["sitehub_clusters"]]
    kernel = {
        "name": name or "k1",
        "display_name": display_name,
        "env": {"SITE_VALUE": env_value},
        "setup_scripts": ["/" + script],
        "setup_args": {"/" + script: [arg]},
        "argv": argv,
    }
    if image is not None:
        kernel["image"] = "/images/" + image
    raw["sitehub_kernels"] = [kernel]
    site = accepted(example, raw)
    assume(site is not None)
    (model,) = site.sitehub_kernels
    for runtime in ("apptainer", "podman"):
        spec = render_kernel(model, container_runtime=runtime)
        assert json.loads(spec.kernel_json)["display_name"] == display_name
        bash_ok(spec.launcher)
        export = next(x for x in spec.launcher.splitlines() if x.startswith("export "))
        assert shlex.split(export) == ["export", f"SITE_VALUE={env_value}"]


@PROFILE
@given(
    field=st.sampled_from(["partition", "account", "image", "bind", "option"]),
    value=sneaky | hostile,
)
def test_batch_scripts_parse(example, field, value):
    raw = raw_site(example)
    raw["sitehub_clusters"] = copy.deepcopy(raw["sitehub_clusters"])
    index = next(i for i, c in enumerate(raw["sitehub_clusters"]) if c["scheduler"] == "slurm")
    cluster = raw["sitehub_clusters"][index]
    options, container = cluster["options"], cluster.setdefault("container", {})
    cluster["images"] = [{"name": "img", "ref": "/images/x.sif"}]
    if field == "partition":
        options["partitions"][0]["name"] = value
    elif field == "account":
        options["accounts"].append(value)
        options["partitions"][0]["accounts"] = [value]
    elif field == "image":
        cluster["images"][0]["ref"] = "/images/" + value
    elif field == "bind":
        container["binds"] = [*container.get("binds", []), "/" + value]
    else:
        container["options"] = [*container.get("options", []), value]
    site = accepted(example, raw)
    assume(site is not None)
    scripts = slurm_samples(site.sitehub_clusters[index])
    assert any(name.endswith(".sbatch") for name in scripts)
    for name, text in scripts.items():
        if name.endswith(".sbatch"):
            bash_ok(text)
            directives = [x for x in text.splitlines() if x.startswith("#SBATCH")]
            assert all(len(shlex.split(x)) == 2 for x in directives), directives


def test_hostile_values_are_refused_not_rendered(example):
    """The properties above are not vacuous: these reach no renderer."""
    raw = raw_site(example)
    raw["sitehub_site"]["title"] = "Title\nRequire all granted"
    raw["sitehub_identity"]["url"] = "https://sso.example.org\nhttp-enabled=true"
    raw["sitehub_clusters"][0]["instances"][0]["route"] = "r1\n"
    raw["sitehub_kernels"] = [
        {"name": "k", "display_name": "{{ lookup('pipe', 'id') }}", "argv": ["python3"]}
    ]
    assert accepted(example, raw) is None
    with pytest.raises(Exception, match="not a valid"):
        Kernel.model_validate({"name": "k\n", "display_name": "K"})
