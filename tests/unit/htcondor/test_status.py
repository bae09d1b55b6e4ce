"""condor_submit / condor_q answers -> what the hub does with a server.

condor_q -json prints job ads as ClassAd JSON; the answers below are made with classad2's
own printJson. The error texts are examples of their kind: the rule under test is that only a
clean, empty answer means "gone"."""

from __future__ import annotations

import classad2
import pytest

from sitehub.htcondor.status import (
    SubmitError,
    batch_constraint,
    condor_q_argv,
    condor_rm_argv,
    describe_history,
    history_argv,
    interpret_condor_q,
    jobs_argv,
    parse_job_list,
    parse_submit,
    prefix_constraint,
    submit_argv,
)
from sitehub.htcondor.submit import UnsafeValue
from sitehub.hub.slurm import Phase


def condor_q_json(*ads: str) -> str:
    return "[\n" + ",\n".join(classad2.ClassAd(a).printJson() for a in ads) + "\n]\n"


def test_submit_output_gives_the_cluster_id():
    out = "Submitting job(s).\n1 job(s) submitted to cluster 4711.\n"
    assert parse_submit(0, out, "") == "4711"


def test_a_refused_submit_says_why():
    err = "ERROR: Submit requirement CheckGroup evaluated to false: not your group\n"
    with pytest.raises(SubmitError, match="CheckGroup evaluated to false"):
        parse_submit(1, "", err)


@pytest.mark.parametrize(
    ("ad", "phase", "state", "host", "reason"),
    [
        ("[ClusterId=42; JobStatus=1; LastRejMatchReason=\"no match found\"]",
         Phase.PENDING, "IDLE", "", "no match found"),
        ("[ClusterId=42; JobStatus=2; RemoteHost=\"slot1_3@gpu07.example.org\"]",
         Phase.RUNNING, "RUNNING", "gpu07.example.org", ""),
        ("[ClusterId=42; JobStatus=5; HoldReason=\"over its allowed execute duration\"]",
         Phase.PENDING, "HELD", "", "over its allowed execute duration"),
        ("[ClusterId=42; JobStatus=3]", Phase.GONE, "REMOVED", "", ""),
        ("[ClusterId=42; JobStatus=4]", Phase.GONE, "COMPLETED", "", ""),
        ("[ClusterId=42; JobStatus=6]", Phase.GONE, "TRANSFERRING_OUTPUT", "", ""),
    ],
)  # fmt: skip
def test_job_states(ad, phase, state, host, reason):
    status = interpret_condor_q("42", 0, condor_q_json(ad), "")
    assert (status.phase, status.state, status.host, status.reason) == (phase, state, host, reason)


def test_an_empty_clean_answer_means_gone():
    assert interpret_condor_q("42", 0, "", "").phase is Phase.GONE


@pytest.mark.parametrize(
    ("rc", "stderr", "unreachable"),
    [
        (1, "-- Failed to fetch ads from: <10.0.0.5:9618> : jupyter-schedd\n"
            "SECMAN:2007:Failed to end classad message.\n", True),
        (1, "Error: Can't find address for schedd jupyter-schedd.example.org\n", True),
        (1, "ERROR: unexpected\n", False),
    ],
)  # fmt: skip
def test_errors_are_unknown_never_gone(rc, stderr, unreachable):
    status = interpret_condor_q("42", rc, "", stderr)
    assert status.phase is Phase.UNKNOWN
    assert status.unreachable is unreachable


def test_timeouts_and_garbage_are_unknown():
    assert interpret_condor_q("42", None, "", "").phase is Phase.UNKNOWN
    assert interpret_condor_q("42", 0, "", "", timed_out=True).unreachable
    assert interpret_condor_q("42", 0, "not json", "").phase is Phase.UNKNOWN
    other = condor_q_json("[ClusterId=41; JobStatus=2]")
    assert interpret_condor_q("42", 0, other, "").phase is Phase.UNKNOWN
    odd = condor_q_json("[ClusterId=42; JobStatus=9]")
    assert interpret_condor_q("42", 0, odd, "").phase is Phase.UNKNOWN


def test_query_command_takes_only_a_cluster_id():
    assert condor_q_argv("42")[:4] == ["condor_q", "42", "-allusers", "-json"]
    assert condor_q_argv("42", "schedd.example.org")[:4] == [
        "condor_q",
        "42",
        "-name",
        "schedd.example.org",
    ]
    for bad in ("42 -global", "-42", "", "٤٢"):
        with pytest.raises(ValueError):
            condor_q_argv(bad)
    for bad in ("-pool evil", "a b", "x\ny"):
        with pytest.raises(ValueError):
            condor_q_argv("42", bad)


