"""Filters of the notebook_env role, backed by sitehub on the controller.

- sitehub_dask_config: the dask-jobqueue defaults of one hub cluster (rendered by
  src/sitehub/render/dask.py, unit-tested there);
- sitehub_notebook_module: the source of `sitehub_notebook` (batch_map), which the
  role installs into the notebook venv: src/sitehub/notebook/batchmap.py, which
  needs nothing from sitehub, so the venv does not need the sitehub package.
"""

from __future__ import annotations

import inspect
from typing import Any

from sitehub.inventory.model import Cluster
from sitehub.inventory.validate import _plain
from sitehub.render.dask import dask_config


def sitehub_dask_config(cluster: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """A sitehub_clusters entry -> the content of /etc/dask/jobqueue.yaml."""
    options = {k: _plain(v) for k, v in kwargs.items() if v not in (None, "")}
    return dask_config(Cluster.model_validate(_plain(cluster)), **options)


def sitehub_notebook_module(_: Any = None) -> str:
    """Text of the module users import as `from sitehub_notebook import batch_map`."""
    from sitehub.notebook import batchmap

    header = (
        "# Installed by the notebook_env role (sitehub) from sitehub/notebook/batchmap.py;\n"
        "# local edits are overwritten.\n"
    )
    return header + inspect.getsource(batchmap)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "sitehub_dask_config": sitehub_dask_config,
            "sitehub_notebook_module": sitehub_notebook_module,
        }
