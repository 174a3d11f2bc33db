#!/bin/bash
# Makes the base image docker.io/library/debian:bookworm-slim locally, from
# Debian packages, for machines that reach a Debian mirror but no image
# registry. Needs root, debootstrap and podman.
#
#   docker/base-image.sh [MIRROR]
#
# MIRROR defaults to $OTB_DEBIAN_MIRROR, else to the Debian mirror apt uses on
# this machine, else to http://deb.debian.org/debian.
set -euo pipefail

IMAGE=${OTB_BASE_IMAGE:-docker.io/library/debian:bookworm-slim}
SUITE=bookworm

# The first non-security Debian archive named in apt's sources (one-line and
# deb822 formats both).
base_image_apt_mirror() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [[ -r $f ]] || continue
        grep -hoE '^(deb|URIs:)[[:space:]]+(\[[^]]*\][[:space:]]+)?[a-z]+://[^[:space:]]+' "$f" |
            grep -oE '[a-z]+://[^[:space:]]+' || true
    done | grep -E '/debian/?$' | grep -v security | head -n 1
}

BASE_ROOT=""

base_image_main() {
    local mirror root
    mirror=${1:-${OTB_DEBIAN_MIRROR:-}}
    [[ -n $mirror ]] || mirror=$(base_image_apt_mirror)
    mirror=${mirror:-http://deb.debian.org/debian}
    root=$(mktemp -d /tmp/otb-base-image.XXXXXX)
    BASE_ROOT=$root
    # The tree is only needed until podman has its own copy.
    trap 'rm -rf "$BASE_ROOT"' EXIT
    echo "base-image: debootstrap $SUITE from $mirror" >&2
    debootstrap --variant=minbase "$SUITE" "$root" "$mirror" >"$root.log" 2>&1 ||
        { tail -n 20 "$root.log" >&2; rm -f "$root.log"; return 1; }
    rm -f "$root.log"
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
    tar -C "$root" -c . | podman import --change 'CMD ["/bin/bash"]' - "$IMAGE" >/dev/null
    echo "base-image: $IMAGE imported" >&2
}

base_image_main "$@"
