"""Serve Docker's API from podman for the length of one command.

Tools written for Docker (molecule's docker driver, community.docker) talk to
`podman system service` through DOCKER_HOST; no Docker engine is needed.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

DEFAULT_SOCKET = Path("/run/sitehub-podman.sock")


def socket_answers(path: Path, timeout: float = 2.0) -> bool:
    """True if a Docker-compatible API answers GET /_ping on the unix socket."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    return reply.startswith(b"HTTP/1.") and b" 200 " in reply.split(b"\r\n", 1)[0]


def pick_socket(preferred: Path = DEFAULT_SOCKET) -> Path:
    """The preferred socket path, or a private one if another run is serving it."""
    if preferred.exists() and socket_answers(preferred):
        return preferred.with_name(f"{preferred.stem}-{os.getpid()}{preferred.suffix}")
    return preferred


def service_command(sock: Path) -> list[str]:
    return ["podman", "system", "service", "--time=0", f"unix://{sock}"]


@contextlib.contextmanager
def podman_service(
    sock: Path, env: Mapping[str, str], start_timeout: float = 30.0
) -> Iterator[Path]:
    """Run `podman system service` on `sock` until the block ends."""
    with contextlib.suppress(FileNotFoundError):
        sock.unlink()  # a stale socket file from a killed run
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            service_command(sock), env=dict(env), stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + start_timeout
            while not socket_answers(sock):
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    output = log.read().decode(errors="replace")[-2000:]
                    raise RuntimeError(f"podman system service did not start on {sock}:\n{output}")
                time.sleep(0.2)
            yield sock
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            with contextlib.suppress(FileNotFoundError):
                sock.unlink()


def run_with_docker_api(
    command: Sequence[str], env: Mapping[str, str], sock: Path | None = None
) -> int:
    """Run `command` with DOCKER_HOST pointing at a podman service; its exit status."""
    sock = sock or pick_socket()
    with podman_service(sock, env):
        child_env = {**env, "DOCKER_HOST": f"unix://{sock}"}
        return subprocess.call(list(command), env=child_env)
