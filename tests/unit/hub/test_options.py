"""Options form model: entitlements, narrowing data, server-side re-check (sitehub.hub.options)."""

import json
import re

import pytest

from sitehub.hub import options, slurm
from sitehub.hub.batch import JobRequest
from sitehub.hub.images import ImageChoice
from sitehub.hub.options import OptionsError


@pytest.fixture
def cluster(fixture_text):
    return (
        slurm.parse_partitions(fixture_text("scontrol_show_partition.txt")),
        slurm.parse_nodes(fixture_text("scontrol_show_node.txt")),
    )


@pytest.fixture
def model_for(cluster, fixture_text):
    parts, nodes = cluster

    def build(user, **kw):
        assocs = slurm.parse_associations(fixture_text(f"sacctmgr_assoc_{user}.txt"))
        kw.setdefault("cluster", "hubs")
        return options.build_model(parts, nodes, assocs, **kw)

    return build


def test_alice_sees_her_partitions(model_for):
    m = model_for("alice", user_groups=["alice", "users"], default_account="tier3")
    assert [p.name for p in m.partitions] == ["debug", "usatlas", "scavenger"]
    assert m.default_partition == "debug"
    data = m.to_json()["partitions"]
    # debug: both accounts, all their QOS, default QOS first
    assert data["debug"]["accounts"] == {
        "default": {"qos": ["normal"], "default_qos": "normal"},
        "tier3": {"qos": ["atlas", "normal"], "default_qos": "atlas"},
    }
    assert data["debug"]["default_account"] == "tier3"
    assert data["debug"]["max_minutes"] == 60 and data["debug"]["default_minutes"] == 30
    assert data["debug"]["gpus"] == ["none", "any", "pascal"]
    # usatlas only admits tier3
    assert list(data["usatlas"]["accounts"]) == ["tier3"]
    assert data["usatlas"]["gpus"] == ["none", "any", "pascal", "tesla"]
    assert data["usatlas"]["max_minutes"] == 2880
    # scavenger refuses QOS atlas: tier3 keeps only normal there
    assert data["scavenger"]["accounts"]["tier3"]["qos"] == ["normal"]
    assert data["scavenger"]["gpus"] == ["none", "any", "tesla"]
    assert data["scavenger"]["max_minutes"] == 7 * 24 * 60  # unlimited -> site cap


def test_bob_sees_less(model_for):
    m = model_for("bob", user_groups=["bob"])
    assert [p.name for p in m.partitions] == ["debug", "scavenger"]
    assert m.to_json()["partitions"]["debug"]["accounts"] == {
        "default": {"qos": ["normal"], "default_qos": ""}
    }


def test_groups_partition_specific_assocs_and_other_clusters(model_for):
    m = model_for("carol", user_groups=["carol", "hubadmins"])
    names = [p.name for p in m.partitions]
    assert "staff" in names and "retired" not in names  # DOWN partitions hidden
    data = m.to_json()["partitions"]
    # tier3 only has an association for usatlas; the other cluster's rows are ignored
    assert list(data["usatlas"]["accounts"]) == ["tier3"]
    assert "tier3" not in data["debug"]["accounts"]
    # scavenger denies account guest
    assert "guest" not in data["scavenger"]["accounts"] and "guest" in data["debug"]["accounts"]


def test_nothing_entitled(cluster):
    parts, nodes = cluster
    m = options.build_model(parts, nodes, [], allow_local=True)
    assert m.partitions == [] and m.allow_local
    with pytest.raises(OptionsError, match="not entitled"):
        options.validate(m, {"partition": "debug"})
    assert options.validate(m, {"run_local": True}).run_local


# --- server-side re-check -------------------------------------------------------------


def test_valid_choice(model_for):
    m = model_for("alice", default_account="tier3")
    got = options.validate(
        m, {"partition": "usatlas", "account": "tier3", "qos": "normal", "runtime": 120,
            "gpu": "tesla"}
    )  # fmt: skip
    assert got.job == JobRequest("usatlas", "tier3", "normal", 120, "tesla")


def test_defaults_fill_in(model_for):
    got = options.validate(model_for("alice", default_account="tier3"), {})
    assert got.job == JobRequest("debug", "tier3", "atlas", 30, "")


def test_form_strings_are_coerced(model_for):
    form = {"partition": ["debug"], "account": ["default"], "qos": ["normal"],
            "runtime": ["45"], "gpu": ["any"]}  # fmt: skip
    got = options.validate(model_for("alice"), options.coerce(form))
    assert got.job == JobRequest("debug", "default", "normal", 45, "any")


