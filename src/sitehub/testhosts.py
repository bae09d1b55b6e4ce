"""Test hosts: the base image, systemd containers named by an inventory, Docker's API.

Commands (registered by add_subparsers):
  sitehub image build [--suite bookworm|trixie|all] [--tag NAME] [--force]
  sitehub hosts up|down|status INVENTORY
  sitehub docker-api -- CMD...
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sitehub import dockerapi

# ---- shared ------------------------------------------------------------------

# Debian 12 and 13 test hosts; the roles support both (issue #14 moves hosts to trixie).
SUITES = ("bookworm", "trixie")
SUITE = "bookworm"
IMAGE_PREFIX = "localhost/sitehub-base:"
BASE_IMAGE = IMAGE_PREFIX + SUITE
TRIXIE_IMAGE = IMAGE_PREFIX + "trixie"
VARIANT = "minbase"
PACKAGES = (
    "python3",
    "python3-apt",
    "systemd",
    "systemd-sysv",
    "dbus",
    "sudo",
    "iproute2",
    "procps",
    "ca-certificates",
    "curl",
    "gnupg",
)
IMAGE_CMD = '["/sbin/init"]'
RECIPE_LABEL = "sitehub.recipe"
HOST_LABEL = "sitehub.testhost"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
TEST_GROUP = "sitehub_test_hosts"
PODMAN_CONNECTIONS = ("sitehub_podman", "containers.podman.podman", "podman")
DEFAULT_NETWORK = "sitehub"
# Repo checkout this module runs from (editable install): src/sitehub/testhosts.py
_REPO = Path(__file__).resolve().parents[2]


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("SITEHUB_CACHE") or "/var/cache/sitehub")


def podman_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for podman: CONTAINERS_CONF set to the repo's file if unset.

    podman needs runc + cgroupfs + low ulimits on these machines (see
    molecule/shared/containers.conf).
    """
    result = dict(os.environ if env is None else env)
    if not result.get("CONTAINERS_CONF"):
        for base in (_REPO, Path.cwd()):
            conf = base / "molecule" / "shared" / "containers.conf"
            if conf.is_file():
                result["CONTAINERS_CONF"] = str(conf)
                break
    return result


def _run(
    argv: Sequence[str], *, check: bool = True, capture: bool = True, **kwargs
) -> subprocess.CompletedProcess:
    kwargs.setdefault("env", podman_env())
    return subprocess.run(list(argv), check=check, capture_output=capture, text=True, **kwargs)


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


# ---- image build ---------------------------------------------------------------


def read_mirror(path: Path = DEBIAN_SOURCES, suite: str = SUITE) -> str:
    """The Debian mirror the controller uses (deb822 URIs of the `suite` stanza)."""
    try:
        text = path.read_text()
    except OSError:
        return DEFAULT_MIRROR
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if "deb" in fields.get("types", "").split() and suite in fields.get("suites", "").split():
            uris = fields.get("uris", "").split()
            if uris:
                return uris[0]
    return DEFAULT_MIRROR


def recipe(suite: str = SUITE, packages: Iterable[str] = PACKAGES) -> dict:
    """What decides the image's content. The mirror is left out on purpose: any
    mirror of the same suite gives the same image."""
    return {
        "suite": suite,
        "variant": VARIANT,
        "packages": sorted(packages),
        "cmd": IMAGE_CMD,
        "format": 2,  # bump when the build steps change the image
    }


def recipe_hash(spec: Mapping) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def debootstrap_command(rootfs: Path, mirror: str, spec: Mapping) -> list[str]:
    return [
        "debootstrap",
        f"--variant={spec['variant']}",
        f"--include={','.join(spec['packages'])}",
        spec["suite"],
        str(rootfs),
        mirror,
    ]


def import_command(tarball: Path, tag: str, digest: str) -> list[str]:
    return [
        "podman",
        "import",
        "--change",
        f"CMD {IMAGE_CMD}",
        "--change",
        f"LABEL {RECIPE_LABEL}={digest}",
        str(tarball),
        tag,
    ]


