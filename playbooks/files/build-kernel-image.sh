#!/bin/bash
# Builds the root filesystem tarball of the test kernel image on the controller:
# Debian 13 (trixie) with its own Python, ipykernel and Jupyter server, so that a
# containerized kernel or server is told apart from the Debian 12 test host by
# /etc/os-release and its Python version. Cached: runs once per machine.
# debootstrap --include cannot configure python3-zmq's dependency tree, so the
# Python packages are installed with apt in a container of the minimal system.
# usage: build-kernel-image.sh TARBALL MIRROR   (podman must work: CONTAINERS_CONF)
set -euo pipefail
tarball=$1
mirror=$2
[ -s "$tarball" ] && exit 0
mkdir -p "$(dirname "$tarball")"
work=$(mktemp -d "$(dirname "$tarball")/kernel-image.XXXXXX")
tag=localhost/sitehub-kernel-build:$(basename "$work" | tr 'A-Z.' 'a-z-')
name=sitehub-kernel-build-$$
cleanup() {
  podman rm -f "$name" >/dev/null 2>&1 || true
  podman rmi -f "$tag" >/dev/null 2>&1 || true
  # an interrupted debootstrap leaves /proc and /sys mounted in the target
  umount -l "$work/rootfs/proc" "$work/rootfs/sys" 2>/dev/null || true
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
debootstrap --variant=minbase trixie "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log" "$work/rootfs/debootstrap/debootstrap.log" >&2; exit 1; }
tar -C "$work/rootfs" -c . | podman import - "$tag" >/dev/null
rm -rf "$work/rootfs"
podman run --name "$name" --network=host "$tag" sh -ec '
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -q -y --no-install-recommends python3-ipykernel python3-jupyter-server
  apt-get clean
  rm -rf /var/lib/apt/lists/*' >"$work/apt.log" 2>&1 \
  || { tail -30 "$work/apt.log" >&2; exit 1; }
podman export -o "$work/image.tar" "$name"
mv "$work/image.tar" "$tarball"
