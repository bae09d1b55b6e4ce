"""Unit tests of roles/slurm_testbed/library/slurm_accounting.py (the planning part)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[3] / "roles/slurm_testbed/library/slurm_accounting.py"
_spec = importlib.util.spec_from_file_location("slurm_accounting", _PATH)
sa = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sa)

ASSOC_FIELDS = ["account", "user", "partition", "qos", "defaultqos"]


def state(clusters="", qos="", assocs="", users=""):
    return {
        "clusters": sa.parse_rows(clusters, ["cluster"]),
        "qos": sa.parse_rows(qos, ["name", "priority", "maxwall"]),
        "assocs": sa.parse_rows(assocs, ASSOC_FIELDS),
        "users": sa.parse_rows(users, ["user", "defaultaccount"]),
    }


ACCOUNTS = [{"name": "default", "description": "everyone"}, {"name": "tier3"}]
QOS = [{"name": "normal", "priority": 0}, {"name": "usatlas", "priority": 100}]
USERS = [
    {
        "name": "alice",
        "default_account": "default",
        "associations": [
            {"account": "tier3", "qos": ["usatlas", "normal"], "default_qos": "normal"},
            {"account": "default", "qos": ["normal"], "default_qos": "normal"},
        ],
    }
]

# what sacctmgr -nP shows once everything above exists
DONE = state(
    clusters="hubs\n",
    qos="normal|0|\nusatlas|100|\n",
    assocs=(
        "root||||normal|\nroot|root||normal|\ndefault||||normal|\n"
        "default|alice||normal|normal\ntier3||||normal|\n"
        "tier3|alice||normal,usatlas|normal\n"
    ),
    users="root|root\nalice|default\n",
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 5400),
        ("1:30", 90),
        ("01:00:00", 3600),
        ("2-00:00:00", 172800),
        ("1-12", 129600),
        ("1-0:30", 88200),
        ("", None),
        ("UNLIMITED", None),
        (None, None),
        (15, 900),
    ],
)
def test_slurm_time_seconds(text, seconds):
    assert sa.slurm_time_seconds(text) == seconds


def test_slurm_time_rejects_garbage():
    with pytest.raises(ValueError):
        sa.slurm_time_seconds("soon")


def test_parse_rows_pads_short_lines():
    assert sa.parse_rows("a|b\n\nc\n", ["x", "y"]) == [{"x": "a", "y": "b"}, {"x": "c", "y": ""}]


def test_fresh_database_gets_everything_in_order():
    cmds = sa.plan("hubs", ACCOUNTS, QOS, USERS, state(qos="normal|0|\n"))
    assert cmds == [
        ["add", "cluster", "hubs"],
        ["add", "qos", "usatlas", "priority=100"],
        ["add", "account", "default", "cluster=hubs", "description=everyone"],
        ["add", "account", "tier3", "cluster=hubs"],
        # the default account's association first, setting the default account
        [
            "add",
            "user",
            "alice",
            "account=default",
            "cluster=hubs",
            "defaultaccount=default",
            "qos=normal",
            "defaultqos=normal",
        ],
        [
            "add",
            "user",
            "alice",
            "account=tier3",
            "cluster=hubs",
            "qos=normal,usatlas",
            "defaultqos=normal",
        ],
    ]


def test_nothing_to_do_when_all_exists():
    assert sa.plan("hubs", ACCOUNTS, QOS, USERS, DONE) == []


def test_changed_qos_priority_and_maxwall():
    qos = [{"name": "normal", "priority": 0, "max_wall": "60"}, {"name": "usatlas", "priority": 5}]
    cur = dict(
        DONE,
        qos=sa.parse_rows("normal|0|01:00:00\nusatlas|100|\n", ["name", "priority", "maxwall"]),
    )
    assert sa.plan("hubs", ACCOUNTS, qos, USERS, cur) == [
        ["modify", "qos", "where", "name=usatlas", "set", "priority=5"]
    ]


def test_association_qos_and_default_account_are_updated():
    users = [
        {
            "name": "alice",
            "default_account": "tier3",
            "associations": [
                {"account": "tier3", "qos": ["normal", "usatlas", "scavenger"]},
                {"account": "default", "qos": ["normal"], "default_qos": "normal"},
            ],
        }
    ]
    assert sa.plan("hubs", ACCOUNTS, QOS, users, DONE) == [
        [
            "modify",
            "user",
            "where",
            "name=alice",
            "account=tier3",
            "cluster=hubs",
            "set",
            "qos=normal,scavenger,usatlas",
        ],
        ["modify", "user", "where", "name=alice", "set", "defaultaccount=tier3"],
    ]


def test_partition_associations_are_not_mistaken_for_plain_ones():
    cur = dict(
        DONE,
        assocs=sa.parse_rows(
            "default||||normal|\ntier3||||normal|\ndefault|alice|debug|normal|normal\n",
            ASSOC_FIELDS,
        ),
    )
    cmds = sa.plan("hubs", ACCOUNTS, QOS, USERS, cur)
    assert [c[:4] for c in cmds] == [
        ["add", "user", "alice", "account=default"],
        ["add", "user", "alice", "account=tier3"],
    ]


def test_missing_name_is_an_error():
    with pytest.raises(KeyError):
        sa.plan("hubs", [{"description": "x"}], [], [], DONE)
