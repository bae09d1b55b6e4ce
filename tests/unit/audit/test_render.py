"""Markdown, HTML and JSON say the same things; HTML is one file that fetches nothing."""

from __future__ import annotations

import json
import re

from sitehub.audit import audit_inventory
from sitehub.audit.render import _md_cell, to_html, to_json, to_markdown

from .conftest import copy_inventory, edit


def test_markdown_has_every_section(example_report):
    text = to_markdown(example_report)
    for title in (
        "## Public URL paths",
        "## Authentication chain",
        "## Who may use what",
        "## Listening ports and who may connect",
        "## TLS",
        "## Secrets (names and origins, never values)",
        "## Departures from the recommended settings",
    ):
        assert title in text
    assert "| hpc-ic-ic20 | jupyter20.example.org | 8000 | ic20 |" in text
    assert "| mellon session (the site's login) | 2 h | 8 h |" in text


def test_json_round_trips(demo_report):
    data = json.loads(to_json(demo_report))
    hpc = next(p for p in data["paths"] if p["path"] == "/jupyterhub/hpc/")
    assert [m["route"] for m in hpc["members"]] == ["hub1", "hub2"]
    assert data["auth"][0]["mfa"]["period"] == 30


def test_html_is_self_contained(demo_report):
    page = to_html(demo_report)
    assert page.startswith("<!DOCTYPE html>")
    assert "<style>" in page
    # nothing to fetch: no scripts, links, images or external URLs in attributes
    assert not re.search(r"<(script|link|img|iframe)\b", page)
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "default-src 'none'" in page
    assert '<td class="public">none</td>' in page


def test_hostile_titles_are_escaped(tmp_path):
    inv = copy_inventory("demo", tmp_path)
    edit(
        inv / "group_vars/all/site.yml",
        "title: Demo Facility JupyterHub",
        'title: "<script>x()</script>|a"',
    )
    report = audit_inventory(inv)
    page = to_html(report)
    assert "<script>x()" not in page and "&lt;script&gt;" in page


def test_markdown_cells_keep_their_columns():
    # a '|' or a line break in a value must not break a table row
    assert _md_cell("a|b\nc") == "a\\|b c"
