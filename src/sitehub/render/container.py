"""Command lines that run a program inside a container image: Apptainer or podman.

Apptainer (formerly Singularity) is what HPC sites run: unprivileged, images are
.sif files on shared storage, $HOME and /tmp are bound by default. podman is what
the test hosts can run (Apptainer is not packaged for Debian 12). Both kernels
(`sitehub.render.kernelspec`) and single-user servers (the spawner's batch script)
use `container_argv`, so the two never disagree about binds or environment.

The result is an argv list: no shell parses it, so values need no quoting. Where a
shell line is needed, `container_command` joins it with shlex quoting.

What the runtimes' command lines allow (Apptainer: `apptainer exec [exec options...]
<container> <command>`; `-B/--bind src[:dest[:opts]]`, opts `ro` or `rw`, several
binds may be joined by commas; `--pwd`; `--cleanenv`; `APPTAINERENV_<NAME>` sets
<NAME> inside the container. podman: `podman run [options] IMAGE [COMMAND [ARG...]]`,
`--volume src:dest[:opts]`, `--env NAME=value`, `--workdir`):
- a ':' in a bind path would be read as the src/dest/opts separator, and Apptainer
  reads ',' as the separator between binds: such paths are refused, not mangled;
- Apptainer's `--env A=1,B=2` splits on commas, so values travel as
  `APPTAINERENV_<NAME>` variables set by `env` in front of the command instead;
- an image or program starting with '-' would be read as an option: refused.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Runtime = Literal["apptainer", "podman"]
RUNTIMES: tuple[str, ...] = ("apptainer", "podman")

ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
# Schemes Apptainer documents for `exec` besides plain paths (.sif, .sqsh, .img, dir/).
APPTAINER_SCHEMES = ("docker://", "oras://", "library://", "shub://", "instance://")


@dataclass(frozen=True)
class Bind:
    """A host path made visible inside the container (same path unless target is set)."""

    source: str
    target: str | None = None
    read_only: bool = False

    @classmethod
    def parse(cls, spec: str | Bind) -> Bind:
        """'src', 'src:dest', 'src:ro', 'src:dest:ro' or 'src:dest:rw' (Apptainer's syntax)."""
        if isinstance(spec, Bind):
            return spec
        parts = spec.split(":")
        opts = None
        if len(parts) > 1 and parts[-1] in ("ro", "rw"):
            opts = parts.pop()
        if len(parts) > 2 or not parts[0]:
            raise ValueError(
                f"bind {spec!r}: expected src, src:dest or src:dest:ro|rw "
                "(paths cannot contain ':')"
            )
        bind = cls(parts[0], parts[1] if len(parts) == 2 else None, opts == "ro")
        bind.check()
        return bind

    def check(self) -> None:
        for path in (self.source, self.target):
            if path is None:
                continue
            if not path.startswith("/"):
                raise ValueError(f"bind path {path!r} must be absolute")
            for bad, why in ((":", "separates src:dest:opts"), (",", "separates binds")):
                if bad in path:
                    raise ValueError(
                        f"bind path {path!r} contains {bad!r}, which Apptainer's --bind "
                        f"syntax reads as the character that {why}"
                    )
            if "\n" in path or "\0" in path:
                raise ValueError(f"bind path {path!r} contains a line break or NUL")

    def spec(self) -> str:
        target = self.target or self.source
        return f"{self.source}:{target}" + (":ro" if self.read_only else "")


def container_argv(
    runtime: Runtime,
    image: str,
    argv: Sequence[str],
    *,
    binds: Iterable[str | Bind] = (),
    env: Mapping[str, str] | None = None,
    pass_env: Iterable[str] = (),
    workdir: str | None = None,
    options: Sequence[str] = (),
    interactive: bool = True,
) -> list[str]:
    """argv that runs `argv` inside `image` with the given binds and environment.

    runtime: "apptainer" (production) or "podman" (tests).
    binds: paths or Bind specs ('src', 'src:dest', 'src:ro', 'src:dest:ro').
    env: variables set inside the container.
    pass_env: names whose current value is carried in, `PREFIX*` for all with a
        prefix; Apptainer carries the whole environment anyway and ignores this,
        podman carries only these.
    workdir: initial directory inside.
    options: extra runtime options placed before the image (a site's `--nv`, or
        podman's `--runtime crun`).
    interactive: podman keeps stdin open and forwards signals (kernels, servers);
        Apptainer always does.
    The container shares the host's network with both runtimes: kernels and servers
    are reached on the ports Jupyter picked on the host.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown container runtime {runtime!r}; use one of {RUNTIMES}")
    if not image or image.startswith("-") or any(c in image for c in "\n\0"):
        raise ValueError(f"container image {image!r} is empty or would be read as an option")
    if not argv:
        raise ValueError("nothing to run in the container: argv is empty")
    if argv[0].startswith("-"):
        raise ValueError(f"program {argv[0]!r} would be read as an option of the runtime")
    parsed = [Bind.parse(b) for b in binds]
    env = dict(env or {})
    names = list(pass_env)
    for name in env:
        if not ENV_NAME_RE.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid environment variable name")
    for name in names:
        # podman passes every variable with a prefix for NAME* (e.g. JUPYTERHUB_*)
        if not ENV_NAME_RE.fullmatch(name.removesuffix("*")):
            raise ValueError(f"{name!r} is not a valid environment variable name (or prefix*)")
    for name, value in env.items():
        if "\0" in value:
            raise ValueError(f"environment variable {name} contains NUL")
    if workdir is not None and not workdir.startswith("/"):
        raise ValueError(f"working directory {workdir!r} must be absolute")
    if runtime == "apptainer":
        return _apptainer(image, argv, parsed, env, workdir, options)
    return _podman(image, argv, parsed, env, names, workdir, options, interactive)


def _apptainer(
    image: str,
    argv: Sequence[str],
    binds: list[Bind],
    env: dict[str, str],
    workdir: str | None,
    options: Sequence[str],
) -> list[str]:
    if not image.startswith(("/", *APPTAINER_SCHEMES)):
        raise ValueError(
            f"Apptainer image {image!r}: use an absolute path (.sif, .sqsh, sandbox dir) "
            f"or one of {', '.join(APPTAINER_SCHEMES)}"
        )
    prefix: list[str] = []
    if env:
        # `env` sets APPTAINERENV_<NAME>: any value, commas included, reaches the container
        prefix = ["env", *(f"APPTAINERENV_{k}={v}" for k, v in env.items())]
    cmd = [*prefix, "apptainer", "exec"]
    for bind in binds:
        cmd += ["--bind", bind.spec()]
    if workdir:
        cmd += ["--pwd", workdir]
    return [*cmd, *options, image, *argv]


def _podman(
    image: str,
    argv: Sequence[str],
    binds: list[Bind],
    env: dict[str, str],
    pass_env: list[str],
    workdir: str | None,
    options: Sequence[str],
    interactive: bool,
) -> list[str]:
    cmd = ["podman", "run", "--rm", "--network=host"]
    if interactive:
        cmd.append("--interactive")
    for bind in binds:
        cmd += ["--volume", bind.spec()]
    for name in pass_env:
        cmd += ["--env", name]  # no '=': podman copies the value from its own environment
    for name, value in env.items():
        cmd += ["--env", f"{name}={value}"]
    if workdir:
        cmd += ["--workdir", workdir]
    return [*cmd, *options, image, *argv]


def container_command(*args: object, **kwargs: object) -> str:
    """container_argv(...) as one shell-quoted line (for batch scripts)."""
    return shlex.join(container_argv(*args, **kwargs))  # type: ignore[arg-type]
