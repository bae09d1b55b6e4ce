#!/bin/bash
# Fetch the Keycloak distribution archive from Maven Central once, into a cache
# outside the repository (offline sites and tests then use keycloak_archive_src).
#   fetch-archive.sh [VERSION] [DEST_DIR]
# VERSION defaults to keycloak_version in roles/keycloak/defaults/main.yml, DEST_DIR
# to $SITEHUB_CACHE/keycloak. Prints the archive's path. Needs mvn (Debian: maven).
set -euo pipefail

role_dir=$(cd "$(dirname "$0")/.." && pwd)
defaults="$role_dir/defaults/main.yml"
default_version=$(sed -n 's/^keycloak_version: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$defaults")
version=${1:-$default_version}
dest=${2:-${SITEHUB_CACHE:-/var/cache/sitehub}/keycloak}
archive="$dest/keycloak-quarkus-dist-$version.tar.gz"

if [ ! -s "$archive" ]; then
    command -v mvn >/dev/null || { echo "fetch-archive.sh: mvn not found (apt-get install maven)" >&2; exit 1; }
    mkdir -p "$dest"
    # Maven checks the artifact against Central's published SHA-1 while downloading.
    mvn -q -B dependency:copy \
        "-Dartifact=org.keycloak:keycloak-quarkus-dist:$version:tar.gz" \
        "-DoutputDirectory=$dest" >&2
fi

# The role pins a SHA-256 for its default version: check it here too, so a bad
# cache entry fails now rather than at deploy time.
if [ "$version" = "$default_version" ]; then
    want=$(sed -n 's/^keycloak_archive_checksum: *"sha256:\([0-9a-fA-F]*\)".*/\1/p' "$defaults")
    got=$(sha256sum "$archive" | cut -d' ' -f1)
    if [ -n "$want" ] && [ "$want" != "$got" ]; then
        echo "fetch-archive.sh: $archive has sha256 $got, expected $want" >&2
        exit 1
    fi
fi
echo "$archive"
