"""Build a FIXTURE apt repository for the htcondor scenario (runs inside the test host).

HTCondor's packages cannot be had here, so this makes one tiny package named `htcondor`
that installs only what the htcondor_submit role relies on from the real one: a top-level
/etc/condor/condor_config that reads /etc/condor/config.d, and that directory. It ships no
HTCondor program. The repository is signed with a throw-away key, so the role's
signed-by path and apt's signature check run for real.

    python3 make_fixture_repo.py REPO_DIR VERSION SUITE
"""

import datetime
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CONDOR_CONFIG = """\
## FIXTURE from sitehub's molecule/htcondor scenario, standing in for the condor_config of
## HTCondor's package: it reads the fragments in LOCAL_CONFIG_DIR in lexical order.
RELEASE_DIR = /usr
LOCAL_DIR = /var
ETC = /etc/condor
LOCAL_CONFIG_FILE = /etc/condor/condor_config.local
REQUIRE_LOCAL_CONFIG_FILE = false
LOCAL_CONFIG_DIR = /etc/condor/config.d
"""
# the real package's base fragment sorts first, like this one; the role's must win over it
BASE_FRAGMENT = """\
## FIXTURE: like the package's own base fragment
use SECURITY : recommended_v9_0
CONDOR_HOST = $(FULL_HOSTNAME)
"""


def run(*argv, **kwargs):
    subprocess.run(argv, check=True, **kwargs)


def build_package(work: Path, version: str, out: Path) -> None:
    root = work / "pkg"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "etc/condor/config.d").mkdir(parents=True)
    (root / "usr/share/doc/htcondor").mkdir(parents=True)
    (root / "etc/condor/condor_config").write_text(CONDOR_CONFIG)
    (root / "etc/condor/config.d/00-fixture-base.config").write_text(BASE_FRAGMENT)
    (root / "usr/share/doc/htcondor/README.fixture").write_text(
        "Test fixture of sitehub's htcondor scenario. Not HTCondor.\n"
    )
    (root / "DEBIAN/conffiles").write_text(
        "/etc/condor/condor_config\n/etc/condor/config.d/00-fixture-base.config\n"
    )
    (root / "DEBIAN/control").write_text(
        "Package: htcondor\n"
        f"Version: {version}\n"
        "Architecture: all\n"
        "Maintainer: sitehub tests <root@localhost>\n"
        "Section: admin\n"
        "Priority: optional\n"
        "Description: FIXTURE standing in for HTCondor (sitehub tests)\n"
        " Installs only /etc/condor/condor_config and /etc/condor/config.d.\n"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    run("dpkg-deb", "--root-owner-group", "--build", str(root), str(out))


def control_of(deb: Path) -> str:
    return subprocess.run(
        ["dpkg-deb", "--field", str(deb)], check=True, capture_output=True, text=True
    ).stdout.rstrip("\n")


def main(repo: str, version: str, suite: str) -> int:
    repo_dir = Path(repo)
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], check=True, capture_output=True, text=True
    ).stdout.strip()
    rel_deb = f"pool/main/h/htcondor/htcondor_{version}_all.deb"
    deb = repo_dir / rel_deb
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        build_package(work, version, deb)
        data = deb.read_bytes()
        stanza = (
            control_of(deb)
            + f"\nFilename: {rel_deb}\nSize: {len(data)}\n"
            + f"SHA256: {hashlib.sha256(data).hexdigest()}\n"
        )
        rel_packages = f"main/binary-{arch}/Packages"
        packages = repo_dir / "dists" / suite / rel_packages
        packages.parent.mkdir(parents=True, exist_ok=True)
        packages.write_text(stanza)
        body = packages.read_bytes()
        date = datetime.datetime.now(datetime.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S UTC")
        release = repo_dir / "dists" / suite / "Release"
        release.write_text(
            "Origin: sitehub-fixture\nLabel: sitehub-fixture\n"
            f"Suite: {suite}\nCodename: {suite}\nDate: {date}\n"
            f"Architectures: {arch}\nComponents: main\n"
            "Description: FIXTURE standing in for HTCondor's repository\n"
            f"SHA256:\n {hashlib.sha256(body).hexdigest()} {len(body)} {rel_packages}\n"
        )
        gnupg = work / "gnupg"
        gnupg.mkdir(mode=0o700)
        env = {**os.environ, "GNUPGHOME": str(gnupg)}
        gpg = ["gpg", "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", ""]
        run(*gpg, "--quick-gen-key", "sitehub fixture repository", "ed25519", "sign", "never",
            env=env)
        run(*gpg, "--yes", "--clearsign", "-o", str(release.with_name("InRelease")),
            str(release), env=env)
        run(*gpg, "--yes", "--armor", "--export", "-o", str(repo_dir / "fixture-key.asc"),
            env=env)
    for path in [repo_dir, *repo_dir.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
