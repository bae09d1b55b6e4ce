# Cell run in a kernel: what the kernel's recipe made of its environment.
import json
import os
import pwd
import subprocess
import sys

seen = {
    "executable": sys.executable,
    "user": pwd.getpwuid(os.getuid()).pw_name,
    "path": os.environ.get("PATH", "").split(":"),
    "pythonpath": os.environ.get("PYTHONPATH"),
    "pythonstartup": os.environ.get("PYTHONSTARTUP"),
    "vars": {k: os.environ.get(k) for k in ("STACK_RELEASE", "STACK_ROOT", "STACK_SITE")},
}
try:
    import stackmod

    seen["stackmod"] = stackmod.RELEASE
except ImportError as exc:
    seen["stackmod"] = f"ImportError: {exc}"
try:
    seen["stack_version"] = subprocess.run(
        ["stack-version"], capture_output=True, text=True, check=True
    ).stdout.strip()
except OSError as exc:
    seen["stack_version"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(seen))
