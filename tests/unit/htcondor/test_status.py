"""condor_submit / condor_q answers -> what the hub does with a server.

condor_q -json prints job ads as ClassAd JSON; the answers below are made with classad2's
own printJson. The error texts are examples of their kind: the rule under test is that only a
clean, empty answer means "gone"."""

from __future__ import annotations

import classad2
import pytest

from sitehub.htcondor.status import (
    SubmitError,
    condor_q_argv,
    interpret_condor_q,
    parse_submit,
)
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
    assert condor_q_argv("42")[:3] == ["condor_q", "42", "-json"]
    with pytest.raises(ValueError):
        condor_q_argv("42 -global")
