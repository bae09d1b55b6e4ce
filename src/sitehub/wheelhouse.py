"""Offline wheelhouses for the hosts, built on the controller.

pip inside the hosts cannot always reach or verify PyPI (site CAs, proxies, air gaps), so
the controller downloads every wheel once into $SITEHUB_CACHE/wheelhouse/<set> and the roles
install from there with ``--no-index``. Each set is a hash-pinned lock file kept in its
role (``requirements.txt``) next to the short list of top-level pins it came from
(``requirements.in``); ``lock`` regenerates the first from the second.

    sitehub wheelhouse build hub notebook     # download (skipped when complete), <set>.tar
                                              # of the locked wheels, + the sitehub wheel
    sitehub wheelhouse lock hub               # re-resolve requirements.in for the target hosts
    python -m sitehub.wheelhouse build hub    # same, without the sitehub CLI (no "wheelhouse")
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Target hosts: Debian 12, CPython 3.11.2 (not the controller's 3.11.x: some wheels need a
# newer patch release and would be refused in the hosts), x86_64 glibc 2.36.
TARGET_PYTHON = "3.11.2"
TARGET_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64")
TARGET_ABIS = ("cp311", "abi3", "none")
# Zip timestamps of the sitehub wheel: fixed so an unchanged source gives identical bytes
# and the roles stay idempotent.
SOURCE_DATE_EPOCH = "315532800"


@dataclass(frozen=True)
class WheelSet:
    name: str
    requirements: str  # lock file, relative to the repo
    with_sitehub: bool  # also build the sitehub wheel into the set


SETS = {
    "hub": WheelSet("hub", "roles/jupyterhub/files/requirements.txt", True),
    "notebook": WheelSet("notebook", "roles/notebook_env/files/requirements.txt", False),
}


def target_args() -> list[str]:
    args = ["--only-binary=:all:", "--python-version", TARGET_PYTHON, "--implementation", "cp"]
    for plat in TARGET_PLATFORMS:
        args += ["--platform", plat]
    for abi in TARGET_ABIS:
        args += ["--abi", abi]
    return args


def parse_lock(text: str) -> dict[str, set[str]]:
    """Map each pinned requirement ('name==version') to its allowed sha256 hashes."""
    pins: dict[str, set[str]] = {}
    current = ""
    # pip allows backslash continuations; join them first
    for raw in text.replace("\\\n", " ").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        current = parts[0]
        hashes = {p.split(":", 1)[1] for p in parts[1:] if p.startswith("--hash=sha256:")}
        pins[current] = hashes
    return pins


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def missing_pins(lock: dict[str, set[str]], dest: Path) -> list[str]:
    """Pins with no wheel in dest matching one of their hashes."""
    present = {sha256(p) for p in dest.glob("*.whl")} if dest.is_dir() else set()
    return [pin for pin, hashes in lock.items() if not hashes & present]


def repo_root(start: Path | None = None) -> Path:
    here = (start or Path.cwd()).resolve()
    for cand in (here, *here.parents):
        if (cand / "pyproject.toml").is_file() and (cand / "roles").is_dir():
            return cand
    # installed in develop mode: src/sitehub/wheelhouse.py -> repo
    return Path(__file__).resolve().parents[2]


def cache_dir() -> Path:
    return Path(os.environ.get("SITEHUB_CACHE") or "/var/cache/sitehub")


def pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    subprocess.run(cmd, check=True)


def build_sitehub_wheel(repo: Path, dest: Path) -> Path:
    """Build the sitehub wheel from a clean copy of the source (never in the shared tree)."""
    with tempfile.TemporaryDirectory(prefix="sitehub-wheel-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(
            repo / "src",
            src / "src",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
        )
        shutil.copy2(repo / "pyproject.toml", src / "pyproject.toml")
        # pyproject names a readme; the hosts never read it, and with the real one every
        # README edit would change the wheel and restart the hubs
        (src / "README.md").write_text("sitehub\n")
        # identical zip metadata for identical sources: fixed times, umask-independent modes
        for path in src.rglob("*"):
            os.utime(path, (int(SOURCE_DATE_EPOCH), int(SOURCE_DATE_EPOCH)))
            path.chmod(0o755 if path.is_dir() else 0o644)
        out = Path(tmp) / "out"
        env = {**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH}
        cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "wheel", "-q"]
        cmd += ["--no-deps", "-w", str(out), str(src)]
        subprocess.run(cmd, check=True, env=env)
        (built,) = out.glob("sitehub-*.whl")
        target = dest / built.name
        if not target.exists() or sha256(target) != sha256(built):
            shutil.copy2(built, target)
        return target


def pack(name: str, dest_root: Path, lock: dict[str, set[str]]) -> Path:
    """<dest_root>/<name>.tar of the set's locked wheels: one file for the roles to copy.

    Deterministic (sorted, fixed owner/time/mode), so an unchanged set gives identical bytes
    and copying it to the hosts is idempotent. The sitehub wheel is not in it (it changes
    with every source edit; the hub role copies it on its own).
    """
    wanted = set().union(*lock.values()) if lock else set()
    wheels = sorted(p for p in (dest_root / name).glob("*.whl") if sha256(p) in wanted)
    target = dest_root / f"{name}.tar"
    with (
        tempfile.NamedTemporaryFile(dir=dest_root, suffix=".tmp", delete=False) as tmp,
        tarfile.open(fileobj=tmp, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for wheel in wheels:
            info = tar.gettarinfo(str(wheel), arcname=wheel.name)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = int(SOURCE_DATE_EPOCH)
            info.mode = 0o644
            with wheel.open("rb") as f:
                tar.addfile(info, f)
    tmp_path = Path(tmp.name)
    if target.exists() and sha256(target) == sha256(tmp_path):
        tmp_path.unlink()
    else:
        tmp_path.replace(target)
        target.chmod(0o644)
    return target


def build(name: str, repo: Path, dest_root: Path) -> Path:
    wset = SETS[name]
    dest = dest_root / name
    dest.mkdir(parents=True, exist_ok=True)
    lockfile = repo / wset.requirements
    lock = parse_lock(lockfile.read_text())
    missing = missing_pins(lock, dest)
    if missing:
        print(f"wheelhouse {name}: downloading {len(missing)} of {len(lock)} wheels")
        pip("download", "--no-deps", "--require-hashes", "-d", str(dest), *target_args(),
            "-r", str(lockfile))  # fmt: skip
        still = missing_pins(lock, dest)
        if still:
            raise SystemExit(f"wheelhouse {name}: still missing {still}")
    else:
        print(f"wheelhouse {name}: {len(lock)} wheels present")
    archive = pack(name, dest_root, lock)
    print(f"wheelhouse {name}: {archive} sha256={sha256(archive)[:12]}")
    if wset.with_sitehub:
        wheel = build_sitehub_wheel(repo, dest)
        print(f"wheelhouse {name}: {wheel.name} sha256={sha256(wheel)[:12]}")
    return dest


def lock(name: str, repo: Path) -> Path:
    """Re-resolve requirements.in for the target hosts into the hash-pinned requirements.txt."""
    wset = SETS[name]
    lockfile = repo / wset.requirements
    infile = lockfile.with_suffix(".in")
    with tempfile.TemporaryDirectory(prefix="sitehub-lock-") as tmp:
        report = Path(tmp) / "report.json"
        pip("install", "-q", "--dry-run", "--ignore-installed", "--target", str(Path(tmp) / "t"),
            "--report", str(report), *target_args(), "-r", str(infile))  # fmt: skip
        items = json.loads(report.read_text())["install"]
    lines = [
        f"# Generated by `sitehub wheelhouse lock {name}` from {infile.name}",
        f"# for CPython {TARGET_PYTHON} on x86_64 manylinux (Debian 12). Do not edit by hand.",
    ]
    for item in sorted(items, key=lambda i: i["metadata"]["name"].lower()):
        meta = item["metadata"]
        digest = item["download_info"]["archive_info"]["hashes"]["sha256"]
        lines.append(f"{meta['name']}=={meta['version']} --hash=sha256:{digest}")
    lockfile.write_text("\n".join(lines) + "\n")
    return lockfile


def add_subparsers(subparsers: argparse._SubParsersAction) -> None:
    """Register `wheelhouse build|lock` on the sitehub CLI."""
    _register(subparsers.add_parser("wheelhouse", help="offline wheel sets for the hosts"))


def _register(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="wheelhouse_cmd", required=True)
    b = sub.add_parser("build", help="download the pinned wheels (+ the sitehub wheel)")
    b.add_argument(
        "sets", nargs="*", metavar="SET", help=f"one of {', '.join(SETS)} (default: all)"
    )
    b.add_argument("--repo", type=Path, default=None, help="repository root (default: found)")
    b.add_argument("--dest", type=Path, default=None, help="default $SITEHUB_CACHE/wheelhouse")
    b.set_defaults(func=_cmd_build)
    lk = sub.add_parser("lock", help="re-resolve a set's requirements.in into its lock file")
    lk.add_argument("sets", nargs="+", choices=list(SETS))
    lk.add_argument("--repo", type=Path, default=None)
    lk.set_defaults(func=_cmd_lock)


def _cmd_build(args: argparse.Namespace) -> int:
    repo = args.repo or repo_root()
    dest = args.dest or cache_dir() / "wheelhouse"
    unknown = sorted(set(args.sets) - set(SETS))
    if unknown:
        raise SystemExit(f"unknown wheel set(s) {unknown}; known: {sorted(SETS)}")
    for name in args.sets or list(SETS):
        build(name, repo, dest)
    return 0


def _cmd_lock(args: argparse.Namespace) -> int:
    repo = args.repo or repo_root()
    for name in args.sets:
        print(lock(name, repo))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sitehub.wheelhouse")
    _register(parser)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
