"""container_argv against the runtimes' documented command lines.

Apptainer is not packaged where sitehub is tested, so its command line is checked
against what its manual documents for `apptainer exec`:
  apptainer exec [exec options...] <container> <command>
  -B, --bind   src[:dest[:opts]], opts 'ro' or 'rw'; several binds may be joined by ','
  --pwd        initial working directory inside the container
  APPTAINERENV_<NAME>=value in the environment sets <NAME> inside the container
and the parser below reads an argv the way those rules say. podman runs for real in
the kernels molecule scenario.
"""

import subprocess

import pytest

from sitehub.render.container import Bind, container_argv, container_command

HOSTILE = 'it\'s "q" $(touch pwned) `x` a,b c:d Ümlaut ✓'
# options of `apptainer exec` that take a value (from its manual), the rest are flags
APPTAINER_VALUE_OPTIONS = {"-B", "--bind", "--pwd", "--env", "--env-file", "-H", "--home"}


def parse_apptainer(argv):
    """Split an argv by Apptainer's documented grammar: env, binds, pwd, flags, image, command."""
    env = {}
    i = 0
    if argv[0] == "env":
        i = 1
        while "=" in argv[i] and not argv[i].startswith("-"):
            name, value = argv[i].split("=", 1)
            env[name] = value
            i += 1
    assert argv[i : i + 2] == ["apptainer", "exec"], argv
    i += 2
    binds, pwd, flags = [], None, []
    while argv[i].startswith("-"):
        opt = argv[i]
        if opt in APPTAINER_VALUE_OPTIONS:
            value = argv[i + 1]
            i += 2
            if opt in ("-B", "--bind"):
                # commas separate binds; each is src[:dest[:opts]]
                for spec in value.split(","):
                    parts = spec.split(":")
                    opts = parts.pop() if len(parts) > 1 and parts[-1] in ("ro", "rw") else "rw"
                    binds.append((parts[0], parts[1] if len(parts) > 1 else parts[0], opts))
            elif opt == "--pwd":
                pwd = value
        else:
            flags.append(opt)
            i += 1
    inside = {k.removeprefix("APPTAINERENV_"): v for k, v in env.items()}
    return {
        "env": inside,
        "binds": binds,
        "pwd": pwd,
        "flags": flags,
        "image": argv[i],
        "command": argv[i + 1 :],
    }


def test_apptainer_exec_reads_back_what_was_asked():
    argv = container_argv(
        "apptainer",
        "/cvmfs/unpacked.cern.ch/atlas/el9.sif",
        ["python3", "-m", "ipykernel_launcher", "-f", "/run/user/1/k.json", "--", HOSTILE],
        binds=["/cvmfs", "/data:/mnt/data:ro", Bind("/scratch", "/work")],
        env={"STACK": HOSTILE, "EMPTY": ""},
        workdir="/home/alice",
        options=["--nv", "--cleanenv"],
    )
    seen = parse_apptainer(argv)
    assert seen["image"] == "/cvmfs/unpacked.cern.ch/atlas/el9.sif"
    # everything after the image is the command, options-looking words included
    assert seen["command"] == [
        "python3", "-m", "ipykernel_launcher", "-f", "/run/user/1/k.json", "--", HOSTILE,
    ]  # fmt: skip
    assert seen["binds"] == [
        ("/cvmfs", "/cvmfs", "rw"),
        ("/data", "/mnt/data", "ro"),
        ("/scratch", "/work", "rw"),
    ]
    # commas in values survive: APPTAINERENV_, not --env (which splits on ',')
    assert seen["env"] == {"STACK": HOSTILE, "EMPTY": ""}
    assert "--env" not in argv
    assert seen["pwd"] == "/home/alice"
    assert seen["flags"] == ["--nv", "--cleanenv"]


def test_apptainer_without_env_starts_with_apptainer():
    argv = container_argv("apptainer", "docker://debian:12", ["cat", "/etc/os-release"])
    assert argv == ["apptainer", "exec", "docker://debian:12", "cat", "/etc/os-release"]


