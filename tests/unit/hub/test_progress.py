"""Progress events while a job waits and starts (sitehub.hub.progress)."""

from sitehub.hub import progress
from sitehub.hub.slurm import JobStatus, Phase


def test_pending_shows_id_state_reason_position():
    ev = progress.describe(
        JobStatus(Phase.PENDING, "43", "PENDING", "Resources", partition="usatlas"), position=2
    )
    assert ev["message"] == (
        "Job 43 is PENDING (reason: Resources, waiting for free resources); "
        "position 2 in the queue of partition usatlas."
    )
    assert ev["job_id"] == "43" and ev["reason"] == "Resources" and ev["queue_position"] == 2


def test_pending_unknown_reason_and_no_position():
    ev = progress.describe(JobStatus(Phase.PENDING, "43", "PENDING", "SomethingNew"))
    assert ev["message"] == "Job 43 is PENDING (reason: SomethingNew)."


def test_running_shows_node():
    ev = progress.describe(JobStatus(Phase.RUNNING, "43", "RUNNING", host="hubs-c1"))
    assert "on node hubs-c1" in ev["message"] and ev["node"] == "hubs-c1"
    assert ev["progress"] > progress.PENDING


def test_unknown_says_still_trying():
    ev = progress.describe(
        JobStatus(Phase.UNKNOWN, "43", detail="Unable to contact", unreachable=True)
    )
    assert "Cannot reach the Slurm controller" in ev["message"]


def test_submitted_and_connecting():
    assert progress.submitted("43", "partition debug")["message"] == (
        "Submitted batch job 43 to partition debug."
    )
    assert "hubs-c1:4242" in progress.connecting("hubs-c1", 4242)["message"]
