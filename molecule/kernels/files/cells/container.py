# Cell run in a containerized kernel: which OS, Python and user it runs as, what it sees.
import json
import os
import platform

with open("/etc/os-release", encoding="utf-8") as handle:
    release = dict(line.rstrip("\n").split("=", 1) for line in handle if "=" in line)
print(
    json.dumps(
        {
            "pretty_name": release.get("PRETTY_NAME", "").strip('"'),
            "version_codename": release.get("VERSION_CODENAME"),
            "python": platform.python_version(),
            "uid": os.getuid(),
            "in_podman": os.path.exists("/run/.containerenv"),
            "home_visible": os.access(os.path.expanduser("~"), os.R_OK | os.X_OK),
            "env": dict(os.environ),
            "mark": os.environ.get("KERNEL_RECIPE_MARK"),
            "cvmfs_bound": os.path.isfile("/cvmfs/sw.example.org/stack/setup.sh"),
        }
    )
)
