"""Offline wheelhouses for the hosts, built on the controller.

pip inside the hosts cannot always reach or verify PyPI (site CAs, proxies, air gaps), so
the controller downloads every wheel once into $SITEHUB_CACHE/wheelhouse/<set> and the roles
install from there with ``--no-index``. A set has one list of top-level pins in its role
(``files/requirements.in``) and, per target host release, a hash-pinned lock file
(``files/requirements-<release>.txt``): binary wheels, and so their hashes, differ per Python.
``lock`` regenerates lock files from the pins.

    sitehub wheelhouse build hub notebook     # every target's wheels (downloads only what is
                                              # missing), <set>-<release>.tar each, + the
                                              # sitehub wheel
    sitehub wheelhouse lock hub --target trixie   # re-resolve requirements.in for one release
    python -m sitehub.wheelhouse build hub    # same, without the sitehub CLI (no "wheelhouse")

The roles pick ``<set>-<release>.tar`` and ``requirements-<release>.txt`` by the host's
``ansible_facts['distribution_release']``.
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


@dataclass(frozen=True)
class Target:
    """A host release the wheel sets are built for: what /usr/bin/python3 and glibc are there."""

    release: str  # Debian codename, as the hosts' facts name it (distribution_release)
    debian: str
    python: str  # exact version: some wheels need a newer patch release than a host has
    glibc: tuple[int, int]

    @property
    def abi(self) -> str:
        major, minor = self.python.split(".")[:2]
        return f"cp{major}{minor}"

    @property
    def platforms(self) -> tuple[str, ...]:
        # every manylinux tag this glibc runs; pip does not expand manylinux_2_x tags itself
        minors = range(17, self.glibc[1] + 1)
        return ("manylinux2014_x86_64", *(f"manylinux_2_{m}_x86_64" for m in minors))

    def marker_environment(self) -> dict[str, str]:
        """Environment-marker values of the hosts' Python (the controller's may differ)."""
        major, minor = self.python.split(".")[:2]
        return {
            "python_version": f"{major}.{minor}",
            "python_full_version": self.python,
            "implementation_name": "cpython",
            "implementation_version": self.python,
            "platform_python_implementation": "CPython",
            "platform_machine": "x86_64",
            "platform_system": "Linux",
            "sys_platform": "linux",
            "os_name": "posix",
        }


# x86_64 Debian hosts; python3 versions as in each release's python3 package.
TARGETS = {
    "bookworm": Target("bookworm", "12", "3.11.2", (2, 36)),
    "trixie": Target("trixie", "13", "3.13.5", (2, 41)),
}
# Zip timestamps of the sitehub wheel: fixed so an unchanged source gives identical bytes
# and the roles stay idempotent.
SOURCE_DATE_EPOCH = "315532800"


@dataclass(frozen=True)
class WheelSet:
    name: str
    role: str  # role directory, relative to the repo: files/requirements.in + lock files
    with_sitehub: bool  # also build the sitehub wheel into the set

    def infile(self, repo: Path) -> Path:
        return repo / self.role / "files" / "requirements.in"

    def lockfile(self, repo: Path, target: Target) -> Path:
        return repo / self.role / "files" / f"requirements-{target.release}.txt"


SETS = {
    "hub": WheelSet("hub", "roles/jupyterhub", True),
    "notebook": WheelSet("notebook", "roles/notebook_env", False),
}


def archive_name(name: str, target: Target) -> str:
    """File the roles copy: <set>-<release>.tar next to the set's wheel directory."""
    return f"{name}-{target.release}.tar"


def target_args(target: Target) -> list[str]:
    args = ["--only-binary=:all:", "--python-version", target.python, "--implementation", "cp"]
    for plat in target.platforms:
        args += ["--platform", plat]
    for abi in (target.abi, "abi3", "none"):
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


