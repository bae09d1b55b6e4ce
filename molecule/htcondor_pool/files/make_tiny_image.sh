#!/bin/bash
# A small image directory: dash, id, cat and their libraries, and a marker file; then a SIF.
set -euo pipefail
dir=$1 sif=$2
rm -rf "$dir"
mkdir -p "$dir/bin" "$dir/etc"
for bin in /usr/bin/dash /usr/bin/id /usr/bin/cat /usr/bin/hostname; do
  cp "$bin" "$dir/bin/"
  for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
    mkdir -p "$dir$(dirname "$lib")"
    cp -L "$lib" "$dir$lib"
  done
done
ln -s dash "$dir/bin/sh"
echo sitehub-tiny-image > "$dir/etc/sitehub-image"
apptainer build --force "$sif" "$dir"