@pytest.mark.parametrize(
    ("user", "forged", "message"),
    [
        ("bob", {"partition": "usatlas"}, "Partition 'usatlas' is not open to you"),
        ("alice", {"partition": "retired"}, "Partition 'retired' is not open to you"),
        (
            "bob",
            {"partition": "debug", "account": "tier3"},
            "Account 'tier3' cannot be used in partition 'debug'",
        ),
        ("alice", {"partition": "usatlas", "account": "default"}, "Your accounts there: tier3"),
        (
            "alice",
            {"partition": "scavenger", "account": "tier3", "qos": "atlas"},
            "QOS 'atlas' is not allowed for account 'tier3' in partition 'scavenger'",
        ),
        (
            "alice",
            {"partition": "debug", "runtime": 61},
            "Runtime 61 min exceeds the maximum of 60 min for partition 'debug'",
        ),
        ("alice", {"partition": "debug", "runtime": 0}, "at least 1 minute"),
        ("alice", {"partition": "debug", "runtime": "1h"}, "whole number of minutes"),
        ("alice", {"partition": "debug", "runtime": 12.5}, "whole number of minutes"),
        (
            "alice",
            {"partition": "debug", "gpu": "tesla"},
            "GPU type 'tesla' is not offered in partition 'debug'",
        ),
        ("alice", {"partition": "debug", "gpu": "pascal:8"}, "not offered"),
        ("alice", {"run_local": True}, "not offered here"),
        ("alice", {"partition": "debug", "uid": "0"}, "Unknown option(s): uid"),
        ("alice", {"partition": ["debug", "usatlas"]}, "exactly one value"),
        ("alice", {"partition": 5}, "must be text"),
        ("alice", {"run_local": "maybe"}, "true or false"),
    ],
)
def test_forged_values_refused(model_for, user, forged, message):
    with pytest.raises(OptionsError, match=re.escape(message)):
        options.validate(model_for(user), forged)


def test_partition_without_gpus(cluster):
    parts, _ = cluster
    assocs = [slurm.Association("hubs", "default", "dave", "", ("normal",), "normal")]
    m = options.build_model(parts, [], assocs)
    with pytest.raises(OptionsError, match="has no GPUs"):
        options.validate(m, {"partition": "debug", "gpu": "any"})
    assert m.to_json()["partitions"]["debug"]["gpus"] == ["none"]


def test_run_local_when_offered(model_for):
    m = model_for("alice", allow_local=True)
    assert options.validate(m, {"run_local": "true", "partition": "x"}).run_local
    assert not options.validate(m, {"run_local": "false"}).run_local


# --- rendering ------------------------------------------------------------------------


def test_form_html_embeds_narrowing_data(model_for):
    pytest.importorskip("jinja2")
    m = model_for("alice", allow_local=True, default_account="tier3")
    html = options.render_form(m, {"partition": "usatlas", "runtime": 90, "bogus": "x"})
    data = re.search(r'id="sitehub-options-data">(.*?)</script>', html, re.S).group(1)
    assert json.loads(data) == m.to_json()
    prev = re.search(r'id="sitehub-options-previous">(.*?)</script>', html, re.S).group(1)
    assert json.loads(prev) == {"partition": "usatlas", "runtime": 90}
    assert 'name="partition"' in html and 'name="run_local"' in html
    assert '<option value="debug" selected>' in html


def test_form_json_cannot_break_out_of_script():
    text = options.script_json({"x": "</script><script>alert(1)</script>&"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"x": "</script><script>alert(1)</script>&"}


def test_form_notice_when_slurm_down():
    pytest.importorskip("jinja2")
    m = options.FormModel([], allow_local=True, notice="The Slurm controller is not reachable")
    html = options.render_form(m)
    assert "not reachable" in html and "checked" in html


# --- container images ---------------------------------------------------------------------

IMAGES = {
    "el9": ImageChoice("el9", "/cvmfs/unpacked.cern.ch/el9.sif", "EL9 <analysis>"),
    "root": ImageChoice("root", "docker://rootproject/root:6.32", "ROOT 6.32"),
}


def test_images_are_offered_in_every_partition(model_for):
    pytest.importorskip("jinja2")
    m = model_for("alice", images=IMAGES)
    assert m.to_json()["images"] == {
        "none": "none (host system)",
        "el9": "EL9 <analysis>",
        "root": "ROOT 6.32",
    }
    html = options.render_form(m)
    assert 'name="image"' in html and '<option value="none" selected>' in html
    # the label is text, not markup
    assert "EL9 &lt;analysis&gt;" in html and "EL9 <analysis>" not in html


def test_no_image_select_without_images(model_for):
    pytest.importorskip("jinja2")
    assert 'name="image"' not in options.render_form(model_for("alice"))


def test_chosen_image_reaches_the_job_request_as_its_reference(model_for):
    m = model_for("alice", default_account="tier3", images=IMAGES)
    assert options.validate(m, {"image": "el9"}).job.image == "/cvmfs/unpacked.cern.ch/el9.sif"
    assert options.validate(m, {"image": "none"}).job.image == ""
    assert options.validate(m, {}).job.image == ""


@pytest.mark.parametrize(
    "forged, message",
    [
        ({"image": "centos7"}, "Image 'centos7' is not offered here (available: none, el9, root)"),
        ({"image": "/etc/passwd"}, "Image '/etc/passwd' is not offered here"),
        ({"image": "el9", "run_local": "on"}, "Container images run in batch jobs only"),
        ({"image": ["el9", "root"]}, "exactly one value"),
    ],
)
def test_forged_images_refused(model_for, forged, message):
    m = model_for("alice", default_account="tier3", images=IMAGES, allow_local=True)
    with pytest.raises(OptionsError, match=re.escape(message)):
        options.validate(m, forged)
