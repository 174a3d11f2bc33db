# Debian packages the build, the tests and the demo need; sourced by
# test/run-tests.sh and test/demo.sh.
OTB_PACKAGES=(
    build-essential cmake pkg-config clang libclang-rt-14-dev
    libev-dev libsodium-dev libssl-dev libc-ares-dev libcork-dev libcorkipset-dev
    libpcre2-dev libjson-c-dev libcmocka-dev libmicrohttpd-dev
    shadowsocks-libev b3sum python3-nacl iperf3 dnsmasq socat curl bind9-dnsutils python3 procps
    iproute2 nftables iptables mptcpd mptcpize kmod openssl
    podman buildah debootstrap uidmap fuse-overlayfs slirp4netns containernetworking-plugins
    groff man-db systemd prometheus chromium
)

# Installs what is missing (one apt-get update at most).
otb_install_packages() {
    local missing=() p
    for p in "${OTB_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
}
