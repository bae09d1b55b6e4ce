"""The audit report as Markdown, one self-contained HTML file, or JSON.

Markdown and HTML are made from the same sections (`sections`), so both say the same things;
JSON is the report's records as they are (`Report.as_dict`).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field

from sitehub.audit.model import NO_LOGIN, Report


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    id: str
    title: str
    text: list[str] = field(default_factory=list)
    tables: list[tuple[str, Table]] = field(default_factory=list)


def _secs(value: int | None) -> str:
    if value is None:
        return "no limit"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if value and value % size == 0:
            return f"{value // size} {unit}"
    return f"{value} s"


def sections(report: Report) -> list[Section]:
    out: list[Section] = []
    public = report.public_without_login()
    paths = Section(
        "paths",
        "Public URL paths",
        [
            f"Every path of {report.public_url} and of the identity provider, and what serves "
            f"it. {len(public)} answer without a login; each says why."
        ],
    )
    paths.tables.append(
        (
            "",
            Table(
                ["URL", "served by", "login", "why"],
                [[p.url, p.served_by, p.login, p.why] for p in report.paths],
            ),
        )
    )
    for p in report.paths:
        if not p.members:
            continue
        paths.tables.append(
            (
                f"{p.path}: balancer {p.balancer}, sticky on {p.sticky}; {p.failover}",
                Table(
                    ["instance", "host", "port", "route id", "proxied to", "health check"],
                    [
                        [m.instance, m.host, str(m.port), m.route, m.url, m.health_check]
                        for m in p.members
                    ],
                ),
            )
        )
    out.append(paths)
    for chain in report.auth:
        auth = Section(
            "auth",
            "Authentication chain",
            [
                f"Guards {', '.join(chain.paths)}: SAML SP {chain.sp_entity_id} (endpoints "
                f"{chain.sp_endpoints}; {chain.sp_signature}) -> IdP {chain.idp}, realm "
                f"{chain.realm} (metadata {chain.idp_metadata}).",
                f"Users: {chain.user_source}. Password policy: {chain.password_policy}.",
                f"MFA: {chain.mfa_strength}.",
                "Brute-force detection: lock after "
                f"{chain.brute_force['max_failures']} failures, for "
                f"{_secs(chain.brute_force['wait_increment_seconds'])} more per failure up to "
                f"{_secs(chain.brute_force['max_wait_seconds'])}, failures counted over "
                f"{_secs(chain.brute_force['failure_reset_seconds'])}; permanent lockout "
                f"{'on' if chain.brute_force['permanent_lockout'] else 'off'}; failures "
                f"within {chain.brute_force['quick_login_check_milliseconds']} ms lock for "
                f"{_secs(chain.brute_force['minimum_quick_login_wait_seconds'])}.",
                f"Hubs: {chain.hub_trust}.",
                f"Which session ends first: {chain.ends_first}",
            ],
        )
        auth.tables.append(
            (
                "Session lifetimes per layer",
                Table(
                    ["layer", "idle", "at most", "set by", "when it ends"],
                    [
                        [s.layer, _secs(s.idle_seconds), _secs(s.max_seconds), s.source, s.effect]
                        for s in chain.sessions
                    ],
                ),
            )
        )
        out.append(auth)
    out.append(
        Section(
            "grants",
            "Who may use what",
            [
                "Realm groups, clusters, partitions, accounts, QOS, GPU types, accounting groups, "
                "images and kernels, and what grants each."
            ],
            [
                (
                    "",
                    Table(
                        ["who may use what", "granted by", "details"],
                        [[g.sentence(), g.via, g.detail] for g in report.grants],
                    ),
                )
            ],
        )
    )
    out.append(
        Section(
            "ports",
            "Listening ports and who may connect",
            ["Bind 0.0.0.0 or * is every address of the host; 127.0.0.1 is the host itself."],
            [
                (
                    "",
                    Table(
                        ["host", "port", "bind", "service", "who may connect", "TLS"],
                        [
                            [
                                item.host,
                                str(item.port) if item.port else "(dynamic)",
                                item.bind,
                                item.service,
                                item.who,
                                item.tls,
                            ]
                            for item in report.listeners
                        ],
                    ),
                )
            ],
        )
    )
    tls = Section("tls", "TLS")
    for t in report.tls:
        line = f"{t.endpoint}: protocols {', '.join(t.protocols)}; {t.profile}."
        if t.ciphers:
            line += (
                f" TLS 1.2 suites: {':'.join(t.ciphers)}. TLS 1.3 suites: "
                f"{':'.join(t.tls13_ciphersuites)}. Curves: {', '.join(t.curves)}."
            )
        if t.hsts_max_age is not None:
            line += f" HSTS max-age {t.hsts_max_age} s ({_secs(t.hsts_max_age)})."
        tls.text.append(line)
    out.append(tls)
    out.append(
        Section(
            "secrets",
            "Secrets (names and origins, never values)",
            [],
            [
                (
                    "",
                    Table(
                        ["secret", "origin", "where from", "used by"],
                        [[s.name, s.origin, s.detail, s.used_by] for s in report.secrets],
                    ),
                )
            ],
        )
    )
    out.append(
        Section(
            "departures",
            "Departures from the recommended settings",
            [] if report.departures else ["None."],
            [
                (
                    "",
                    Table(
                        ["setting", "this site", "recommended", "severity", "why it matters"],
                        [
                            [d.setting, d.value, d.recommended, d.severity, d.why]
                            for d in report.departures
                        ],
                    ),
                )
            ]
            if report.departures
            else [],
        )
    )
    if report.notes:
        out.append(Section("notes", "Notes", list(report.notes)))
    return out


def heading(report: Report) -> str:
    return f"Audit of site {report.site} ({report.title})"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(report: Report) -> str:
    lines = [
        f"# {heading(report)}",
        "",
        f"Inventory `{report.inventory}`, public URL {report.public_url}"
        + (" (a demo site)" if report.demo else "")
        + ". Made by `sitehub audit` from the inventory and the roles' settings; no host was "
        "contacted and no secret decrypted.",
        "",
    ]
    for section in sections(report):
        lines += [f"## {section.title}", ""]
        for text in section.text:
            lines += [text, ""]
        for caption, table in section.tables:
            if caption:
                lines += [f"**{caption}**", ""]
            lines.append("| " + " | ".join(table.columns) + " |")
            lines.append("|" + " --- |" * len(table.columns))
            for row in table.rows:
                lines.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
            lines.append("")
    return "\n".join(lines)


_CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:84em;padding:0 1em;color:#1c1c1c}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:2px solid #2a5d8f;padding-bottom:.2em}
table{border-collapse:collapse;width:100%;margin:.6em 0 1.4em;font-size:.92em}
th,td{border:1px solid #c8c8c8;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#e8eef5}tr:nth-child(even) td{background:#f8f8f8}
caption{text-align:left;font-weight:600;padding:.3em 0}
.public{color:#8a1c1c;font-weight:600}.weaker{color:#8a1c1c;font-weight:600}
nav a{margin-right:1em}code{background:#f0f0f0;padding:0 .2em}
"""


