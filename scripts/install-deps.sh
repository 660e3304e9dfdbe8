#!/usr/bin/env bash
# Installs everything husk needs to build and test on a fresh Debian 12, from Debian's apt
# only. Safe to run again: apt-get skips what is installed.
set -euo pipefail

build_deps=(
  g++ meson ninja-build pkg-config
  libseccomp-dev libcap-dev nlohmann-json3-dev libcli11-dev doctest-dev libyaml-cpp-dev libbpf-dev libnl-3-dev libnl-route-3-dev
  # The shim: protoc and libprotobuf, and the containerd/cgroups/gogo .proto files it is generated from.
  protobuf-compiler libprotobuf-dev golang-github-containerd-containerd-dev golang-github-containerd-cgroups-dev
  golang-github-gogo-protobuf-dev zlib1g-dev
  # image/: libarchive (tar, gzip, zstd) and libcrypto (sha256), both linked statically.
  libarchive-dev libssl-dev libzstd-dev
)
# Test and demo dependencies: the busybox rootfs, the bats suite, reference runtimes, containerd
# (the shim's integration tests and bench/shim.sh), umoci, zstd and attr (the image tests: unpack compared with umoci, zstd layers, xattrs).
# QEMU and the guest image builder's tools (cpio, xz, strip): VM sandboxes (bats/sandbox_vm.bats)
# and the cgroup v2 guest of tests/vm.
test_deps=(busybox-static bats jq runc iproute2 util-linux procps containerd bc umoci zstd attr
  qemu-system-x86 cpio xz-utils binutils)

export DEBIAN_FRONTEND=noninteractive
missing=()
for p in "${build_deps[@]}" "${test_deps[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
