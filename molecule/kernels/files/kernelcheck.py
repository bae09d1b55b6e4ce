"""Start an installed kernel the way Jupyter does (jupyter_client), run code, report JSON.

usage: kernelcheck.py KERNEL_NAME [--code CODE] [--startup-timeout S] [--timeout S]

Prints one JSON object: started, startup_seconds, stdout, stderr, displays (the
text/plain of every display and display update, in order), error, and log (what
the kernel process wrote to its stdout/stderr: the kernel log a Jupyter server
keeps). Runs with the notebook venv's Python on a test host.
"""

import argparse
import json
import os
import pwd
import queue
import tempfile
import time

from jupyter_client.manager import KernelManager


def run(kernel: str, code: str, startup_timeout: float, timeout: float) -> dict:
    result = {"kernel": kernel, "started": False, "stdout": "", "stderr": "", "displays": []}
    with tempfile.NamedTemporaryFile(prefix=f"kernel-{kernel}-", suffix=".log") as log:
        km = KernelManager(kernel_name=kernel)
        began = time.monotonic()
        km.start_kernel(stdout=log, stderr=log)
        kc = km.client()
        kc.start_channels()
        try:
            try:
                kc.wait_for_ready(timeout=startup_timeout)
                result["started"] = True
            except RuntimeError as exc:
                result["error"] = f"{type(exc).__name__}: {exc}"
            result["startup_seconds"] = round(time.monotonic() - began, 1)
            if result["started"] and code:
                _execute(kc, code, timeout, result)
        finally:
            kc.stop_channels()
            if km.has_kernel:
                km.shutdown_kernel(now=not result["started"])
            log.flush()
            with open(log.name, encoding="utf-8", errors="replace") as handle:
                result["log"] = handle.read()
    return result


def _execute(kc, code: str, timeout: float, result: dict) -> None:
    msg_id = kc.execute(code)
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            result["error"] = f"no reply within {timeout} s"
            return
        try:
            msg = kc.get_iopub_msg(timeout=left)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            result[content["name"]] += content["text"]
        elif kind in ("display_data", "update_display_data", "execute_result"):
            result["displays"].append(content["data"].get("text/plain", ""))
        elif kind == "error":
            result["error"] = f"{content['ename']}: {content['evalue']}"
            result["traceback"] = content["traceback"]
        elif kind == "status" and content["execution_state"] == "idle":
            return


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kernel")
    parser.add_argument("--code", default="")
    parser.add_argument("--startup-timeout", type=float, default=120)
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()
    # as a single-user server would: the user's own HOME (runtime dir) and directory
    user = pwd.getpwuid(os.getuid())
    os.environ.update(HOME=user.pw_dir, USER=user.pw_name, LOGNAME=user.pw_name)
    os.chdir(user.pw_dir)
    print(json.dumps(run(args.kernel, args.code, args.startup_timeout, args.timeout)))


if __name__ == "__main__":
    main()
