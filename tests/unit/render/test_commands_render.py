"""render_site on the example site: hubs, Slurm scripts and the frontend an auditor reads."""

from __future__ import annotations

import html
import json
import re
import shlex
from pathlib import Path

import pytest

from sitehub.hub.batch import server_in_image
from sitehub.render.commands import SAMPLE_EXPORT, SERVER_CMD, render_site, site_model
from sitehub.render.container import Bind, container_argv
from sitehub.render.frontend import SECRET_PLACEHOLDER

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "inventories/example-site"
HEX64 = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])")


@pytest.fixture(scope="module")
def site():
    return site_model(str(EXAMPLE))


@pytest.fixture(scope="module")
def rendered(site, tmp_path_factory):
    out = tmp_path_factory.mktemp("render")
    written = render_site(site, out, inventory_dir=str(EXAMPLE))
    assert all(path.is_file() for path in written)
    return out


def cluster(site, segment):
    return next(c for c in site.sitehub_clusters if c.segment == segment)


def sbatch_directives(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if line.startswith("#SBATCH --"):
            key, _, value = line.removeprefix("#SBATCH --").partition("=")
            out[key] = value
    return out


# --- hubs ----------------------------------------------------------------------------------


def test_every_instance_has_its_hub_file(site, rendered):
    expected = {
        f"{i.host}/{c.segment}-{i.route}.json" for c in site.sitehub_clusters for i in c.instances
    }
    found = {str(p.relative_to(rendered / "hubs")) for p in (rendered / "hubs").rglob("*.json")}
    assert found == expected
    assert len(found) == 7
    for c in site.sitehub_clusters:
        for i in c.instances:
            entry = json.loads(
                (rendered / "hubs" / i.host / f"{c.segment}-{i.route}.json").read_text()
            )
            assert entry["name"] == f"{c.segment}-{i.route}"
            assert entry["route"] == c.segment
            assert entry["port"] == i.port
            assert entry["scheduler"] == c.scheduler
            for key in ("cookie_secret", "crypt_key", "proxy_auth_token"):
                assert entry[key] == SECRET_PLACEHOLDER


def test_slurm_hub_carries_its_container_settings(rendered):
    entry = json.loads((rendered / "hubs/jupyter20.example.org/hpc-ic-ic20.json").read_text())
    assert entry["spawner"]["container_options"] == ["--nv"]
    assert entry["spawner"]["container_binds"] == ["/cvmfs:ro", "/gpfs", "/opt/sitehub/notebook:ro"]
    knl = json.loads((rendered / "hubs/jupyter21.example.org/hpc-knl-knl21.json").read_text())
    assert knl["port"] == 8100 and "container_images" not in knl["spawner"]


def test_no_real_or_derived_secret_is_written(rendered):
    files = [p for d in ("hubs", "frontend") for p in (rendered / d).rglob("*") if p.is_file()]
    assert len(files) > 10
    for path in files:
        text = path.read_text()
        assert not HEX64.search(text), path
        assert "$ANSIBLE_VAULT" not in text, path
    vhost = (rendered / "frontend/sitehub-site.conf").read_text()
    assert f'RequestHeader set X-Sitehub-Frontend-Secret "{SECRET_PLACEHOLDER}"' in vhost
    role_vars = json.loads((rendered / "frontend/frontend-vars.json").read_text())
    assert role_vars["frontend_hub_secret"] == SECRET_PLACEHOLDER


def test_redaction_catches_any_secret_named_key():
    from sitehub.render.commands import redact

    data = {"a": 1, "spawner": {"api_token": "x", "db_password": "y"}, "list": [{"secret_x": 2}]}
    assert redact(data) == {
        "a": 1,
        "spawner": {"api_token": SECRET_PLACEHOLDER, "db_password": SECRET_PLACEHOLDER},
        "list": [{"secret_x": SECRET_PLACEHOLDER}],
    }


# --- Slurm ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("partition", "account", "qos", "minutes", "gres"),
    [
        ("debug", "default", "debug", "30", None),
        ("usatlas", "tier3", "usatlas", "720", "gpu:pascal:1"),
        ("scavenger", "default", "scavenger", "2880", "gpu:pascal:1"),
    ],
)
def test_each_partition_gets_its_script(rendered, partition, account, qos, minutes, gres):
    text = (rendered / f"slurm/hpc-ic/{partition}.sbatch").read_text()
    assert f"#SBATCH --partition={partition}\n" in text
    assert f"#SBATCH --time={minutes}\n" in text
    d = sbatch_directives(text)
    assert d["account"] == account and d["qos"] == qos
    assert d.get("gres") == gres
    assert d["job-name"] == "jupyter-hpc-ic-ic20.USER"
    assert d["export"] == ",".join(SAMPLE_EXPORT)
    assert {"HOME", "JUPYTERHUB_API_TOKEN", "JUPYTERHUB_API_URL"} <= set(d["export"].split(","))
    assert text.rstrip().splitlines()[-1] == "exec srun --ntasks=1 --export=ALL " + shlex.join(
        SERVER_CMD
    )


