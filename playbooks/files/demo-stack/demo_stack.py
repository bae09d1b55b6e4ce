"""The demo stack's Python module: import demo_stack in the demo-stack kernel."""

import os

RELEASE = os.environ.get("DEMO_STACK_RELEASE", "unknown")