@pytest.mark.parametrize("image", ["relative.sif", "debian:12", "http://x/y.sif"])
def test_apptainer_refuses_images_it_cannot_name(image):
    with pytest.raises(ValueError, match="absolute path"):
        container_argv("apptainer", image, ["true"])


@pytest.mark.parametrize(
    "spec,match",
    [
        ("/data,/etc", "separates binds"),
        ("/a:/b:/c", "cannot contain ':'"),
        ("relative", "must be absolute"),
        ("/a:relative", "must be absolute"),
        ("", "expected src"),
        ("/a\n/b", "line break"),
    ],
)
def test_bind_paths_the_syntax_cannot_carry_are_refused(spec, match):
    with pytest.raises(ValueError, match=match):
        container_argv("apptainer", "/i.sif", ["true"], binds=[spec])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"image": "--privileged"}, "read as an option"),
        ({"image": ""}, "empty"),
        ({"argv": []}, "argv is empty"),
        ({"argv": ["--rm"]}, "read as an option"),
        ({"env": {"A-B": "1"}}, "not a valid environment variable"),
        ({"pass_env": ["$(x)"]}, "not a valid environment variable"),
        ({"workdir": "home"}, "must be absolute"),
    ],
)
def test_hostile_arguments_are_refused(kwargs, match):
    args = {"image": "/i.sif", "argv": ["true"]} | kwargs
    with pytest.raises(ValueError, match=match):
        container_argv("podman", args.pop("image"), args.pop("argv"), **args)


def test_unknown_runtime_is_refused():
    with pytest.raises(ValueError, match="unknown container runtime 'docker'"):
        container_argv("docker", "/i.sif", ["true"])


def test_podman_run_shares_the_network_binds_and_passes_env():
    argv = container_argv(
        "podman",
        "localhost/kernel:bullseye",
        ["python3", "-c", HOSTILE],
        binds=["/data:ro"],
        env={"STACK": HOSTILE},
        pass_env=["HOME"],
        workdir="/tmp",
        options=["--runtime", "crun", "--cgroups=disabled"],
    )
    image_at = argv.index("localhost/kernel:bullseye")
    assert argv[:2] == ["podman", "run"]
    head = argv[:image_at]
    assert {"--rm", "--network=host", "--interactive"} <= set(head)
    assert head[head.index("--volume") + 1] == "/data:/data:ro"
    # podman's --env takes one NAME=value per option: commas and quotes stay intact
    assert head[head.index(f"STACK={HOSTILE}") - 1] == "--env"
    assert head[head.index("HOME") - 1 :][:2] == ["--env", "HOME"]
    assert head[-3:] == ["--runtime", "crun", "--cgroups=disabled"]
    assert argv[image_at + 1 :] == ["python3", "-c", HOSTILE]


def test_container_command_is_one_safely_quoted_line(tmp_path):
    argv = container_argv("podman", "localhost/x", ["echo", HOSTILE], env={"V": HOSTILE})
    line = container_command("podman", "localhost/x", ["echo", HOSTILE], env={"V": HOSTILE})
    # bash runs the line with `podman` printing its arguments: nothing is expanded
    out = subprocess.run(
        ["bash", "-c", 'podman() { printf "%s\\0" "$@"; }; ' + line],
        capture_output=True,
        cwd=tmp_path,
        check=True,
    )
    assert out.stdout.decode().split("\0")[:-1] == argv[1:]
    assert not (tmp_path / "pwned").exists()


def test_podman_passes_variables_by_prefix_for_the_hub_environment():
    argv = container_argv(
        "podman", "localhost/x", ["jupyterhub-singleuser"], pass_env=["JUPYTERHUB_*"]
    )
    assert argv[argv.index("JUPYTERHUB_*") - 1] == "--env"
    with pytest.raises(ValueError, match="prefix"):
        container_argv("podman", "localhost/x", ["true"], pass_env=["*"])
    # Apptainer carries the environment itself: nothing to add
    assert container_argv("apptainer", "/i.sif", ["true"], pass_env=["JUPYTERHUB_*"]) == [
        "apptainer",
        "exec",
        "/i.sif",
        "true",
    ]
