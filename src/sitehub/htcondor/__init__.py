"""HTCondor clusters: the spawn form's choices, submit descriptions, and condormap.

choices   what a user may choose on an HTCondor cluster, and the re-check of forged values
submit    the notebook server's submit description (no HTCondor bindings needed)
status    argv of the condor_* tools the spawner runs, and their answers read for the hub
          (gone only when HTCondor says so)
deploy    inventory -> htcondor_submit role variables and CondorSpawner settings
jobad     job/machine ClassAds to check descriptions with HTCondor's bindings (tests, sites)
mapping   condormap(fn, inputs): map() over HTCondor jobs, for notebooks (bindings imported
          when called, with cloudpickle)
"""

from __future__ import annotations

from .mapping import JobFailed, MapSpec, RemoteError, condormap

__all__ = ["JobFailed", "MapSpec", "RemoteError", "condormap"]
