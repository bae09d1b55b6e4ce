"""The HTCondor form: what is offered, narrowed by the pool, and forged values refused."""

from __future__ import annotations

import json
import subprocess
import sys
from unittest import mock

import pytest

from sitehub.htcondor import choices
from sitehub.htcondor.choices import (
    OptionsError,
    build_model,
    model_for_cluster,
    pool_groups,
    render_form,
    usermap_groups,
    validate,
)
from sitehub.htcondor.submit import GpuRequest, JobRequest


@pytest.fixture
def model(htc):
    return model_for_cluster(htc)


def test_defaults_when_nothing_is_chosen(model):
    choice = validate(model, {})
    assert choice == choices.Choice(
        run_local=False,
        job=JobRequest(accounting_group="group_atlas", cpus=1, memory_mb=2048, minutes=60),
    )


def test_form_data_lists_and_api_json_mean_the_same(model):
    form = {
        "accounting_group": ["group_belle2"],
        "cpus": ["4"],
        "memory": ["16"],
        "gpu": ["device:NVIDIA A100-SXM4-40GB"],
        "image": ["sl7-atlas"],
        "runtime": ["720"],
    }
    api = {k: (int(v[0]) if v[0].isdigit() else v[0]) for k, v in form.items()}
    assert validate(model, form) == validate(model, api)
    job = validate(model, form).job
    assert job.gpu == GpuRequest("device", "NVIDIA A100-SXM4-40GB")
    assert job.image.startswith("/cvmfs/unpacked.cern.ch/")
    assert (job.cpus, job.memory_mb, job.minutes) == (4, 16 * 1024, 720)


def test_run_locally_when_offered(model):
    assert validate(model, {"run_local": ["true"]}) == choices.Choice(run_local=True)


def test_json_shape_follows_the_slurm_form(model):
    data = model.to_json()
    assert set(data) == {"default_group", "allow_local", "groups", "labels"}
    assert data["default_group"] == "group_atlas"
    assert set(data["groups"]["group_atlas"]) == {
        "max_cpus",
        "max_memory_gb",
        "max_minutes",
        "default_minutes",
        "gpus",
        "images",
    }
    assert data["labels"]["gpus"]["capability:8.0"] == "compute capability 8.0 or newer"
    assert data["labels"]["images"]["sl7-atlas"] == "ATLAS AnalysisBase (SL7)"


FORGED = [
    ({"accounting_group": "group_cms"}, "Accounting group 'group_cms' is not open to you"),
    ({"accounting_group": "group_atlas\nqueue 100"}, "single line"),
    ({"accounting_group": 'group_atlas"'}, "is not open to you"),
    ({"accounting_group": "$(ENV(HOME))"}, "is not open to you"),
    ({"gpu": "capability:9.0"}, "GPU choice 'capability:9.0' is not offered"),
    ({"gpu": "capability:8.0 || true"}, "is not offered"),
    ({"gpu": 'device:A100" || true || "'}, "is not offered"),
    ({"gpu": "device:Tesla V100-SXM2-32GB\nrequire_gpus = true"}, "single line"),
    ({"image": "/etc/shadow"}, "Image '/etc/shadow' is not offered"),
    ({"image": "docker://evil/image"}, "is not offered"),
    ({"runtime": "1441"}, "Runtime 1441 min exceeds the maximum of 1440 min"),
    ({"runtime": "0"}, "at least 1 minute"),
    ({"runtime": "-5"}, "whole number"),
    ({"runtime": "1e3"}, "whole number"),
    ({"runtime": "6\n0"}, "whole number"),
    ({"runtime": "٣"}, "whole number"),
    ({"runtime": 12.5}, "whole number"),
    ({"runtime": True}, "whole number"),
    ({"cpus": "9"}, "CPUs must be from 1 to 8 in group group_atlas, not 9"),
    ({"cpus": "0"}, "CPUs must be from 1 to 8"),
    ({"memory": "33"}, "Memory must be from 1 to 32 GB"),
    ({"memory": "99999999999"}, "whole number"),
    ({"cpus": ["1", "2"]}, "exactly one value"),
    ({"partition": "debug"}, "Unknown option(s): partition"),
    ({"request_cpus": "1"}, "Unknown option(s): request_cpus"),
    ({"run_local": "maybe"}, "true or false"),
]


@pytest.mark.parametrize(("options", "message"), FORGED)
def test_forged_values_are_refused_before_a_description_is_built(model, options, message):
    with (
        mock.patch("sitehub.htcondor.submit.build_submit") as build,
        pytest.raises(OptionsError) as err,
    ):
        validate(model, options)
    assert message in str(err.value)
    build.assert_not_called()
    # the message repeats at most a short, repr()-quoted piece of the forged value
    assert "\n" not in str(err.value)


def test_run_locally_refused_where_not_offered(htc):
    model = model_for_cluster(
        htc.model_copy(update={"options": htc.options.model_copy(update={"run_locally": False})})
    )
    with pytest.raises(OptionsError, match="not offered here"):
        validate(model, {"run_local": True})


# ---------------------------------------------------------------------------------------
# the pool's configuration narrows the offer

GROUPS = ["group_atlas", "group_belle2", "group_sphenix"]


def test_without_pool_configuration_every_inventory_group_is_offered():
    assert pool_groups(GROUPS, None, 8) == ({g: 8 for g in GROUPS}, [])


