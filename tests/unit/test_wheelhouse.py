"""Offline wheel sets (sitehub.wheelhouse): lock parsing, targets, packing, resolution."""

import hashlib
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from sitehub import wheelhouse

REPO = Path(__file__).resolve().parents[2]


def test_parse_lock():
    text = (
        "# comment\n"
        "jupyterhub==6.1.1 --hash=sha256:aa\n"
        "tornado==6.6.1 \\\n    --hash=sha256:bb --hash=sha256:cc\n"
    )
    assert wheelhouse.parse_lock(text) == {
        "jupyterhub==6.1.1": {"aa"},
        "tornado==6.6.1": {"bb", "cc"},
    }


def test_missing_pins(tmp_path):
    wheel = tmp_path / "x-1-py3-none-any.whl"
    wheel.write_bytes(b"wheel")
    digest = hashlib.sha256(b"wheel").hexdigest()
    lock = {"x==1": {digest}, "y==2": {"00"}}
    assert wheelhouse.missing_pins(lock, tmp_path) == ["y==2"]
    assert wheelhouse.missing_pins(lock, tmp_path / "absent") == ["x==1", "y==2"]


def test_targets_are_the_debian_releases_pythons():
    bookworm, trixie = wheelhouse.TARGETS["bookworm"], wheelhouse.TARGETS["trixie"]
    assert (bookworm.python, bookworm.abi) == ("3.11.2", "cp311")
    assert (trixie.python, trixie.abi) == ("3.13.5", "cp313")
    args = wheelhouse.target_args(trixie)
    assert args[args.index("--python-version") + 1] == "3.13.5"
    assert "--only-binary=:all:" in args
    assert [args[i + 1] for i, a in enumerate(args) if a == "--abi"] == ["cp313", "abi3", "none"]
    # every manylinux tag up to the release's glibc, none newer
    assert "manylinux_2_41_x86_64" in trixie.platforms
    assert "manylinux_2_36_x86_64" in bookworm.platforms
    assert "manylinux_2_37_x86_64" not in bookworm.platforms
    assert bookworm.platforms[0] == "manylinux2014_x86_64"


def test_archive_and_lock_names():
    trixie = wheelhouse.TARGETS["trixie"]
    assert wheelhouse.archive_name("hub", trixie) == "hub-trixie.tar"
    lock = wheelhouse.SETS["notebook"].lockfile(REPO, trixie)
    assert lock == REPO / "roles/notebook_env/files/requirements-trixie.txt"


@pytest.mark.parametrize("release", list(wheelhouse.TARGETS))
def test_role_lock_files_are_fully_hashed(release):
    target = wheelhouse.TARGETS[release]
    for wset in wheelhouse.SETS.values():
        text = wset.lockfile(REPO, target).read_text()
        assert f"CPython {target.python}" in text.splitlines()[1], wset.name
        lock = wheelhouse.parse_lock(text)
        assert lock, wset.name
        assert all(hashes for hashes in lock.values()), wset.name
        assert all("==" in pin for pin in lock), wset.name
    hub = wheelhouse.parse_lock(wheelhouse.SETS["hub"].lockfile(REPO, target).read_text())
    assert "jupyterhub==6.1.1" in hub and "batchspawner==1.3.0" in hub
    assert "htcondor==25.14.1" in hub


def test_releases_run_the_same_versions():
    # a Dask scheduler on one release and its workers on another must match
    def versions(wset, release):
        lock = wheelhouse.parse_lock(wset.lockfile(REPO, wheelhouse.TARGETS[release]).read_text())
        return dict(pin.split("==") for pin in lock)

    for wset in wheelhouse.SETS.values():
        old, new = versions(wset, "bookworm"), versions(wset, "trixie")
        both = old.keys() & new.keys()
        assert len(both) > 0.9 * len(old), wset.name
        assert {n: old[n] for n in both} == {n: new[n] for n in both}, wset.name


def test_roles_pick_the_set_named_after_the_release():
    for role, var in (("jupyterhub", "jupyterhub"), ("notebook_env", "notebook_env")):
        tasks = (REPO / "roles" / role / "tasks/install.yml").read_text()
        assert f"wheelhouse_dir }}}}-{{{{ __{var}_release }}}}.tar" in tasks, role
        assert f"src: requirements-{{{{ __{var}_release }}}}.txt" in tasks, role
        rolevars = (REPO / "roles" / role / "vars/main.yml").read_text()
        assert f"__{var}_release: \"{{{{ ansible_facts['distribution_release'] }}}}\"" in rolevars


def make_wheel(dest: Path, name: str, version: str, requires: list[str] = ()) -> Path:
    """A minimal pure-Python wheel with only metadata (enough for pip's resolver)."""
    dist = f"{name}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {req}\n" for req in requires)
    wheel = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    path = dest / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{name}.py", "")
        zf.writestr(f"{dist}/METADATA", meta)
        zf.writestr(f"{dist}/WHEEL", wheel)
        zf.writestr(f"{dist}/RECORD", "")
    return path