def _slug(tag: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", tag)


def image_info(tag: str) -> dict | None:
    """podman's view of an image: {'id', 'labels'}; None if it does not exist."""
    result = _run(["podman", "image", "inspect", tag], check=False)
    if result.returncode != 0:
        return None
    data = json.loads(result.stdout)[0]
    return {"id": data["Id"], "labels": data.get("Labels") or {}}


def image_is_current(info: Mapping | None, digest: str, stamp: Mapping) -> bool:
    """The image exists and was built from this recipe: by its label, or (for
    images imported without one) by the stamp file written when it was built."""
    if info is None:
        return False
    if info["labels"].get(RECIPE_LABEL) == digest:
        return True
    return stamp.get("image_id") == info["id"] and stamp.get("recipe") == digest


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One image build at a time on this machine (parallel helpers, CI)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def suite_of(tag: str) -> str | None:
    """The Debian suite a base image tag names (None for other images)."""
    if tag.startswith(IMAGE_PREFIX) and tag[len(IMAGE_PREFIX) :] in SUITES:
        return tag[len(IMAGE_PREFIX) :]
    return None


def build_image(
    tag: str, *, suite: str = SUITE, force: bool = False, mirror: str | None = None
) -> str:
    """Build (or re-import, or keep) the base image; returns what was done."""
    spec = recipe(suite)
    digest = recipe_hash(spec)
    images = cache_dir() / "images"
    # keyed by recipe only: every tag built from it shares one tarball
    tarball = images / f"rootfs-{suite}-{digest}.tar"
    stamp_file = images / f"{_slug(tag)}.json"
    with _locked(images / ".lock"):
        stamp = json.loads(stamp_file.read_text()) if stamp_file.is_file() else {}
        if not force and image_is_current(image_info(tag), digest, stamp):
            return f"{tag} is up to date (recipe {digest})"
        did = f"imported {tag} from the cached {tarball.name}"
        if force or not tarball.is_file():
            if os.geteuid() != 0:
                raise SystemExit("sitehub image build: debootstrap needs root")
            _debootstrap_tarball(tarball, mirror or read_mirror(), spec)  # serves every suite
            did = f"built {tag} with debootstrap"
            for old in images.glob(f"rootfs-{suite}-*.tar"):
                if old != tarball:
                    old.unlink()
        previous = image_info(tag)
        started = time.monotonic()
        _run(import_command(tarball, tag, digest), capture=False, stdout=subprocess.DEVNULL)
        print(f"podman import: {time.monotonic() - started:.1f} s", flush=True)
        if previous:
            # the replaced image, now untagged; podman refuses while containers use it
            _run(["podman", "rmi", previous["id"]], check=False)
        stamp_file.write_text(
            json.dumps({"image_id": image_info(tag)["id"], "recipe": digest, "recipe_spec": spec})
        )
        return f"{did} (recipe {digest})"


def _debootstrap_tarball(tarball: Path, mirror: str, spec: Mapping) -> None:
    tarball.parent.mkdir(parents=True, exist_ok=True)
    # the rootfs needs device nodes and ownership: build on the cache's disk, not a tmpfs
    workdir = Path(tempfile.mkdtemp(prefix="build-", dir=tarball.parent))
    rootfs = workdir / "rootfs"
    try:
        print(f"debootstrap {spec['suite']} from {mirror} ...", flush=True)
        started = time.monotonic()
        _run(debootstrap_command(rootfs, mirror, spec), capture=False, stdout=subprocess.DEVNULL)
        print(f"debootstrap: {time.monotonic() - started:.1f} s", flush=True)
        started = time.monotonic()
        # the downloaded .debs are dead weight (60 MB); apt's package lists
        # stay, so check mode can plan package installs on a fresh host
        for deb in (rootfs / "var/cache/apt/archives").glob("*.deb"):
            deb.unlink()
        partial = tarball.with_suffix(".partial")
        _run(["tar", "-C", str(rootfs), "-cf", str(partial), "."], capture=False)
        partial.rename(tarball)
        print(f"tar: {time.monotonic() - started:.1f} s", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def build_images_for(tags: Iterable[str]) -> list[str]:
    """Build every base image among `tags` (a host's other images are not ours to build)."""
    return [build_image(tag, suite=suite) for tag in sorted(set(tags)) if (suite := suite_of(tag))]


def cmd_image_build(args: argparse.Namespace) -> int:
    suites = SUITES if args.suite == "all" else (args.suite,)
    if args.tag and len(suites) > 1:
        print("sitehub image build: --tag names one image; give --suite too", file=sys.stderr)
        return 2
    for suite in suites:
        started = time.monotonic()
        try:
            done = build_image(
                args.tag or IMAGE_PREFIX + suite, suite=suite, force=args.force, mirror=args.mirror
            )
        except subprocess.CalledProcessError as exc:
            print(
                f"sitehub image build: {' '.join(exc.cmd)} failed ({exc.returncode})",
                file=sys.stderr,
            )
            if exc.stderr:
                print(exc.stderr, file=sys.stderr)
            return 1
        print(f"{done} in {time.monotonic() - started:.1f} s")
    return 0


# ---- hosts -----------------------------------------------------------------------------

_PUBLISH = re.compile(r"^127\.0\.0\.1:(\d{1,5}):(\d{1,5})(/(tcp|udp))?\Z")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\Z")


def validate_publish(spec: str) -> str:
    """A published port must bind on 127.0.0.1 only: 127.0.0.1:HOSTPORT:PORT[/tcp|udp]."""
    match = _PUBLISH.fullmatch(str(spec))
    if not match or not all(0 < int(port) < 65536 for port in match.group(1, 2)):
        raise ValueError(
            f"published port {spec!r}: only 127.0.0.1:HOSTPORT:PORT[/tcp|udp] is allowed "
            "(test hosts never listen beyond the loopback address)"
        )
    return str(spec)


# Devices a test host may be given: FUSE (Apptainer's image mounts) and nothing of the
# machine's own hardware.
ALLOWED_DEVICES = ("/dev/fuse",)


def validate_device(spec: str) -> str:
    if str(spec) not in ALLOWED_DEVICES:
        raise ValueError(
            f"device {spec!r}: test hosts may get only {', '.join(ALLOWED_DEVICES)} "
            "(a device of this machine would be shared with the container)"
        )
    return str(spec)


@dataclass
class HostSpec:
    name: str
    network: str = DEFAULT_NETWORK
    publish: list[str] = field(default_factory=list)
    privileged: bool = False
    volumes: list[str] = field(default_factory=list)
    image: str = BASE_IMAGE
    devices: list[str] = field(default_factory=list)

    @classmethod
    def from_hostvars(cls, name: str, hostvars: Mapping) -> HostSpec:
        if not _NAME.fullmatch(name):
            raise ValueError(f"{name!r} cannot name a container")
        network = str(hostvars.get("sitehub_test_network") or DEFAULT_NETWORK)
        if not _NAME.fullmatch(network):
            raise ValueError(f"{name}: sitehub_test_network {network!r} cannot name a network")
        privileged = hostvars.get("sitehub_test_privileged", False)
        if not isinstance(privileged, bool):
            raise ValueError(f"{name}: sitehub_test_privileged must be true or false")
        return cls(
            name=name,
            network=network,
            publish=[validate_publish(p) for p in _as_list(hostvars, "sitehub_test_publish")],
            privileged=privileged,
            volumes=[str(v) for v in _as_list(hostvars, "sitehub_test_volumes")],
            image=str(hostvars.get("sitehub_test_image") or BASE_IMAGE),
            devices=[validate_device(d) for d in _as_list(hostvars, "sitehub_test_devices")],
        )

    def run_command(self, inventory: str = "") -> list[str]:
        argv = [
            "podman",
            "run",
            "--detach",
            "--name",
            self.name,
            "--hostname",
            self.name,
            "--systemd=always",
            "--network",
            self.network,
            "--label",
            f"{HOST_LABEL}={inventory}",
        ]
        for port in self.publish:
            argv += ["--publish", validate_publish(port)]
        for volume in self.volumes:
            argv += ["--volume", volume]
        for device in self.devices:
            argv += ["--device", device]
        if self.privileged:
            argv.append("--privileged")
        return [*argv, self.image, "/sbin/init"]


def _as_list(hostvars: Mapping, key: str) -> list:
    value = hostvars.get(key) or []
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValueError(f"{key} must be a list, not {value!r}")
    return list(value)


def network_command(name: str) -> list[str]:
    # netavark networks other than the default have DNS on: hosts resolve by name
    return ["podman", "network", "create", "--label", f"{HOST_LABEL}=1", name]


def load_test_hosts(inventory: str | Path) -> list[HostSpec]:
    """Hosts of group sitehub_test_hosts, and hosts reached with the podman connection."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[str(inventory)])
    variables = VariableManager(loader=loader, inventory=manager)
    hosts = []
    for host in manager.get_hosts("all"):
        hostvars = variables.get_vars(host=host, include_hostvars=False)
        templar = Templar(loader=loader, variables=hostvars)
        wanted = {
            key: templar.template(hostvars[key])
            for key in (
                "ansible_connection",
                "sitehub_test_network",
                "sitehub_test_publish",
                "sitehub_test_privileged",
                "sitehub_test_volumes",
                "sitehub_test_image",
                "sitehub_test_devices",
            )
            if key in hostvars
        }
        groups = {group.name for group in host.get_groups()}
        if TEST_GROUP in groups or wanted.get("ansible_connection") in PODMAN_CONNECTIONS:
            hosts.append(HostSpec.from_hostvars(host.name, wanted))
    return hosts


def container_state(name: str) -> dict | None:
    """{'id', 'state', 'addresses'} of a container; None if it does not exist."""
    result = _run(["podman", "container", "inspect", name], check=False)
    if result.returncode != 0:
        return None
    data = json.loads(result.stdout)[0]
    networks = (data.get("NetworkSettings") or {}).get("Networks") or {}
    return {
        "id": data["Id"],
        "state": data["State"]["Status"],
        "addresses": {net: info.get("IPAddress", "") for net, info in networks.items()},
    }


def wait_for_systemd(name: str, timeout: int = 300) -> str:
    wait = ["timeout", str(timeout), "systemctl", "is-system-running", "--wait"]
    result = _run(["podman", "exec", name, *wait], check=False)
    return result.stdout.strip() or f"unknown (exit {result.returncode})"


# States `podman start` can bring back; anything else left over is removed and recreated.
STARTABLE_STATES = ("created", "configured", "exited", "stopped")
# What `systemctl is-system-running --wait` says of a host that can be converged.
USABLE_SYSTEMD = ("running", "degraded")


def host_action(state: Mapping | None, responsive: bool) -> str:
    """What hosts_up does with one host: create, keep, start or recreate.

    A container podman still calls running but that takes no exec has lost its processes
    without podman noticing (the session or machine that ran it was killed, not rebooted):
    podman can neither exec in it nor start it again, so it is recreated.
    """
    if state is None:
        return "create"
    if state["state"] == "running":
        return "keep" if responsive else "recreate"
    if state["state"] in STARTABLE_STATES:
        return "start"
    return "recreate"


def responsive(name: str) -> bool:
    return _run(["podman", "exec", name, "true"], check=False).returncode == 0


def _recreate(host: HostSpec, inventory: str) -> None:
    _run(["podman", "rm", "--force", "--time", "5", host.name])
    _run(host.run_command(inventory))


def hosts_up(hosts: list[HostSpec], inventory: str) -> list[list[str]]:
    missing = {host.image for host in hosts if image_info(host.image) is None}
    if missing:
        raise SystemExit(
            f"image(s) {', '.join(sorted(missing))} missing: run `sitehub image build`"
        )
    for network in sorted({host.network for host in hosts}):
        if _run(["podman", "network", "exists", network], check=False).returncode != 0:
            _run(network_command(network))
    for host in hosts:
        state = container_state(host.name)
        action = host_action(state, state is not None and responsive(host.name))
        if action == "create":
            _run(host.run_command(inventory))
        elif action == "start":
            if _run(["podman", "start", host.name], check=False).returncode != 0:
                print(f"{host.name}: would not start from {state['state']}: recreating")
                _recreate(host, inventory)
        elif action == "recreate":
            print(f"{host.name}: podman says {state['state']}, but it takes no exec: recreating")
            _recreate(host, inventory)
    rows = [["NAME", "STATE", "SYSTEMD", "ADDRESS", "PORTS"]]
    unusable = []
    for host in hosts:
        systemd = wait_for_systemd(host.name)
        if systemd not in USABLE_SYSTEMD:
            unusable.append(f"{host.name} ({systemd})")
        state = container_state(host.name) or {"state": "absent", "addresses": {}}
        rows.append(
            [
                host.name,
                state["state"],
                systemd,
                state["addresses"].get(host.network, ""),
                ",".join(host.publish),
            ]
        )
    if unusable:
        raise SystemExit(
            _table(rows) + f"\ntest host(s) not usable, nothing converged: {', '.join(unusable)}; "
            "see `podman logs NAME`, or remove them with `sitehub demo down`"
        )
    return rows


def hosts_status(hosts: list[HostSpec]) -> list[list[str]]:
    rows = [["NAME", "STATE", "ADDRESS"]]
    for host in hosts:
        state = container_state(host.name) or {"state": "absent", "addresses": {}}
        rows.append([host.name, state["state"], state["addresses"].get(host.network, "")])
    return rows


def hosts_down(hosts: list[HostSpec]) -> list[str]:
    done = []
    names = [host.name for host in hosts if container_state(host.name) is not None]
    if names:
        _run(["podman", "rm", "--force", "--time", "5", *names])
        done += [f"removed container {name}" for name in names]
    for network in sorted({host.network for host in hosts}):
        if _run(["podman", "network", "exists", network], check=False).returncode == 0:
            result = _run(["podman", "network", "rm", network], check=False)
            done.append(
                f"removed network {network}"
                if result.returncode == 0
                else f"kept network {network}: {result.stderr.strip()}"
            )
    return done


def cmd_hosts(args: argparse.Namespace) -> int:
    inventory = str(Path(args.inventory).resolve())
    try:
        hosts = load_test_hosts(inventory)
    except ValueError as exc:
        print(f"sitehub hosts: {exc}", file=sys.stderr)
        return 2
    if not hosts:
        print(
            f"sitehub hosts: {args.inventory} names no test hosts (group {TEST_GROUP} "
            "or a podman ansible_connection: sitehub_podman or containers.podman.podman)",
            file=sys.stderr,
        )
        return 2
    try:
        if args.action == "up":
            started = time.monotonic()
            print(_table(hosts_up(hosts, inventory)))
            print(f"up in {time.monotonic() - started:.1f} s")
        elif args.action == "status":
            print(_table(hosts_status(hosts)))
        else:
            print("\n".join(hosts_down(hosts)) or "nothing to remove")
    except subprocess.CalledProcessError as exc:
        print(f"sitehub hosts: {' '.join(exc.cmd)}: {exc.stderr.strip()}", file=sys.stderr)
        return 1
    return 0


# ---- docker-api ----------------------------------------------------------------------------


def command_after_dashes(argv: Sequence[str]) -> list[str]:
    """argparse.REMAINDER keeps a leading `--`; the command is what follows it."""
    argv = list(argv)
    return argv[1:] if argv[:1] == ["--"] else argv


def cmd_docker_api(args: argparse.Namespace) -> int:
    command = command_after_dashes(args.cmd)
    if not command:
        print("sitehub docker-api: give the command after --", file=sys.stderr)
        return 2
    sock = dockerapi.pick_socket(Path(args.socket))
    try:
        return dockerapi.run_with_docker_api(command, podman_env(), sock)
    except RuntimeError as exc:
        print(f"sitehub docker-api: {exc}", file=sys.stderr)
        return 1


# ---- command line -------------------------------------------------------------------------------


def add_subparsers(subparsers) -> None:
    image = subparsers.add_parser("image", help="build the test hosts' base image")
    image_sub = image.add_subparsers(dest="image_command", required=True, metavar="ACTION")
    build = image_sub.add_parser(
        "build",
        help="debootstrap + podman import; skipped when the image has the same recipe",
    )
    build.add_argument(
        "--suite", choices=[*SUITES, "all"], default="all", help="Debian release (default: all)"
    )
    build.add_argument("--tag", help=f"image name (default {IMAGE_PREFIX}<suite>)")
    build.add_argument("--force", action="store_true", help="debootstrap again even if cached")
    build.add_argument("--mirror", help=f"Debian mirror (default: {DEBIAN_SOURCES} URIs)")
    build.set_defaults(func=cmd_image_build)

    hosts = subparsers.add_parser(
        "hosts", help="systemd test-host containers for an inventory's test hosts"
    )
    hosts.add_argument("action", choices=["up", "down", "status"])
    hosts.add_argument("inventory", help="inventory file or directory")
    hosts.set_defaults(func=cmd_hosts)

    api = subparsers.add_parser(
        "docker-api",
        help="run a command with DOCKER_HOST served by podman",
        description="Start `podman system service`, run CMD with DOCKER_HOST set, stop it; "
        "exits with CMD's status. Example: sitehub docker-api -- molecule test -d docker",
    )
    api.add_argument(
        "--socket",
        default=str(dockerapi.DEFAULT_SOCKET),
        help="unix socket path (a private one is used if another run serves it)",
    )
    api.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD")
    api.set_defaults(func=cmd_docker_api)
