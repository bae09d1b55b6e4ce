"""Parsers for Slurm 22.05 output and the job-state rules (sitehub.hub.slurm)."""

import pytest

from sitehub.hub import slurm
from sitehub.hub.slurm import Phase


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("UNLIMITED", None),
        ("INFINITE", None),
        ("NONE", None),
        ("30", 30),
        ("30:00", 30),
        ("30:01", 31),
        ("01:00:00", 60),
        ("00:00:01", 1),
        ("2-00:00:00", 2880),
        ("1-12", 2160),
        ("1-00:30", 1470),
    ],
)
def test_time_minutes(text, minutes):
    assert slurm.parse_time_minutes(text) == minutes


def test_time_rejects_garbage():
    with pytest.raises(ValueError):
        slurm.parse_time_minutes("1:2:3:4")


def test_kv_line_keeps_values_with_spaces_and_equals():
    kv = slurm.parse_kv_line(
        "NodeName=n1 OS=Linux 6.1.0 #1 SMP PREEMPT_DYNAMIC Debian TRES=cpu=4,mem=1G "
        "Reason=Not responding [slurm@2024-11-25T12:50:00]"
    )
    assert kv["OS"] == "Linux 6.1.0 #1 SMP PREEMPT_DYNAMIC Debian"
    assert kv["TRES"] == "cpu=4,mem=1G"
    assert kv["Reason"] == "Not responding [slurm@2024-11-25T12:50:00]"


def test_partitions(fixture_text):
    parts = {p.name: p for p in slurm.parse_partitions(fixture_text("scontrol_show_partition.txt"))}
    assert list(parts) == ["debug", "usatlas", "scavenger", "staff", "retired"]
    debug = parts["debug"]
    assert debug.default and debug.max_minutes == 60 and debug.default_minutes == 30
    assert debug.allow_accounts is None and debug.allow_qos is None
    atlas = parts["usatlas"]
    assert atlas.max_minutes == 2880 and atlas.default_minutes is None
    assert atlas.allow_accounts == {"tier3"} and atlas.allow_qos == {"atlas", "normal"}
    assert atlas.account_allowed("tier3") and not atlas.account_allowed("default")
    scav = parts["scavenger"]
    assert scav.max_minutes is None
    assert scav.deny_accounts == {"guest"} and not scav.account_allowed("guest")
    assert scav.account_allowed("default")
    assert not scav.qos_allowed("atlas") and scav.qos_allowed("normal") and scav.qos_allowed("")
    assert parts["staff"].allow_groups == {"hubadmins"}
    assert parts["staff"].groups_allowed(["users", "hubadmins"])
    assert not parts["staff"].groups_allowed(["users"])
    assert parts["retired"].state == "DOWN"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("(null)", []),
        ("gpu:pascal:2", [("gpu", "pascal", 2)]),
        ("gpu:2", [("gpu", "", 2)]),
        ("gpu:tesla:1(S:0-1),gpu:pascal:1", [("gpu", "tesla", 1), ("gpu", "pascal", 1)]),
        ("gpu:tesla:2(S:0,1)", [("gpu", "tesla", 2)]),
        ("mps:100,gpu:pascal:1", [("mps", "", 100), ("gpu", "pascal", 1)]),
    ],
)
def test_gres(value, expected):
    assert [(g.name, g.type, g.count) for g in slurm.parse_gres(value)] == expected


def test_nodes_and_gpus_by_partition(fixture_text):
    nodes = slurm.parse_nodes(fixture_text("scontrol_show_node.txt"))
    assert [n.name for n in nodes] == ["hubs-c1", "hubs-c2"]
    assert nodes[1].addr == "10.89.3.12"
    assert nodes[0].gpu_types == {"pascal"} and nodes[1].gpu_types == {"tesla"}
    gpus = slurm.gpus_by_partition(nodes)
    assert gpus["debug"] == (True, {"pascal"})
    assert gpus["usatlas"] == (True, {"pascal", "tesla"})
    assert gpus["scavenger"] == (True, {"tesla"})


def test_associations(fixture_text):
    assocs = slurm.parse_associations(fixture_text("sacctmgr_assoc_alice.txt"))
    assert [(a.account, a.partition, a.qos, a.default_qos) for a in assocs] == [
        ("default", "", ("normal",), "normal"),
        ("tier3", "", ("atlas", "normal"), "atlas"),
    ]
    assert slurm.parse_associations("hubs|tier3|||normal|\n") == []  # account row, no user
    with pytest.raises(ValueError):
        slurm.parse_associations("garbage line\n")


