"""Hub-side glue for JupyterHub: authenticator, spawner, options form, Slurm parsers.

Installed into the hub venv (with --no-deps). Modules that import JupyterHub are
`authenticator`, `api`, `spawner` (what every scheduler shares) and its peers `slurm_spawner`
and `condor`; the rest (`form`, `options`, `jobs`, `slurm`, ...) is pure and unit tested on
the controller.
"""
