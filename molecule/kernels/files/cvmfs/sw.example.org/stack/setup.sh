# shellcheck shell=bash
# Test fixture standing in for an experiment's CVMFS setup script (ATLAS's
# atlasLocalSetup.sh, Belle II's b2setup): sourced with a release, it sets
# variables and extends PATH and PYTHONPATH, or fails with its own message.
__stack_base=/cvmfs/sw.example.org/stack
__stack_release=""
while [ $# -gt 0 ]; do
  case $1 in
    --release) __stack_release=$2; shift 2 ;;
    *) echo "stack setup: unknown option '$1'" >&2; return 2 ;;
  esac
done
if [ ! -d "$__stack_base/releases/$__stack_release" ]; then
  echo "stack setup: release '$__stack_release' is not installed in $__stack_base/releases" >&2
  return 3
fi
export STACK_RELEASE=$__stack_release
export STACK_ROOT=$__stack_base/releases/$__stack_release
export PATH=$STACK_ROOT/bin:$PATH
export PYTHONPATH=$STACK_ROOT/python${PYTHONPATH:+:$PYTHONPATH}
unset __stack_base __stack_release