def test_default_account_and_config(fixture_text):
    assert slurm.parse_default_account("alice|tier3\n") == "tier3"
    assert slurm.parse_default_account("") == ""
    cfg = fixture_text("scontrol_show_config.txt")
    assert slurm.parse_config_value(cfg, "ClusterName") == "hubs"
    assert slurm.parse_config_value(cfg, "Nope") is None


def test_sbatch_output():
    assert slurm.parse_sbatch(0, "1234\n", "") == "1234"
    assert slurm.parse_sbatch(0, "1234;hubs\n", "") == "1234"
    assert slurm.parse_sbatch(0, "sbatch: some warning\n77\n", "") == "77"
    with pytest.raises(slurm.SlurmError) as down:
        slurm.parse_sbatch(
            1,
            "",
            "sbatch: error: Batch job submission failed: "
            "Unable to contact slurm controller (connect failure)\n",
        )
    assert down.value.unreachable
    assert str(down.value).startswith("Batch job submission failed: Unable to contact")
    with pytest.raises(slurm.SlurmError) as refused:
        slurm.parse_sbatch(
            1,
            "",
            "sbatch: error: Batch job submission failed: "
            "Invalid account or account/partition combination specified\n",
        )
    assert not refused.value.unreachable
    with pytest.raises(slurm.SlurmError):
        slurm.parse_sbatch(0, "", "")


# --- job status: controller down vs job gone vs running -------------------------------


def test_running_job():
    st = slurm.interpret_squeue("42", 0, "42|RUNNING|None|hubs-c1|hubs-c1|debug\n", "")
    assert st.phase is Phase.RUNNING and st.host == "hubs-c1" and st.partition == "debug"


@pytest.mark.parametrize("batch_host", ["n/a", "(null)", ""])
def test_pending_job(batch_host):
    st = slurm.interpret_squeue("43", 0, f"43|PENDING|Resources|{batch_host}||usatlas\n", "")
    assert st.phase is Phase.PENDING and st.reason == "Resources" and st.host == ""


def test_running_job_host_from_nodelist():
    st = slurm.interpret_squeue("44", 0, "44|RUNNING|None|n/a|hubs-c2|debug\n", "")
    assert st.host == "hubs-c2"


@pytest.mark.parametrize(
    "state", ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"]
)
def test_finished_states_are_gone(state):
    st = slurm.interpret_squeue("45", 0, f"45|{state}|None|hubs-c1|hubs-c1|debug\n", "")
    assert st.phase is Phase.GONE and st.state == state


def test_cancelled_by_user_state_suffix():
    st = slurm.interpret_squeue("45", 0, "45|CANCELLED by 1001|None|hubs-c1|hubs-c1|debug\n", "")
    assert st.phase is Phase.GONE and st.state == "CANCELLED"


def test_purged_job_is_gone():
    st = slurm.interpret_squeue("46", 1, "", "slurm_load_jobs error: Invalid job id specified\n")
    assert st.phase is Phase.GONE
    assert slurm.interpret_squeue("46", 0, "", "").phase is Phase.GONE


@pytest.mark.parametrize(
    "stderr",
    [
        "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n",
        "slurm_load_jobs error: Socket timed out on send/recv operation\n",
        "squeue: error: Zero Bytes were transmitted or received\n",
    ],
)
def test_controller_down_is_unknown_not_gone(stderr):
    st = slurm.interpret_squeue("47", 1, "", stderr)
    assert st.phase is Phase.UNKNOWN and st.unreachable


def test_other_errors_are_unknown():
    st = slurm.interpret_squeue("48", 1, "", "squeue: error: Something new went wrong\n")
    assert st.phase is Phase.UNKNOWN and not st.unreachable
    assert slurm.interpret_squeue("48", None, "", "", timed_out=True).phase is Phase.UNKNOWN
    assert slurm.interpret_squeue("48", 0, "garbage\n", "").phase is Phase.UNKNOWN
    odd = slurm.interpret_squeue("48", 0, "48|WEIRD_NEW_STATE|None|||debug\n", "")
    assert odd.phase is Phase.UNKNOWN


def test_queue_position():
    assert slurm.queue_position("50\n43\n51\n", "43") == 2
    assert slurm.queue_position("50\n", "43") is None


def test_job_list():
    jobs = slurm.parse_job_list("42|jupyter-alpha-alice|alice|RUNNING\n43|other|bob|PENDING\n")
    assert [(j.job_id, j.name, j.user) for j in jobs] == [
        ("42", "jupyter-alpha-alice", "alice"),
        ("43", "other", "bob"),
    ]
