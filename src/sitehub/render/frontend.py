"""The frontend's Apache configuration and landing page, rendered for review (no host).

The frontend role's own templates (roles/frontend/templates) are rendered with jinja2 and
the variables the role would get:

* the role vars playbooks/frontend.yml passes, mapped here from the site model
  (`frontend_role_vars`, the same expressions in Python);
* every plain (untemplated) value of the role's defaults/main.yml and vars/main.yml, read
  from the role, so ciphers, timeouts and paths are the role's own;
* the templated internals of those files, computed here (`_computed`) with the functions the
  role's filters wrap; a templated value this module does not know is an error, not a guess.

Secrets never appear: the frontend-to-hub header secret is `SECRET_PLACEHOLDER`. Nothing in
the rendered files depends on facts of a frontend host; controller paths (certificate
sources, the SP key directory) are given relative to the inventory.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jinja2
import yaml

from sitehub.inventory.model import SiteModel
from sitehub.render.apache import header_spellings
from sitehub.render.quoting import FILTERS as QUOTING_FILTERS
from sitehub.render.urlspace import route_cookie_header, url_space
from sitehub.wheelhouse import repo_root

SECRET_PLACEHOLDER = "<derived from the vault at deploy time>"  # noqa: S105 (not a secret)
ANSIBLE_MANAGED = "Ansible managed (rendered by `sitehub render` for review, not deployed)"

# Template -> file name under frontend/ (the role writes them to /etc/apache2/... and the
# document root; see roles/frontend/tasks/site.yml and pages.yml).
TEMPLATES = {
    "ports.conf.j2": "ports.conf",  # /etc/apache2/ports.conf
    "sitehub-server.conf.j2": "sitehub-server.conf",  # conf-available/sitehub-server.conf
    "sitehub-site.conf.j2": "sitehub-site.conf",  # sites-available/sitehub.conf
    "index.html.j2": "index.html",  # <frontend_docroot>/index.html
}
ERROR_TEMPLATE = "error.html.j2"  # <frontend_docroot>/errors/<name>.html, per error page


def _regex_replace(
    value: Any = "",
    pattern: str = "",
    replacement: str = "",
    ignorecase: bool = False,
    multiline: bool = False,
    count: int = 0,
) -> str:
    """ansible.builtin.regex_replace: re.sub on the text of value."""
    flags = (re.I if ignorecase else 0) | (re.M if multiline else 0)
    return re.compile(pattern, flags).sub(replacement, str(value), count=count)


def _regex_escape(value: Any, re_type: str = "python") -> str:
    """ansible.builtin.regex_escape (python flavour only, the one the role uses)."""
    if re_type != "python":
        raise ValueError(f"regex_escape: only re_type 'python' is supported here, not {re_type}")
    return re.escape(str(value))


# The only Ansible filters the role's templates use beyond jinja2's own (e, join, map,
# lower, length, int, default, urlencode). A template that starts using another one fails
# to render with "No filter named ..." rather than being rendered wrong.
ANSIBLE_FILTERS = {
    "regex_replace": _regex_replace,
    "regex_escape": _regex_escape,
    # filter_plugins/sitehub.py's quoting filters, the same functions
    **QUOTING_FILTERS,
}


def role_dir() -> Path:
    return repo_root(Path(__file__).parent) / "roles" / "frontend"


def _is_templated(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, list):
        return any(_is_templated(v) for v in value)
    if isinstance(value, dict):
        return any(_is_templated(v) for v in value.values())
    return False


def _yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def role_files() -> dict[str, Any]:
    """defaults/main.yml then vars/main.yml of the role, as Ansible layers them."""
    role = role_dir()
    return {**_yaml(role / "defaults/main.yml"), **_yaml(role / "vars/main.yml")}


def site_wiring() -> dict[str, Any]:
    """playbooks/group_vars/all.yml: fixed wiring between the layers (site_user_header...)."""
    return _yaml(role_dir().parents[1] / "playbooks/group_vars/all.yml")


def frontend_role_vars(
    site: SiteModel, *, inventory_dir: str = "<inventory>", hub_secret: str = SECRET_PLACEHOLDER
) -> dict[str, Any]:
    """The role vars playbooks/frontend.yml gives the frontend role, from the site model.

    `hub_secret` stands for `sitehub_secrets | sitehub_frontend_secret`: a placeholder
    unless a caller deliberately passes the real value.
    """
    s, tls, identity = site.sitehub_site, site.sitehub_tls, site.sitehub_identity
    wiring = site_wiring()
    generated_dir = (
        jinja2.Environment(undefined=jinja2.StrictUndefined)  # noqa: S701  (a path)
        .from_string(str(wiring["site_generated_dir"]))
        .render(inventory_dir=inventory_dir)
    )
    pki = f"{generated_dir}/pki"
    generated = tls.source == "generated_ca"
    return {
        # as the inventory has them (keys it leaves out stay out: the templates default them)
        "frontend_clusters": [
            c.model_dump(mode="json", exclude_unset=True) for c in site.sitehub_clusters
        ],
        "frontend_site_title": s.title,
        "frontend_site_description": s.description or "",
        "frontend_public_hostname": s.public_hostname,
        "frontend_public_port": s.public_port,
        "frontend_support_url": s.support_url or "",
        "frontend_info_url": s.info_url or "",
        "frontend_tls_cert_src": (
            f"{pki}/frontend.crt" if generated else f"{inventory_dir}/{tls.cert_file}"
        ),
        "frontend_tls_key_src": (
            f"{pki}/frontend.key" if generated else f"{inventory_dir}/{tls.key_file}"
        ),
        "frontend_tls_chain_src": (
            "" if generated or not tls.chain_file else f"{inventory_dir}/{tls.chain_file}"
        ),
        "frontend_tls_protocols": list(tls.protocols),
        "frontend_hsts_max_age": tls.hsts_max_age,
        "frontend_idp_metadata_url": identity.idp_metadata_url,
        "frontend_mellon_sp_dir": f"{generated_dir}/mellon-sp",
        "frontend_user_header": wiring["site_user_header"],
        "frontend_hub_secret": hub_secret,
    }


def _public_url(v: dict[str, Any]) -> str:
    port = int(v["frontend_public_port"])
    return f"https://{v['frontend_public_hostname']}" + ("" if port == 443 else f":{port}")


def _return_hosts_re(v: dict[str, Any]) -> str:
    port = int(v["frontend_public_port"])
    suffix = f"(?::{port})?" if port == 443 else f":{port}"
    names = [v["frontend_public_hostname"], *v["frontend_server_aliases"]]
    return "|".join(re.escape(str(name)) + suffix for name in names)


def _url_spaces(v: dict[str, Any], site: SiteModel) -> list[dict[str, Any]]:
    # = frontend_clusters | sitehub_url_spaces(same_site=frontend_route_cookie_samesite)
    out = []
    for cluster in site.sitehub_clusters:
        space = url_space(cluster, same_site=v["frontend_route_cookie_samesite"])
        out.append(space.as_dict() | {"set_cookie": route_cookie_header(space)})
    return out


def _computed(v: dict[str, Any], site: SiteModel) -> dict[str, Any]:
    """The templated values of defaults/ and vars/main.yml, in the role's dependency order."""
    tls_dir, mellon_dir = v["__frontend_tls_dir"], v["__frontend_mellon_dir"]
    out: dict[str, Any] = {"__frontend_public_url": _public_url(v)}
    out |= {
        "frontend_mellon_entity_id": f"{out['__frontend_public_url']}/mellon/metadata",
        "__frontend_tls_cert": f"{tls_dir}/site.crt",
        "__frontend_tls_key": f"{tls_dir}/site.key",
        "__frontend_mellon_sp_key": f"{mellon_dir}/sp.key",
        "__frontend_mellon_sp_cert": f"{mellon_dir}/sp.crt",
        "__frontend_mellon_sp_metadata": f"{mellon_dir}/sp-metadata.xml",
        "__frontend_mellon_idp_metadata": f"{mellon_dir}/idp-metadata.xml",
        "__frontend_url_spaces": _url_spaces(v, site),
        "__frontend_spoofable_headers": header_spellings(
            [
                "REMOTE_USER",
                *v["frontend_strip_user_headers"],
                v["frontend_user_header"],
                v["frontend_hub_secret_header"],
            ]
        ),
        "__frontend_return_hosts_re": _return_hosts_re(v),
        "__frontend_logout_return": f"{out['__frontend_public_url']}/",
    }
    return out


