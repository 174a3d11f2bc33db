#!/usr/bin/env bash
# The server image (docker/): builds docker/Dockerfile with podman (making the
# local base image first when it is missing), then runs otb-server from the
# image with buildah (chroot isolation, host network), configured once by a
# mounted /etc/otb/server.json and once by OTB_* variables plus a secret file.
# Each time: it runs as a non-root user, a shadowsocks-libev client downloads
# a file byte-exact through it, the image's own HEALTHCHECK command passes
# while it runs and fails once it has stopped, and SIGTERM ends it with
# status 0. Slow (the first run builds everything): ctest label "image".
set -euo pipefail
# shellcheck source=test/interop/ops_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../interop/ops_lib.sh"

IMAGE=${OTB_TEST_IMAGE:-localhost/otb-server:test}
BASE_IMAGE=docker.io/library/debian:bookworm-slim
CTR=""
HEALTH_CMD=()
T0=$SECONDS

cleanup() {
    [[ -n $CTR ]] && buildah rm "$CTR" >/dev/null 2>&1
    ops_cleanup
}

image_step() { ops_say "$* (t+$((SECONDS - T0))s)"; }

image_base() {
    if podman image exists "$BASE_IMAGE"; then
        image_step "base image $BASE_IMAGE present"
        return
    fi
    image_step "making the base image with debootstrap"
    bash "$(ops_src)/docker/base-image.sh" >"$OPS_DIR/base-image.log" 2>&1 ||
        ops_fail "docker/base-image.sh failed"
}

# Build under one fixed tag so that the layer cache serves the next run; the
# image this build replaces is removed (only when nothing else names it).
image_build() {
    local old new
    old=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
    image_step "podman build $IMAGE"
    podman build --isolation chroot --format docker -f "$(ops_src)/docker/Dockerfile" \
        -t "$IMAGE" "$(ops_src)" >"$OPS_DIR/build.log" 2>&1 || ops_fail "podman build failed"
    new=$(podman image inspect --format '{{.Id}}' "$IMAGE")
    if [[ -n $old && $old != "$new" ]]; then
        podman rmi "$old" >/dev/null 2>&1 || true
    fi
    image_step "built $new"
}

# What the image declares: non-root user, TCP and UDP ports, a healthcheck.
image_inspect() {
    local lines
    podman image inspect "$IMAGE" >"$OPS_DIR/inspect.json"
    lines=$(python3 - "$OPS_DIR/inspect.json" <<'EOF'
import json, sys
img = json.load(open(sys.argv[1]))[0]
cfg = img["Config"]
user = cfg.get("User", "")
if user in ("", "root", "0") or user.startswith("0:"):
    sys.exit("image runs as root")
ports = cfg.get("ExposedPorts") or {}
if not any(p.endswith("/tcp") for p in ports) or not any(p.endswith("/udp") for p in ports):
    sys.exit("EXPOSE lacks tcp or udp: %s" % sorted(ports))
# podman reports the Docker-format healthcheck beside Config, not in it.
test = (img.get("Healthcheck") or cfg.get("Healthcheck") or {}).get("Test") or []
if len(test) < 2 or test[0] != "CMD":
    sys.exit("no exec-form HEALTHCHECK: %s" % test)
print("\n".join(test[1:]))
EOF
    ) || ops_fail "image configuration is wrong"
    mapfile -t HEALTH_CMD <<<"$lines"
}

# image_health EXPECT RUN-ARGS...: run the image's HEALTHCHECK command.
image_health() {
    local expect=$1 rc=0
    shift
    buildah run --isolation chroot --network host "$@" "$CTR" -- "${HEALTH_CMD[@]}" \
        >>"$OPS_DIR/health.log" 2>&1 || rc=$?
    if [[ $expect == pass && $rc -ne 0 ]]; then
        ops_fail "healthcheck failed while the server runs"
    elif [[ $expect == fail && $rc -eq 0 ]]; then
        ops_fail "healthcheck passed with no server running"
    fi
}

# image_serve NAME PORT METHOD PASSWORD RUN-ARGS...: one full round.
image_serve() {
    local name=$1 port=$2 method=$3 password=$4 run_pid server_pid uid
    shift 4
    ops_bg "$name" buildah run --isolation chroot --network host "$@" "$CTR" -- \
        /usr/local/bin/otb-entrypoint
    run_pid=$OPS_PID
    ops_wait_listen "$port" 30 "$run_pid"
    server_pid=$(ops_listen_pid "$port")
    [[ -n $server_pid ]] || ops_fail "$name: no pid listens on $port"
    ops_track "$server_pid"
    [[ $(cat "/proc/$server_pid/comm") == otb-server ]] || ops_fail "$name: port $port is not otb-server's"
    uid=$(awk '/^Uid:/ { print $3 }' "/proc/$server_pid/status")
    [[ $uid != 0 ]] || ops_fail "$name: otb-server runs as root in the image"

    ops_ss_fetch "$port" "$method" "$password"
    image_health pass "$@"
    kill -TERM "$server_pid"
    ops_wait_exit "$run_pid" 30
    # shellcheck disable=SC2153 # set by ops_wait_exit
    [[ $OPS_STATUS -eq 0 ]] || ops_fail "$name: exit status $OPS_STATUS after SIGTERM (want 0)"
    image_health fail "$@"
    image_step "$name: download, healthcheck, SIGTERM: ok"
}

# Round 1: everything from the JSON file mounted at /etc/otb/server.json; the
# healthcheck has to find the port in that file.
image_round_json() {
    local etc=$OPS_DIR/etc port password="img-json-$$"
    port=$(ops_free_port)
    mkdir -m 0755 "$etc"
    ops_loopback_acl "$etc/loopback.acl"
    cat >"$etc/server.json" <<EOF
{
    "server": "127.0.0.1",
    "server_port": $port,
    "password": "$password",
    "method": "aes-256-gcm",
    "acl": "/etc/otb/loopback.acl",
    "timeout": 30
}
EOF
    chmod 0644 "$etc"/*
    image_serve json "$port" aes-256-gcm "$password" -v "$etc:/etc/otb:ro"
}

# Round 2: no config file; OTB_* variables and the password as a secret file
# at its default place.
image_round_env() {
    local acl=$OPS_DIR/acl secrets=$OPS_DIR/secrets port password="img-env-$$"
    port=$(ops_free_port)
    mkdir -m 0755 "$acl" "$secrets"
    ops_loopback_acl "$acl/loopback.acl"
    printf '%s\n' "$password" >"$secrets/otb_password"
    chmod 0644 "$acl"/* "$secrets"/*
    image_serve env "$port" xchacha20-ietf-poly1305 "$password" \
        -v "$acl:/etc/otb:ro" -v "$secrets:/run/secrets:ro" \
        -e OTB_SERVER_ADDR=127.0.0.1 -e OTB_SERVER_PORT="$port" \
        -e OTB_METHOD=xchacha20-ietf-poly1305 -e OTB_ACL=/etc/otb/loopback.acl -e OTB_TIMEOUT=30
}

main() {
    ops_init image
    trap cleanup EXIT
    ops_require_root
    ops_require podman buildah debootstrap ss-local curl python3 ss sha256sum
    image_base
    image_build
    image_inspect
    CTR=$(buildah from --name "otb-image-test-$$" "$IMAGE") || ops_fail "buildah from failed"
    ops_http_start
    image_round_json
    image_round_env
    image_step "PASS"
}

main "$@"
