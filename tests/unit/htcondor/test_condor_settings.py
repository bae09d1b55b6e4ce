"""Inventory -> CondorSpawner settings, applied the way roles/jupyterhub's
jupyterhub_config.py applies an instance's `spawner` settings (a config section named after
the class)."""

from __future__ import annotations

import json
import types

import pytest

pytest.importorskip("jupyterhub")

from traitlets.config import Config

from sitehub.htcondor.deploy import SPAWNER_CLASS, spawner_settings


def test_settings_follow_the_inventory(htc):
    got = spawner_settings(htc)
    assert got == {
        "scheduler": "htcondor",
        "allow_local": True,
        "condor_schedd_name": "jupyter-schedd.example.org",
        "condor_spool": True,
        "condor_accounting_groups": ["group_atlas", "group_belle2", "group_sphenix"],
        "condor_max_cpus": 8,
        "condor_max_memory_gb": 32,
        "condor_gpu_capabilities": ["7.0", "8.0"],
        "condor_gpu_devices": ["Tesla V100-SXM2-32GB", "NVIDIA A100-SXM4-40GB"],
        "container_images": [
            {
                "name": "sl7-atlas",
                "ref": "/cvmfs/unpacked.cern.ch/registry.hub.docker.com/atlas/analysisbase:latest",
                "description": "ATLAS AnalysisBase (SL7)",
            }
        ],
        "container_image_dirs": ["/gpfs/software/containers/jupyter"],
        "max_runtime_minutes": 1440,
        "default_runtime_minutes": 60,
    }
    json.dumps(got)  # the role writes them to settings.json


def test_a_local_schedd_submits_without_spool(htc):
    local = htc.model_copy(update={"htcondor": htc.htcondor.model_copy(update={"schedd": None})})
    got = spawner_settings(local)
    assert (got["condor_schedd_name"], got["condor_spool"]) == ("", False)


def test_every_setting_reaches_the_spawner_through_its_config_section(htc):
    from sitehub.hub.condor import CondorSpawner

    settings = spawner_settings(htc)
    assert f"{CondorSpawner.__module__}.{CondorSpawner.__name__}" == SPAWNER_CLASS
    c = Config()
    section = getattr(c, SPAWNER_CLASS.rsplit(".", 1)[-1])
    for key, value in json.loads(json.dumps(settings)).items():
        setattr(section, key, value)
    user = types.SimpleNamespace(name="alice", url="/user/alice/", spawners={})
    s = CondorSpawner(config=c, user=user, reaper_interval=0)
    configurable = CondorSpawner.class_traits(config=True)
    for key, value in settings.items():
        assert key in configurable, key
        assert getattr(s, key) == value, key


def test_clusters_without_a_pool_are_refused(htc):
    with pytest.raises(ValueError, match="no htcondor block"):
        spawner_settings(htc.model_copy(update={"htcondor": None}))
