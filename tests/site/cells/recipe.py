# Cell run in each inventory kernel on the demo: what its recipe made of the environment.
import json
import os
import pwd
import sys

seen = {
    "executable": sys.executable,
    "user": pwd.getpwuid(os.getuid()).pw_name,
    "path": os.environ.get("PATH", "").split(":"),
    "pythonpath": os.environ.get("PYTHONPATH"),
    "env": dict(os.environ),
}
try:
    import demo_stack

    seen["demo_stack"] = demo_stack.RELEASE
except ImportError as exc:
    seen["demo_stack"] = f"ImportError: {exc}"
print(json.dumps(seen))
