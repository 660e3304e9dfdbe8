#!/usr/bin/env bash
# make-rootfs.sh DIR: a minimal busybox root file system from Debian's busybox-static.
set -euo pipefail
dir=$1
mkdir -p "$dir"/{bin,etc,proc,sys,dev,tmp,root}
cp /bin/busybox "$dir/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$dir/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$dir/etc/group"
chmod 1777 "$dir/tmp"
