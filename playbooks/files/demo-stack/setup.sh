# Demo software stack: stands in for an experiment's CVMFS setup script (the demo has no
# CVMFS). Sourced by the demo-stack kernel's launcher before the kernel starts.
DEMO_STACK_ROOT=/opt/sitehub/software/demo-stack
export DEMO_STACK_ROOT
export PATH="$DEMO_STACK_ROOT/bin:$PATH"
export PYTHONPATH="$DEMO_STACK_ROOT/python${PYTHONPATH:+:$PYTHONPATH}"
