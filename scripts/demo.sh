#!/usr/bin/env bash
# The README's first command: install, build, and run the demo bundle (demo/config.json
# with a busybox rootfs made here) in a container with its own pid, mount, uts, ipc and
# network namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh >/dev/null
bundle=build/demo-bundle
rm -rf "$bundle"
mkdir -p "$bundle"
bash scripts/make-rootfs.sh "$bundle/rootfs"
cp demo/config.json "$bundle/config.json"
id="husk-demo-$$"
echo "host namespaces for comparison: $(for ns in pid mnt uts ipc net; do printf '%s ' "$(readlink /proc/self/ns/$ns)"; done)"
exec build/runtime/cli/husk run --bundle "$bundle" "$id" </dev/null