def _html_cell(text: str, column: str) -> str:
    escaped = html.escape(text)
    if (column == "login" and text == NO_LOGIN) or (column == "severity" and text == "weaker"):
        cls = "public" if column == "login" else "weaker"
        return f'<td class="{cls}">{escaped}</td>'
    return f"<td>{escaped}</td>"


def to_html(report: Report) -> str:
    """One file: inline CSS, no scripts, no external fetches."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(heading(report))}</title>",
        # nothing may be fetched, even if someone adds a link later
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(heading(report))}</h1>",
        f"<p>Inventory <code>{html.escape(report.inventory)}</code>, public URL "
        f"{html.escape(report.public_url)}{' (a demo site)' if report.demo else ''}. Made by "
        "<code>sitehub audit</code> from the inventory and the roles' settings; no host was "
        "contacted and no secret decrypted.</p>",
    ]
    secs = sections(report)
    parts.append(
        "<nav>" + "".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in secs) + "</nav>"
    )
    for section in secs:
        parts.append(f'<section id="{section.id}"><h2>{html.escape(section.title)}</h2>')
        parts += [f"<p>{html.escape(t)}</p>" for t in section.text]
        for caption, table in section.tables:
            parts.append("<table>")
            if caption:
                parts.append(f"<caption>{html.escape(caption)}</caption>")
            parts.append(
                "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in table.columns) + "</tr>"
            )
            for row in table.rows:
                cells = "".join(
                    _html_cell(c, col) for c, col in zip(row, table.columns, strict=True)
                )
                parts.append(f"<tr>{cells}</tr>")
            parts.append("</table>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def to_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2) + "\n"


RENDERERS = {"md": to_markdown, "html": to_html, "json": to_json}