def template_vars(
    site: SiteModel, *, inventory_dir: str = "<inventory>", hub_secret: str = SECRET_PLACEHOLDER
) -> dict[str, Any]:
    """Everything the role's templates see: role files, playbook role vars, internals."""
    files = role_files()
    role_vars = frontend_role_vars(site, inventory_dir=inventory_dir, hub_secret=hub_secret)
    v = {k: val for k, val in files.items() if not _is_templated(val)} | role_vars
    computed = _computed(v, site)
    unknown = sorted(
        k for k, val in files.items() if _is_templated(val) and k not in role_vars | computed
    )
    if unknown:
        raise ValueError(
            "roles/frontend defaults/vars hold templated values sitehub.render.frontend does "
            f"not compute: {', '.join(unknown)}"
        )
    return v | computed | {"ansible_managed": ANSIBLE_MANAGED}


def environment() -> jinja2.Environment:
    """jinja2 as Ansible's template module sets it up (trim_blocks, trailing newline kept)."""
    env = jinja2.Environment(  # noqa: S701  (Apache configuration; HTML escapes with | e)
        loader=jinja2.FileSystemLoader(role_dir() / "templates"),
        trim_blocks=True,
        lstrip_blocks=False,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(ANSIBLE_FILTERS)
    return env


def render_frontend(site: SiteModel, *, inventory_dir: str = "<inventory>") -> dict[str, str]:
    """File name (relative to frontend/) -> text: every file the role templates, and the
    role vars the playbook passes (frontend-vars.json)."""
    env = environment()
    context = template_vars(site, inventory_dir=inventory_dir)
    out = {name: env.get_template(src).render(context) for src, name in TEMPLATES.items()}
    error = env.get_template(ERROR_TEMPLATE)
    for page in context["__frontend_error_pages"]:
        out[f"errors/{page['name']}.html"] = error.render(context | {"item": page})
    role_vars = {k: context[k] for k in frontend_role_vars(site, inventory_dir=inventory_dir)}
    out["frontend-vars.json"] = json.dumps(role_vars, indent=2) + "\n"
    return out
