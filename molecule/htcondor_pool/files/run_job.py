#!/usr/bin/env python3
"""Submit one job as the calling user and follow it through the schedd's answers.

usage: run_job.py SUBMIT_FILE UNTIL [TIMEOUT]   (UNTIL: running, done or held)

Prints one JSON object: the cluster id, the seconds from condor_submit to the job first
seen running (polled every 0.1 s), to UNTIL (after_s), the last state and the hold reason; exits 1 when the
job did not get there in time.
"""
import json
import subprocess
import sys
import time

RUNNING, REMOVED, COMPLETED, HELD = 2, 3, 4, 5


def answer(argv):
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()


def main():
    sub, until = sys.argv[1], sys.argv[2]
    timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 120.0
    t0 = time.monotonic()
    # -terse prints "first - last" job ids, e.g. "7.0 - 7.0"
    cluster = answer(["condor_submit", "-terse", sub])[0].split(".")[0]
    out = {"cluster": int(cluster), "running_after_s": None, "status": None, "hold_reason": None,
           "after_s": None}
    while time.monotonic() - t0 < timeout:
        queue = answer(["condor_q", cluster, "-af", "JobStatus"])
        status = int(queue[0]) if queue else None
        if status is None:
            # left the queue: its end is in the history
            status = int(answer(["condor_history", cluster, "-limit", "1", "-af", "JobStatus"])[0])
        if status in (RUNNING, COMPLETED) and out["running_after_s"] is None:
            out["running_after_s"] = round(time.monotonic() - t0, 2)
        out["status"] = status
        if status == HELD:
            out["hold_reason"] = subprocess.run(
                ["condor_q", cluster, "-af", "HoldReason"], capture_output=True, text=True, check=True
            ).stdout.strip()
        if (until == "running" and out["running_after_s"] is not None) \
                or (until == "done" and status in (COMPLETED, REMOVED)) \
                or (until == "held" and status == HELD):
            out["after_s"] = round(time.monotonic() - t0, 2)
            print(json.dumps(out))
            return 0
        time.sleep(0.1)
    print(json.dumps(out))
    print(f"job {cluster} not {until} after {timeout} s", file=sys.stderr)
    return 1


sys.exit(main())
