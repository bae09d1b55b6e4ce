"""Pure parts of sitehub.testhosts: no podman, no root needed."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from sitehub import dockerapi, testhosts


def test_read_mirror_takes_the_suite_stanza(tmp_path: Path) -> None:
    sources = tmp_path / "debian.sources"
    sources.write_text(
        "Types: deb\n"
        "# http://snapshot.example/archive\n"
        "URIs: http://mirror.example/debian\n"
        "Suites: bookworm bookworm-updates\n"
        "Components: main\n"
        "\n"
        "Types: deb\n"
        "URIs: http://mirror.example/debian-security\n"
        "Suites: bookworm-security\n"
    )
    assert testhosts.read_mirror(sources) == "http://mirror.example/debian"


def test_read_mirror_falls_back(tmp_path: Path) -> None:
    assert testhosts.read_mirror(tmp_path / "missing") == testhosts.DEFAULT_MIRROR
    other = tmp_path / "other.sources"
    other.write_text("Types: deb\nURIs: http://x.example/\nSuites: trixie\n")
    assert testhosts.read_mirror(other) == testhosts.DEFAULT_MIRROR


def test_recipe_hash_is_stable_and_order_free() -> None:
    one = testhosts.recipe(packages=["b", "a"])
    two = testhosts.recipe(packages=["a", "b"])
    assert testhosts.recipe_hash(one) == testhosts.recipe_hash(two)
    assert len(testhosts.recipe_hash(one)) == 16


def test_recipe_hash_changes_with_the_recipe() -> None:
    base = testhosts.recipe()
    more = testhosts.recipe(packages=[*testhosts.PACKAGES, "vim"])
    other_suite = testhosts.recipe(suite="trixie")
    hashes = {testhosts.recipe_hash(r) for r in (base, more, other_suite)}
    assert len(hashes) == 3


def test_debootstrap_and_import_commands() -> None:
    spec = testhosts.recipe()
    argv = testhosts.debootstrap_command(Path("/r"), "http://m/debian", spec)
    assert argv[:2] == ["debootstrap", "--variant=minbase"]
    assert argv[-3:] == ["bookworm", "/r", "http://m/debian"]
    included = argv[2].removeprefix("--include=").split(",")
    assert set(included) == set(testhosts.PACKAGES)
    imp = testhosts.import_command(Path("/c/x.tar"), "localhost/x:y", "abc")
    assert imp == [
        "podman",
        "import",
        "--change",
        'CMD ["/sbin/init"]',
        "--change",
        "LABEL sitehub.recipe=abc",
        "/c/x.tar",
        "localhost/x:y",
    ]


def test_image_is_current_by_label_or_stamp() -> None:
    labelled = {"id": "i1", "labels": {testhosts.RECIPE_LABEL: "h"}}
    bare = {"id": "i2", "labels": {}}
    assert testhosts.image_is_current(labelled, "h", {})
    assert not testhosts.image_is_current(labelled, "other", {})
    assert testhosts.image_is_current(bare, "h", {"image_id": "i2", "recipe": "h"})
    assert not testhosts.image_is_current(bare, "h", {"image_id": "i1", "recipe": "h"})
    assert not testhosts.image_is_current(None, "h", {"image_id": "i2", "recipe": "h"})


@pytest.mark.parametrize(
    "spec", ["127.0.0.1:8443:443", "127.0.0.1:5353:53/udp", "127.0.0.1:1:65535/tcp"]
)
def test_publish_accepts_loopback(spec: str) -> None:
    assert testhosts.validate_publish(spec) == spec


@pytest.mark.parametrize(
    "spec",
    [
        "8443:443",
        "443",
        "0.0.0.0:8443:443",
        "192.168.1.5:8443:443",
        "127.0.0.2:8443:443",
        "[::1]:8443:443",
        "::8443:443",
        "127.0.0.1::443",
        "127.0.0.1:70000:443",
        "127.0.0.1:0:443",
        "127.0.0.1:8443:443/sctp",
        " 127.0.0.1:8443:443",
    ],
)
def test_publish_rejects_everything_else(spec: str) -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        testhosts.validate_publish(spec)


def test_run_command_for_a_full_host() -> None:
    host = testhosts.HostSpec.from_hostvars(
        "hub1",
        {
            "sitehub_test_network": "demo",
            "sitehub_test_publish": ["127.0.0.1:8443:443"],
            "sitehub_test_privileged": True,
            "sitehub_test_volumes": ["/srv/x:/x:ro"],
            "sitehub_test_devices": ["/dev/fuse"],
        },
    )
    assert host.run_command("/inv") == [
        "podman",
        "run",
        "--detach",
        "--name",
        "hub1",
        "--hostname",
        "hub1",
        "--systemd=always",
        "--network",
        "demo",
        "--label",
        "sitehub.testhost=/inv",
        "--publish",
        "127.0.0.1:8443:443",
        "--volume",
        "/srv/x:/x:ro",
        "--device",
        "/dev/fuse",
        "--privileged",
        testhosts.BASE_IMAGE,
        "/sbin/init",
    ]


def test_run_command_defaults() -> None:
    argv = testhosts.HostSpec.from_hostvars("c1", {}).run_command()
    at = argv.index("--network")
    assert argv[at : at + 2] == ["--network", "sitehub"]
    assert "--privileged" not in argv
    assert "--publish" not in argv
    assert argv[-2:] == [testhosts.BASE_IMAGE, "/sbin/init"]


@pytest.mark.parametrize(
    ("hostvars", "message"),
    [
        ({"sitehub_test_publish": ["0.0.0.0:80:80"]}, "127.0.0.1"),
        ({"sitehub_test_publish": "127.0.0.1:80:80"}, "must be a list"),
        ({"sitehub_test_privileged": "yes"}, "true or false"),
        ({"sitehub_test_network": "bad name"}, "cannot name a network"),
    ],
)
def test_bad_hostvars_are_rejected(hostvars: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        testhosts.HostSpec.from_hostvars("h", hostvars)


def test_network_command_has_dns_by_default() -> None:
    argv = testhosts.network_command("demo")
    assert argv[:3] == ["podman", "network", "create"]
    assert argv[-1] == "demo"
    assert "--disable-dns" not in argv


def test_load_test_hosts_selects_group_and_podman_connection(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory"
    (inventory / "group_vars").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(
        """