def test_groups_the_negotiator_does_not_know_are_dropped():
    caps, notes = pool_groups(GROUPS, {"GROUP_NAMES": "group_atlas, group_belle2"}, 8)
    assert caps == {"group_atlas": 8, "group_belle2": 8}
    assert notes == ["group_sphenix is not a group of the pool (GROUP_NAMES)"]


def test_static_quota_caps_cpus_unless_surplus_is_accepted():
    config = {
        "GROUP_NAMES": " ".join(GROUPS),
        "GROUP_QUOTA_group_atlas": "4",
        "GROUP_QUOTA_group_belle2": "4",
        "GROUP_ACCEPT_SURPLUS_group_belle2": "True",
        "GROUP_QUOTA_group_sphenix": "0",
    }
    caps, notes = pool_groups(GROUPS, config, 8)
    assert caps == {"group_atlas": 4, "group_belle2": 8}
    assert notes == ["group_sphenix has no quota in the pool"]
    model = build_model(
        accounting_groups=GROUPS,
        max_cpus=8,
        max_memory_gb=32,
        max_runtime_minutes=1440,
        pool_config=config,
    )
    with pytest.raises(OptionsError, match="CPUs must be from 1 to 4 in group group_atlas"):
        validate(model, {"accounting_group": "group_atlas", "cpus": 5})
    assert validate(model, {"accounting_group": "group_belle2", "cpus": 8}).job.cpus == 8


def test_no_group_left_explains_why():
    model = build_model(
        accounting_groups=["group_x"],
        max_cpus=8,
        max_memory_gb=32,
        max_runtime_minutes=60,
        pool_config={"GROUP_NAMES": "group_atlas"},
        allow_local=True,
    )
    assert "No accounting group of this pool is open to you" in model.notice
    assert "group_x is not a group of the pool" in model.notice
    with pytest.raises(OptionsError, match="group_x is not a group of the pool"):
        validate(model, {})
    assert validate(model, {"run_local": "on"}).run_local


MAP = """\
# the site's accounting-group map, HTCondor's map-file syntax
* alice group_atlas,group_belle2
* /^sphenix_.*$/ group_sphenix
"""


def test_user_map_is_read_with_htcondors_own_code(tmp_path):
    path = tmp_path / "groups.map"
    path.write_text(MAP)
    config = {"CLASSAD_USER_MAPFILE_Groups": str(path)}
    assert usermap_groups("alice", config) == ["group_atlas", "group_belle2"]
    assert usermap_groups("sphenix_bob", config) == ["group_sphenix"]
    assert usermap_groups("carol", config) == []
    assert usermap_groups("alice", {}) is None

    model = build_model(
        accounting_groups=GROUPS,
        max_cpus=8,
        max_memory_gb=32,
        max_runtime_minutes=60,
        user_groups=usermap_groups("alice", config),
    )
    assert [g.name for g in model.groups] == ["group_atlas", "group_belle2"]
    with pytest.raises(OptionsError, match="'group_sphenix' is not open to you"):
        validate(model, {"accounting_group": "group_sphenix"})


def test_local_pool_config_reads_htcondors_configuration(tmp_path):
    (tmp_path / "config.d").mkdir()
    (tmp_path / "condor_config").write_text(f"LOCAL_CONFIG_DIR = {tmp_path}/config.d\n")
    (tmp_path / "config.d/50-groups.conf").write_text(
        "GROUP_NAMES = group_atlas, group_belle2\n"
        "GROUP_QUOTA_group_atlas = 4\n"
        "GROUP_ACCEPT_SURPLUS = false\n"
        f"CLASSAD_USER_MAPFILE_Groups = {tmp_path}/groups.map\n"
    )
    # the bindings read the configuration once per process: a fresh one
    code = "import json; from sitehub.htcondor.choices import local_pool_config as c; "
    code += "print(json.dumps(c()))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"CONDOR_CONFIG": str(tmp_path / "condor_config"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(out.stdout)
    assert got["GROUP_NAMES"] == "group_atlas, group_belle2"
    assert got["GROUP_QUOTA_group_atlas"] == "4"
    assert got["GROUP_ACCEPT_SURPLUS"].lower() == "false"
    assert got["CLASSAD_USER_MAPFILE_Groups"] == f"{tmp_path}/groups.map"


def test_inventory_values_unfit_for_a_description_are_a_site_error():
    with pytest.raises(ValueError, match="not allowed in a submit description"):
        choices.gpu_choices(["8.0 || true"], [])
    with pytest.raises(ValueError, match="not allowed in a submit description"):
        choices.gpu_choices([], ['A100"'])
    with pytest.raises(ValueError, match="not allowed in a submit description"):
        pool_groups(["group atlas"], None, 8)
    with pytest.raises(ValueError, match="image reference 'relative/path' is not allowed"):
        choices.image_choices([{"name": "x", "ref": "relative/path"}])


def test_images_from_image_dirs(tmp_path):
    (tmp_path / "pytorch-2.3.sif").write_text("")
    (tmp_path / "bad name.sif").write_text("")
    (tmp_path / "notes.txt").write_text("")
    got = choices.image_choices([], [str(tmp_path), str(tmp_path / "missing")])
    assert list(got) == ["pytorch-2.3"]
    assert got["pytorch-2.3"].ref == str(tmp_path / "pytorch-2.3.sif")


def test_form_renders_with_the_choices_as_safe_json(model):
    html = render_form(model, {"accounting_group": "</script><script>alert(1)</script>"})
    assert 'name="accounting_group"' in html
    assert '<option value="group_sphenix">group_sphenix</option>' in html
    assert "</script><script>alert" not in html
    assert html.count("<script") == 3
