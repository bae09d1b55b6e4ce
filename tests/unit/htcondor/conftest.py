"""The example site's HTCondor cluster, read through the inventory model.

No __init__.py here: as a package this folder would be importable as `htcondor`, the name of
HTCondor's own (version 1) bindings module.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sitehub.inventory.model import Cluster

ROOT = Path(__file__).resolve().parents[3]
CLUSTERS = ROOT / "inventories/example-site/group_vars/all/clusters.yml"
WRAPPER = ROOT / "roles/htcondor_submit/files/sitehub-condor-job"


def example_cluster(segment: str = "htc") -> Cluster:
    data = yaml.safe_load(CLUSTERS.read_text(encoding="utf-8"))
    raw = next(c for c in data["sitehub_clusters"] if c["segment"] == segment)
    return Cluster.model_validate(raw)


@pytest.fixture(scope="session")
def htc() -> Cluster:
    return example_cluster()


@pytest.fixture(scope="session")
def wrapper() -> Path:
    return WRAPPER