all:
  children:
    sitehub_test_hosts:
      hosts:
        hub1:
          sitehub_test_publish: ["127.0.0.1:8443:443"]
        kc1:
    compute:
      hosts:
        node1:
          ansible_connection: containers.podman.podman
          sitehub_test_privileged: true
          sitehub_test_image: localhost/sitehub-base:trixie
          sitehub_test_devices: [/dev/fuse]
        real1:
          ansible_host: 192.0.2.10
"""
    )
    (inventory / "group_vars" / "all.yml").write_text(
        "sitehub_test_network: '{{ site_name }}-net'\nsite_name: demo\n"
    )
    hosts = {h.name: h for h in testhosts.load_test_hosts(inventory)}
    assert sorted(hosts) == ["hub1", "kc1", "node1"]
    assert hosts["hub1"].publish == ["127.0.0.1:8443:443"]
    assert hosts["node1"].privileged is True
    assert hosts["node1"].image == testhosts.TRIXIE_IMAGE
    assert hosts["node1"].devices == ["/dev/fuse"]
    assert {h.network for h in hosts.values()} == {"demo-net"}


def test_command_after_dashes() -> None:
    assert testhosts.command_after_dashes(["--", "molecule", "test"]) == ["molecule", "test"]
    assert testhosts.command_after_dashes(["molecule", "--", "x"]) == ["molecule", "--", "x"]
    assert testhosts.command_after_dashes([]) == []


def test_subcommands_parse() -> None:
    parser = argparse.ArgumentParser()
    testhosts.add_subparsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["docker-api", "--", "molecule", "test", "-d", "docker"])
    assert args.func is testhosts.cmd_docker_api
    assert testhosts.command_after_dashes(args.cmd) == ["molecule", "test", "-d", "docker"]
    args = parser.parse_args(["hosts", "up", "inv"])
    assert (args.func, args.action, args.inventory) == (testhosts.cmd_hosts, "up", "inv")
    args = parser.parse_args(["image", "build", "--tag", "localhost/x:test"])
    assert (args.func, args.tag, args.force) == (
        testhosts.cmd_image_build,
        "localhost/x:test",
        False,
    )


def test_pick_socket_uses_a_private_path_when_taken(tmp_path: Path) -> None:
    free = tmp_path / "free.sock"
    assert dockerapi.pick_socket(free) == free
    assert dockerapi.service_command(free)[-1] == f"unix://{free}"


def test_socket_answers_is_false_without_a_server(tmp_path: Path) -> None:
    assert not dockerapi.socket_answers(tmp_path / "none.sock")


def test_pick_socket_avoids_a_served_socket(tmp_path: Path) -> None:
    import socket
    import threading

    taken = tmp_path / "taken.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(taken))
    server.listen(1)

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(1024)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        picked = dockerapi.pick_socket(taken)
    finally:
        thread.join(5)
        server.close()
    assert picked != taken
    assert picked.parent == taken.parent
    assert picked.name.startswith("taken-") and picked.suffix == ".sock"


@pytest.mark.parametrize(
    ("state", "responsive", "action"),
    [
        (None, False, "create"),
        ({"state": "running"}, True, "keep"),
        # podman's record says running, but its processes are gone (session killed)
        ({"state": "running"}, False, "recreate"),
        ({"state": "exited"}, False, "start"),
        ({"state": "created"}, False, "start"),
        ({"state": "stopping"}, False, "recreate"),
        ({"state": "paused"}, False, "recreate"),
    ],
)
def test_host_action(state, responsive, action) -> None:
    assert testhosts.host_action(state, responsive) == action


class FakePodman:
    """Stands in for the podman CLI in hosts_up's bookkeeping (the real one is used by
    `sitehub demo up`); records each command."""

    def __init__(self, states: dict, systemd: str = "running", start_rc: int = 0):
        self.states = states
        self.systemd = systemd
        self.start_rc = start_rc
        self.commands: list[list[str]] = []

    def run(self, command, check=True, **_):
        self.commands.append(list(command))
        rc = 0
        if command[:2] == ["podman", "exec"]:
            rc = 0 if self.states.get(command[2]) == "running-ok" else 255
        elif command[:2] == ["podman", "start"]:
            rc = self.start_rc
        return argparse.Namespace(returncode=rc, stdout="", stderr="")

    def state(self, name):
        raw = self.states.get(name)
        if raw is None:
            return None
        return {"state": raw.split("-")[0], "addresses": {}}


def _patch(monkeypatch, fake: FakePodman) -> None:
    monkeypatch.setattr(testhosts, "_run", fake.run)
    monkeypatch.setattr(testhosts, "container_state", fake.state)
    monkeypatch.setattr(testhosts, "image_info", lambda tag: {"Id": "x"})
    monkeypatch.setattr(testhosts, "wait_for_systemd", lambda name: fake.systemd)


def _host(name: str) -> testhosts.HostSpec:
    return testhosts.HostSpec.from_hostvars(name, {})


def test_hosts_up_recreates_a_stale_running_host(monkeypatch) -> None:
    fake = FakePodman({"ok": "running-ok", "stale": "running-dead"})
    _patch(monkeypatch, fake)
    testhosts.hosts_up([_host("ok"), _host("stale")], "inv")
    removed = [c for c in fake.commands if c[:2] == ["podman", "rm"]]
    assert removed == [["podman", "rm", "--force", "--time", "5", "stale"]]
    created = [c for c in fake.commands if c[:2] == ["podman", "run"]]
    assert len(created) == 1 and "stale" in created[0]


def test_hosts_up_recreates_a_host_that_will_not_start(monkeypatch) -> None:
    fake = FakePodman({"h": "exited"}, start_rc=125)
    _patch(monkeypatch, fake)
    testhosts.hosts_up([_host("h")], "inv")
    verbs = [c[1] for c in fake.commands if c[0] == "podman" and c[1] != "network"]
    assert verbs[-3:] == ["start", "rm", "run"]


def test_hosts_up_refuses_hosts_without_a_usable_systemd(monkeypatch) -> None:
    fake = FakePodman({"h": "running-ok"}, systemd="unknown (exit 255)")
    _patch(monkeypatch, fake)
    with pytest.raises(SystemExit, match=r"not usable, nothing converged: h \(unknown"):
        testhosts.hosts_up([_host("h")], "inv")


def test_suite_of_names_only_our_base_images() -> None:
    assert testhosts.suite_of(testhosts.BASE_IMAGE) == "bookworm"
    assert testhosts.suite_of(testhosts.TRIXIE_IMAGE) == "trixie"
    assert testhosts.suite_of("localhost/sitehub-base:sid") is None
    assert testhosts.suite_of("localhost/other:trixie") is None


def test_build_images_for_builds_each_base_suite_once(monkeypatch) -> None:
    built: list[tuple[str, str]] = []
    monkeypatch.setattr(
        testhosts, "build_image", lambda tag, suite: built.append((tag, suite)) or tag
    )
    tags = [testhosts.TRIXIE_IMAGE, testhosts.BASE_IMAGE, testhosts.TRIXIE_IMAGE, "x/y:z"]
    testhosts.build_images_for(tags)
    assert built == [(testhosts.BASE_IMAGE, "bookworm"), (testhosts.TRIXIE_IMAGE, "trixie")]


@pytest.mark.parametrize("device", ["/dev/sda", "/dev/fuse:/dev/fuse:rwm", "/dev/kvm"])
def test_devices_other_than_fuse_are_refused(device: str) -> None:
    with pytest.raises(ValueError, match="may get only /dev/fuse"):
        testhosts.HostSpec.from_hostvars("x1", {"sitehub_test_devices": [device]})