def test_partition_runtime_is_the_partitions_longest(site, rendered):
    ic = cluster(site, "hpc-ic")
    scripts = sorted(p.name for p in (rendered / "slurm/hpc-ic").glob("*.sbatch"))
    assert scripts == sorted(
        [f"{p.name}.sbatch" for p in ic.options.partitions] + ["debug-image-el9-ml.sbatch"]
    )
    for part in ic.options.partitions:
        d = sbatch_directives((rendered / f"slurm/hpc-ic/{part.name}.sbatch").read_text())
        assert int(d["time"]) == part.max_runtime


def test_image_sample_runs_the_server_in_apptainer(site, rendered):
    ic = cluster(site, "hpc-ic")
    image = ic.images[0]
    text = (rendered / f"slurm/hpc-ic/debug-image-{image.name}.sbatch").read_text()
    assert "#SBATCH --partition=debug\n" in text
    exec_line = text.rstrip().splitlines()[-1]
    assert "apptainer exec" in exec_line
    argv = shlex.split(exec_line)
    assert argv[:4] == ["exec", "srun", "--ntasks=1", "--export=ALL"]
    inner = argv[4:]
    assert inner[:2] == ["apptainer", "exec"]
    binds = [inner[i + 1] for i, a in enumerate(inner) if a == "--bind"]
    assert binds == [Bind.parse(b).spec() for b in ic.container.binds]
    assert binds == [
        "/cvmfs:/cvmfs:ro",
        "/gpfs:/gpfs",
        "/opt/sitehub/notebook:/opt/sitehub/notebook:ro",
    ]
    # the runtime option comes before the image, the server after it
    assert inner.index("--nv") < inner.index(image.ref)
    assert inner[inner.index(image.ref) + 1 :] == SERVER_CMD
    assert inner == container_argv(
        "apptainer",
        image.ref,
        SERVER_CMD,
        binds=ic.container.binds,
        pass_env=SAMPLE_EXPORT,
        options=["--nv"],
    )


def test_discovering_cluster_gets_a_note_not_a_script(rendered):
    files = sorted(p.name for p in (rendered / "slurm/hpc-knl").iterdir())
    assert files == ["README.txt"]
    assert "live from Slurm" in (rendered / "slurm/hpc-knl/README.txt").read_text()


def test_image_with_its_own_server_gets_the_server_args():
    argv = server_in_image(
        "podman",
        "localhost/nb:1",
        ["/venv/bin/batchspawner-singleuser", "/venv/bin/jupyterhub-singleuser"],
        export={"B": "2", "A": "1"},
        server_cmd=["batchspawner-singleuser", "jupyterhub-singleuser"],
        server_args=["--debug"],
    )
    assert argv[-4:] == [
        "localhost/nb:1",
        "batchspawner-singleuser",
        "jupyterhub-singleuser",
        "--debug",
    ]
    assert argv[argv.index("--env") + 1] == "A"  # sorted names, values stay outside


# --- frontend -------------------------------------------------------------------------------


def test_apache_config_has_a_sticky_balancer_per_cluster(site, rendered):
    vhost = (rendered / "frontend/sitehub-site.conf").read_text()
    for c in site.sitehub_clusters:
        block = re.search(
            rf'<Proxy "balancer://hub-{re.escape(c.segment)}">\n(.*?)</Proxy>', vhost, re.S
        )
        assert block, c.segment
        body = block.group(1)
        routes = re.findall(r'BalancerMember "([^"]+)" route=(\S+) ', body)
        assert routes == [
            (f"http://{i.host}:{i.port}/jupyterhub/{c.segment}", i.route) for i in c.instances
        ]
        assert "stickysession=ROUTEID" in body
        assert f'ProxyPass "balancer://hub-{c.segment}/"' in vhost
        assert (
            f'Header always add Set-Cookie "ROUTEID=.%{{BALANCER_WORKER_ROUTE}}e; '
            f'Path=/jupyterhub/{c.segment}/; Secure; HttpOnly; SameSite=Lax" '
            "env=BALANCER_ROUTE_CHANGED"
        ) in vhost
    assert vhost.count("<Proxy ") == len(site.sitehub_clusters)
    assert "ServerName jupyter.example.org" in vhost
    assert "SSLProtocol -all +TLSv1.2 +TLSv1.3" in vhost
    assert "RequestHeader unset X_Sitehub_User early" in vhost
    assert "{{" not in vhost and "{%" not in vhost


def test_server_wide_files(rendered):
    assert (rendered / "frontend/ports.conf").read_text().splitlines()[1:] == [
        "Listen 80",
        "Listen 443",
    ]
    assert (
        "ServerName jupyter.example.org" in (rendered / "frontend/sitehub-server.conf").read_text()
    )


def test_landing_page_lists_the_clusters(site, rendered):
    page = (rendered / "frontend/index.html").read_text()
    titles = re.findall(r'<h3 id="cluster-[^"]+">([^<]*)</h3>', page)
    assert titles == [html.escape(c.title) for c in site.sitehub_clusters]
    assert titles == ["HTC", "HPC IC", "HPC KNL"]
    for c in site.sitehub_clusters:
        assert f'href="/jupyterhub/{c.segment}/"' in page
    assert "<title>Example Facility JupyterHub</title>" in page
    assert (rendered / "frontend/errors/unavailable.html").is_file()
