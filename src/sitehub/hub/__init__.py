"""Hub-side glue for JupyterHub: authenticator, spawner, options form, Slurm parsers.

Installed into the hub venv (with --no-deps). Modules that import JupyterHub are
`authenticator`, `spawner` and `api`; the rest is pure and unit tested on the controller.
"""