# pip evaluates dependency markers (python_version < "3.12", ...) against the interpreter it
# runs in, whatever --python-version says: run it with the target's marker values instead,
# or a lock for another Python would miss or add dependencies.
_PIP_AS_TARGET = """\
import json, runpy, sys
from pip._vendor.packaging import markers
overrides = json.loads(sys.argv.pop(1))
controller = markers.default_environment
markers.default_environment = lambda: {**controller(), **overrides}
sys.argv[0] = "pip"
runpy.run_module("pip", run_name="__main__", alter_sys=True)
"""


def pip_command(*args: str, target: Target | None = None) -> list[str]:
    if target is None:
        return [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    env = json.dumps(target.marker_environment())
    return [sys.executable, "-c", _PIP_AS_TARGET, env, "--disable-pip-version-check", *args]


def pip(*args: str, target: Target | None = None) -> None:
    subprocess.run(pip_command(*args, target=target), check=True)


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


def pack(name: str, target: Target, dest_root: Path, lock: dict[str, set[str]]) -> Path:
    """<dest_root>/<set>-<release>.tar of the target's locked wheels: one file to copy.

    Deterministic (sorted, fixed owner/time/mode), so an unchanged set gives identical bytes
    and copying it to the hosts is idempotent. The sitehub wheel is not in it (it changes
    with every source edit; the hub role copies it on its own).
    """
    wanted = set().union(*lock.values()) if lock else set()
    # the set's directory holds every target's wheels (pure ones are shared): pick by hash
    wheels = sorted(p for p in (dest_root / name).glob("*.whl") if sha256(p) in wanted)
    target_path = dest_root / archive_name(name, target)
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
    if target_path.exists() and sha256(target_path) == sha256(tmp_path):
        tmp_path.unlink()
    else:
        tmp_path.replace(target_path)
        target_path.chmod(0o644)
    return target_path


def build(name: str, repo: Path, dest_root: Path, targets: list[str] | None = None) -> Path:
    """Download what the targets' lock files name and is not there yet; pack each target."""
    wset = SETS[name]
    dest = dest_root / name
    dest.mkdir(parents=True, exist_ok=True)
    for release in targets or list(TARGETS):
        target = TARGETS[release]
        label = f"wheelhouse {name}/{release}"
        lockfile = wset.lockfile(repo, target)
        lock = parse_lock(lockfile.read_text())
        missing = missing_pins(lock, dest)
        if missing:
            print(f"{label}: downloading {len(missing)} of {len(lock)} wheels")
            pip("download", "--no-deps", "--require-hashes", "-d", str(dest),
                *target_args(target), "-r", str(lockfile))  # fmt: skip
            still = missing_pins(lock, dest)
            if still:
                raise SystemExit(f"{label}: still missing {still}")
        else:
            print(f"{label}: {len(lock)} wheels present")
        archive = pack(name, target, dest_root, lock)
        print(f"{label}: {archive} sha256={sha256(archive)[:12]}")
    if wset.with_sitehub:
        # pure Python: one wheel for every target
        wheel = build_sitehub_wheel(repo, dest)
        print(f"wheelhouse {name}: {wheel.name} sha256={sha256(wheel)[:12]}")
    return dest


def lock_lines(
    name: str, target: Target, infile: str, report: dict, align: str | None = None
) -> list[str]:
    """The lock file's lines from a pip installation report (sorted, one hash per pin)."""
    command = f"sitehub wheelhouse lock {name} --target {target.release}"
    if align:
        command += f" --align {align}"
    lines = [
        f"# Generated by `{command}` from {infile}",
        f"# for CPython {target.python} on x86_64 manylinux (Debian {target.debian}, "
        f"{target.release}). Do not edit by hand.",
    ]
    for item in sorted(report["install"], key=lambda i: i["metadata"]["name"].lower()):
        meta = item["metadata"]
        digest = item["download_info"]["archive_info"]["hashes"]["sha256"]
        lines.append(f"{meta['name']}=={meta['version']} --hash=sha256:{digest}")
    return lines


def resolve(
    infile: Path, target: Target, constraints: Path | None = None, find_links: Path | None = None
) -> dict:
    """pip's installation report for infile resolved as on the target's hosts."""
    with tempfile.TemporaryDirectory(prefix="sitehub-lock-") as tmp:
        report = Path(tmp) / "report.json"
        extra = ["-c", str(constraints)] if constraints else []
        if find_links:
            extra += ["--no-index", "--find-links", str(find_links)]
        pip("install", "-q", "--dry-run", "--ignore-installed", "--target", str(Path(tmp) / "t"),
            "--report", str(report), *extra, *target_args(target), "-r", str(infile),
            target=target)  # fmt: skip
        return json.loads(report.read_text())


def lock(name: str, repo: Path, release: str, align: str | None = None) -> Path:
    """Re-resolve requirements.in for one target into its hash-pinned lock file.

    align: another release whose lock's versions this one keeps (constraints), so hosts of
    both releases run the same software (a Dask scheduler and its workers must match);
    packages only one Python needs (markers) still differ.
    """
    wset = SETS[name]
    target = TARGETS[release]
    infile = wset.infile(repo)
    lockfile = wset.lockfile(repo, target)
    with tempfile.TemporaryDirectory(prefix="sitehub-align-") as tmp:
        constraints = None
        if align:
            pins = parse_lock(wset.lockfile(repo, TARGETS[align]).read_text())
            constraints = Path(tmp) / "constraints.txt"
            constraints.write_text("".join(f"{pin}\n" for pin in pins))
        report = resolve(infile, target, constraints)
    lines = lock_lines(name, target, infile.name, report, align)
    lockfile.write_text("\n".join(lines) + "\n")
    return lockfile


def add_subparsers(subparsers: argparse._SubParsersAction) -> None:
    """Register `wheelhouse build|lock` on the sitehub CLI."""
    _register(subparsers.add_parser("wheelhouse", help="offline wheel sets for the hosts"))


def _register(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="wheelhouse_cmd", required=True)
    target_help = f"host release, repeatable: {', '.join(TARGETS)} (default: all)"
    b = sub.add_parser("build", help="download the pinned wheels (+ the sitehub wheel)")
    b.add_argument(
        "sets", nargs="*", metavar="SET", help=f"one of {', '.join(SETS)} (default: all)"
    )
    b.add_argument("--target", action="append", choices=list(TARGETS), help=target_help)
    b.add_argument("--repo", type=Path, default=None, help="repository root (default: found)")
    b.add_argument("--dest", type=Path, default=None, help="default $SITEHUB_CACHE/wheelhouse")
    b.set_defaults(func=_cmd_build)
    lk = sub.add_parser("lock", help="re-resolve a set's requirements.in into its lock files")
    lk.add_argument("sets", nargs="+", choices=list(SETS))
    lk.add_argument("--target", action="append", choices=list(TARGETS), help=target_help)
    lk.add_argument(
        "--align",
        choices=list(TARGETS),
        help="keep the versions of this release's lock file (the hosts run the same software)",
    )
    lk.add_argument("--repo", type=Path, default=None)
    lk.set_defaults(func=_cmd_lock)


def _cmd_build(args: argparse.Namespace) -> int:
    repo = args.repo or repo_root()
    dest = args.dest or cache_dir() / "wheelhouse"
    unknown = sorted(set(args.sets) - set(SETS))
    if unknown:
        raise SystemExit(f"unknown wheel set(s) {unknown}; known: {sorted(SETS)}")
    for name in args.sets or list(SETS):
        build(name, repo, dest, args.target)
    return 0


def _cmd_lock(args: argparse.Namespace) -> int:
    repo = args.repo or repo_root()
    for name in args.sets:
        for release in args.target or list(TARGETS):
            if release == args.align:
                continue  # the reference itself stays as it is
            print(lock(name, repo, release, args.align))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sitehub.wheelhouse")
    _register(parser)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