def test_resolution_uses_the_target_pythons_markers(tmp_path):
    # the controller runs 3.11: without the target's marker values a 3.13 lock would take
    # the 3.11-only dependency and miss the 3.13-only one
    links = tmp_path / "links"
    links.mkdir()
    make_wheel(
        links, "probe", "1.0", ['oldpy; python_version < "3.12"', 'newpy; python_version >= "3.13"']
    )
    make_wheel(links, "oldpy", "1.0")
    make_wheel(links, "newpy", "1.0")
    make_wheel(links, "newpy", "2.0")
    infile = tmp_path / "requirements.in"
    infile.write_text("probe==1.0\n")

    def names(release, constraints=None):
        report = wheelhouse.resolve(infile, wheelhouse.TARGETS[release], constraints, links)
        return {i["metadata"]["name"]: i["metadata"]["version"] for i in report["install"]}

    assert names("bookworm") == {"probe": "1.0", "oldpy": "1.0"}
    assert names("trixie") == {"probe": "1.0", "newpy": "2.0"}
    # --align: another lock's versions as constraints
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("newpy==1.0\noldpy==1.0\n")
    assert names("trixie", constraints) == {"probe": "1.0", "newpy": "1.0"}
    lines = wheelhouse.lock_lines(
        "hub", wheelhouse.TARGETS["trixie"], "requirements.in",
        wheelhouse.resolve(infile, wheelhouse.TARGETS["trixie"], None, links), "bookworm",
    )  # fmt: skip
    assert "--target trixie --align bookworm" in lines[0]
    assert "CPython 3.13.5" in lines[1]
    assert [line.split(" ")[0] for line in lines[2:]] == ["newpy==2.0", "probe==1.0"]


def test_pack_takes_one_targets_wheels_deterministically(tmp_path):
    pool = tmp_path / "hub"
    pool.mkdir()
    shared = make_wheel(pool, "shared", "1.0")
    only311 = make_wheel(pool, "only311", "1.0")
    only313 = make_wheel(pool, "only313", "1.0")

    def digest(path):
        return hashlib.sha256(path.read_bytes()).hexdigest()

    lock = {"shared==1.0": {digest(shared)}, "only313==1.0": {digest(only313)}}
    trixie = wheelhouse.TARGETS["trixie"]
    archive = wheelhouse.pack("hub", trixie, tmp_path, lock)
    assert archive == tmp_path / "hub-trixie.tar"
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == [only313.name, shared.name]
        assert {m.mtime for m in tar.getmembers()} == {int(wheelhouse.SOURCE_DATE_EPOCH)}
    first = archive.read_bytes()
    assert only311.exists()
    wheelhouse.pack("hub", trixie, tmp_path, lock)
    assert archive.read_bytes() == first


def test_build_downloads_nothing_when_every_target_is_complete(tmp_path, monkeypatch, capsys):
    repo = tmp_path / "repo"
    files = repo / "roles/notebook_env/files"
    files.mkdir(parents=True)
    dest = tmp_path / "cache"
    (dest / "notebook").mkdir(parents=True)
    wheel = make_wheel(dest / "notebook", "shared", "1.0")
    line = f"shared==1.0 --hash=sha256:{hashlib.sha256(wheel.read_bytes()).hexdigest()}\n"
    for release in wheelhouse.TARGETS:
        (files / f"requirements-{release}.txt").write_text("# lock\n" + line)

    def no_pip(*args, **kwargs):
        raise AssertionError(f"pip called: {args}")

    monkeypatch.setattr(wheelhouse, "pip", no_pip)
    assert wheelhouse.main(["build", "notebook", "--repo", str(repo), "--dest", str(dest)]) == 0
    out = capsys.readouterr().out
    assert "downloading" not in out
    for release in wheelhouse.TARGETS:
        assert f"wheelhouse notebook/{release}: 1 wheels present" in out
        with tarfile.open(dest / f"notebook-{release}.tar") as tar:
            assert tar.getnames() == [wheel.name]


def test_lock_cli_targets(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(wheelhouse, "lock", lambda *a: calls.append(a) or Path("x"))
    wheelhouse.main(["lock", "hub", "--target", "trixie", "--align", "bookworm", "--repo", "."])
    assert calls == [("hub", Path("."), "trixie", "bookworm")]
    calls.clear()
    # every target by default; the reference of --align itself is left as it is
    wheelhouse.main(["lock", "notebook", "--align", "bookworm", "--repo", "."])
    assert calls == [("notebook", Path("."), "trixie", "bookworm")]
    calls.clear()
    wheelhouse.main(["lock", "notebook", "--repo", "."])
    assert [c[2] for c in calls] == list(wheelhouse.TARGETS)


def test_sitehub_wheel_changes_with_the_code_not_with_the_readme(tmp_path):
    # a copy of the project's source: the hubs reinstall (and restart) when these bytes change
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "src", repo / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / "pyproject.toml", repo / "pyproject.toml")
    (repo / "README.md").write_text("first text\n")

    def build(name: str) -> str:
        dest = tmp_path / name
        dest.mkdir()
        return hashlib.sha256(wheelhouse.build_sitehub_wheel(repo, dest).read_bytes()).hexdigest()

    first = build("a")
    (repo / "README.md").write_text("a documentation edit\n")
    assert build("b") == first
    with (repo / "src" / "sitehub" / "__init__.py").open("a") as init:
        init.write("\n# a code edit\n")
    assert build("c") != first