def test_other_commands_take_checked_values():
    assert submit_argv() == ["condor_submit"]
    assert submit_argv("s.example.org", spool=True) == [
        "condor_submit", "-name", "s.example.org", "-spool",
    ]  # fmt: skip
    assert condor_rm_argv("42") == ["condor_rm", "42"]
    assert history_argv("42")[-1] == "42"
    with pytest.raises(ValueError):
        condor_rm_argv("42 -all")
    for bad in ('a" || true || "', "a b", ""):
        with pytest.raises(UnsafeValue):
            batch_constraint(bad)
        with pytest.raises(UnsafeValue):
            jobs_argv(bad)


def test_an_empty_list_is_a_clean_no_as_well():
    assert interpret_condor_q("42", 0, "[]\n", "").phase is Phase.GONE


@pytest.mark.parametrize(
    "stderr",
    ["Error: communication error\n", "-- Failed to fetch ads from: <10.0.0.5:9618>\n",
     "condor_q: cannot connect\n", "SECMAN:2010:Received \"DENIED\" ... AUTHENTICATE failed"],
)  # fmt: skip
def test_a_complaint_with_rc_0_is_unknown_not_gone(stderr):
    assert interpret_condor_q("42", 0, "", stderr).phase is Phase.UNKNOWN


def test_harmless_stderr_does_not_hide_a_clean_answer():
    assert interpret_condor_q("42", 0, "", "\n").phase is Phase.GONE
    assert interpret_condor_q("42", 0, "", "Note: using the default schedd\n").phase is Phase.GONE


JOB_ADS = [
    '[ClusterId = 42; JobBatchName = "jupyter-htc.alice"; Owner = "alice"; JobStatus = 2]',
    '[ClusterId = 43; JobBatchName = "jupyter-htc.bob.gpu"; Owner = "bob"; JobStatus = 1]',
    '[ClusterId = 44; JobBatchName = "jupyter-htc-b.alice"; Owner = "alice"; JobStatus = 1]',
    '[ClusterId = 45; JobBatchName = "jupyter-htc"; Owner = "alice"; JobStatus = 1]',
    '[ClusterId = 46; Owner = "alice"; JobStatus = 1]',
]


def test_the_reapers_constraint_selects_this_hubs_jobs_only():
    # evaluated by classad2 the way the schedd evaluates a -constraint against each job ad
    constraint = classad2.ExprTree(prefix_constraint("jupyter-htc"))
    chosen = [
        ad["ClusterId"] for ad in map(classad2.ClassAd, JOB_ADS) if constraint.eval(ad) is True
    ]
    assert chosen == [42, 43]
    one = classad2.ExprTree(batch_constraint("jupyter-htc.alice"))
    assert [ad["ClusterId"] for ad in map(classad2.ClassAd, JOB_ADS) if one.eval(ad) is True] == [
        42
    ]


def test_job_list_is_read_from_condor_q_json():
    jobs = parse_job_list(condor_q_json(*JOB_ADS[:2]))
    assert [(j.job_id, j.name, j.user, j.state) for j in jobs] == [
        ("42", "jupyter-htc.alice", "alice", "RUNNING"),
        ("43", "jupyter-htc.bob.gpu", "bob", "IDLE"),
    ]
    assert parse_job_list("") == []
    with pytest.raises(ValueError):
        parse_job_list("-- Failed to fetch ads")


@pytest.mark.parametrize(
    ("ad", "text"),
    [
        ("[ClusterId = 42; JobStatus = 4; ExitCode = 1; ExitBySignal = false]",
         "COMPLETED, exit code 1"),
        ("[ClusterId = 42; JobStatus = 4; ExitBySignal = true; ExitSignal = 9]",
         "COMPLETED, killed by signal 9"),
        ('[ClusterId = 42; JobStatus = 3; RemoveReason = "via condor_rm (by user alice)"]',
         "REMOVED: via condor_rm (by user alice)"),
        ("[ClusterId = 41; JobStatus = 4; ExitCode = 0]", ""),
    ],
)  # fmt: skip
def test_history_says_how_a_job_ended(ad, text):
    assert describe_history("42", 0, condor_q_json(ad)) == text


def test_history_failures_say_nothing():
    assert (
        describe_history(
            "42",
            1,
            "",
        )
        == ""
    )
    assert describe_history("42", 0, "garbage") == ""


def test_submit_failures_know_an_unreachable_schedd():
    with pytest.raises(SubmitError) as err:
        parse_submit(1, "", "ERROR: Failed to connect to local queue manager\n")
    assert err.value.unreachable
    with pytest.raises(SubmitError) as err:
        parse_submit(1, "", "ERROR: on Line 3 of submit file: bad value\n")
    assert not err.value.unreachable
