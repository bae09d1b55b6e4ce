"""--diff: deliberate changes in a temporary git repository, in an auditor's words."""

from __future__ import annotations

import subprocess

import pytest

from sitehub.audit.diff import GitError, compare, diff_revisions
from sitehub.cli import main

from .conftest import copy_inventory, edit

KNL = """
  - segment: knl
    title: KNL
    scheduler: local
    instances:
      - {host: demo-hub2, port: 8200, route: knl2}
"""


def _git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path):
    """A git repository holding the demo inventory: rev0 as shipped, rev1 with changes."""
    inv = copy_inventory("demo", tmp_path / "site")
    _git(tmp_path / "site", "init", "-q")
    _git(tmp_path / "site", "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    _git(tmp_path / "site", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "rev0")
    _git(tmp_path / "site", "tag", "rev0")
    clusters = inv / "group_vars/all/clusters.yml"
    clusters.write_text(clusters.read_text() + KNL)
    edit(inv / "group_vars/all/identity.yml", "period: 30", "period: 60")
    edit(
        inv / "group_vars/all/testbed.yml",
        "  - {name: scavenger, max_time",
        '  - {name: gpu, max_time: "04:00:00", allow_groups: [atlas]}\n'
        "  - {name: scavenger, max_time",
    )
    # bob loses the scavenger QOS
    edit(
        inv / "group_vars/all/testbed.yml",
        "  - name: bob\n    default_account: default\n    associations:\n"
        "      - {account: default, qos: [normal, scavenger], default_qos: normal}",
        "  - name: bob\n    default_account: default\n    associations:\n"
        "      - {account: default, qos: [normal], default_qos: normal}",
    )
    _git(tmp_path / "site", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "rev1")
    return inv


def test_changes_in_words(repo):
    changes = diff_revisions(str(repo), "rev0", "HEAD")
    text = "\n".join(changes)
    assert "cluster knl gets a new public path /jupyterhub/knl/" in text
    assert "/jupyterhub/knl/ gets a new hub instance knl-knl2 on demo-hub2:8200" in text
    assert "demo-hub2 now listens on port 8200 (configurable-http-proxy of knl-knl2" in text
    assert "group atlas may now use partition gpu on cluster hpc" in changes
    assert "user alice may now use partition gpu on cluster hpc" in changes
    assert "user bob may no longer use partition scavenger on cluster hpc" in changes
    assert "mfa period changes from 30 to 60" in changes
    assert (
        "every user of realm sitehub (local users: alice, bob) may now use cluster knl" in changes
    )
    assert any(c.startswith("new departure (weaker): sitehub_identity.mfa.period") for c in changes)


def test_no_change_says_nothing(repo):
    assert diff_revisions(str(repo), "rev0", "rev0") == []


def test_compare_is_directional(demo_report, example_report):
    forward = compare(demo_report, example_report)
    backward = compare(example_report, demo_report)
    assert (
        "cluster hpc-ic gets a new public path /jupyterhub/hpc-ic/ (JupyterHub cluster hpc-ic "
        "(slurm): 2 instance(s); login: SAML login (mellon) with password + TOTP at "
        "Keycloak)" in forward
    )
    assert "cluster hpc-ic's public path /jupyterhub/hpc-ic/ is gone" in backward


def test_unknown_revision(repo, capsys):
    with pytest.raises(GitError, match="nope: not a revision"):
        diff_revisions(str(repo), "nope", "HEAD")
    assert main(["audit", "--diff", "nope", "HEAD", str(repo)]) == 2
    assert "not a revision" in capsys.readouterr().err


def test_cli_diff(repo, capsys):
    assert main(["audit", "--diff", "rev0", "HEAD", str(repo)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Changes in {repo} from rev0 to HEAD:")
    assert "- cluster knl gets a new public path /jupyterhub/knl/" in out


def test_outside_git(tmp_path):
    inv = copy_inventory("demo", tmp_path)
    with pytest.raises(GitError, match="not in a git repository"):
        diff_revisions(str(inv), "HEAD~1", "HEAD")


def test_invalid_revision_names_the_file_at_that_revision(repo, capsys):
    edit(repo / "group_vars/all/identity.yml", "period: 60", "periodd: 60")
    _git(repo.parent, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "typo")
    assert main(["audit", "--diff", "rev0", "HEAD", str(repo)]) == 1
    err = capsys.readouterr().err
    assert "HEAD:demo/group_vars/all/identity.yml:" in err
    assert "sitehub_identity.mfa.periodd" in err
    assert "Traceback" not in err


def test_inventory_missing_at_a_revision(repo, capsys):
    _git(repo.parent, "mv", "demo", "moved")
    _git(repo.parent, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "moved")
    moved = repo.parent / "moved"
    assert main(["audit", "--diff", "rev0", "HEAD", str(moved)]) == 2
    assert "moved does not exist at rev0" in capsys.readouterr().err
