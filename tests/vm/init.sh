#!/bin/busybox sh
# PID 1 of the tests/vm guest, run by busybox's sh from the initramfs that tests/vm/run.sh
# builds (busybox, this file as /init, stage2.sh, the kernel modules and their load order).
#
# It loads the virtio/9p modules, mounts proc, sysfs, devtmpfs and a pure cgroup v2 hierarchy
# with every controller enabled for the children of the root, and then, by the mode on the
# kernel command line (husk_vm.mode=):
#   probe  prints the probe marker and powers off (run.sh's bounded KVM probe);
#   run    builds the test root and switch_roots into stage2.sh, which runs the bats files.
# The test root is a tmpfs (so every path is writable) holding read-only bind mounts of the
# host's /usr, /etc, /var and /opt from the 9p share "hostroot" (and the host's /bin, /lib...
# symlinks as they are), the repository from the share "repo" at its host path (and the build
# directory, "build", when it is outside the repository), and the writable share "out" at
# /run/husk-vm/out, through which the results go back.
#
# Markers on the console (run.sh waits for them): "HUSK-VM: init" first thing, "HUSK-VM:
# probe ok", and "HUSK-VM: fatal ..." before powering off when something here failed.

/bin/busybox mkdir -p /proc /sys /dev /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
read -r up _ </proc/uptime
echo "HUSK-VM: init up=$up"

fatal() {
	echo "HUSK-VM: fatal: $*"
	sync
	poweroff -f
	sleep 2
	reboot -f
}

mode=run
for word in $(cat /proc/cmdline); do
	case "$word" in
	husk_vm.mode=*) mode=${word#husk_vm.mode=} ;;
	esac
done

while read -r mod; do
	[ -n "$mod" ] || continue
	insmod "/modules/$mod.ko" || echo "HUSK-VM: insmod $mod failed"
done </modules/order

if [ "$mode" = probe ]; then
	read -r up _ </proc/uptime
	echo "HUSK-VM: probe ok up=$up"
	poweroff -f
	sleep 2
	reboot -f
fi

# ---------------------------------------------------------------------------------------------
# The test root.

opts9p=trans=virtio,version=9p2000.L,msize=262144
new=/newroot
mkdir -p $new /host
mount -t tmpfs -o mode=0755 husk-vm-root $new || fatal "tmpfs root"
mount -t 9p -o "$opts9p,ro,cache=loose" hostroot /host || fatal "mount 9p hostroot"

# The host's top level: symlinks as they are (merged /usr: bin -> usr/bin...), the system
# directories bound read-only. Nothing else of the host (its /tmp, /run, /root, /home, work
# trees) is visible: the repository comes from its own share.
for path in /host/* /host/.[!.]*; do
	name=${path#/host/}
	[ -e "$path" ] || [ -L "$path" ] || continue
	if [ -L "$path" ]; then
		ln -s "$(readlink "$path")" "$new/$name"
		continue
	fi
	case "$name" in
	usr | etc | var | opt | bin | sbin | lib | lib32 | lib64 | libx32)
		[ -d "$path" ] || continue
		mkdir -p "$new/$name"
		mount --bind "$path" "$new/$name" || fatal "bind $name"
		;;
	esac
done
umount -l /host

mkdir -p $new/proc $new/sys $new/dev $new/run $new/tmp $new/root $new/var/tmp 2>/dev/null
chmod 1777 $new/tmp
chmod 0700 $new/root
# /var is the host's, read-only: give the places tools write to a tmpfs of their own.
[ -d $new/var/tmp ] && mount -t tmpfs -o mode=1777 husk-vm-vartmp $new/var/tmp

mkdir -p $new/run/husk-vm/out $new/run/husk-vm/bin $new/run/lock
mount -t 9p -o "$opts9p,cache=none" out $new/run/husk-vm/out || fatal "mount 9p out"
read -r repo <$new/run/husk-vm/out/repo || fatal "no repo path in the out share"
mkdir -p "$new$repo"
mount -t 9p -o "$opts9p,ro,cache=loose" repo "$new$repo" || fatal "mount 9p repo"
if [ -s $new/run/husk-vm/out/build ]; then
	read -r build <$new/run/husk-vm/out/build
	mkdir -p "$new$build"
	mount -t 9p -o "$opts9p,ro,cache=loose" build "$new$build" || fatal "mount 9p build"
fi

mount --move /dev $new/dev || fatal "move /dev"
mount --move /proc $new/proc || fatal "move /proc"
mount --move /sys $new/sys || fatal "move /sys"
mkdir -p $new/dev/pts $new/dev/shm $new/dev/mqueue
mount -t devpts -o newinstance,gid=5,mode=0620,ptmxmode=0666 devpts $new/dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev shm $new/dev/shm
mount -t mqueue mqueue $new/dev/mqueue
ln -sf /proc/self/fd $new/dev/fd
ln -sf /proc/self/fd/0 $new/dev/stdin
ln -sf /proc/self/fd/1 $new/dev/stdout
ln -sf /proc/self/fd/2 $new/dev/stderr
[ -e $new/dev/ptmx ] || ln -sf pts/ptmx $new/dev/ptmx

# Pure cgroup v2: no v1 hierarchy is mounted (and the kernel runs with cgroup_no_v1=all).
mount -t cgroup2 -o nsdelegate cgroup2 $new/sys/fs/cgroup || fatal "mount cgroup2"
for c in $(cat $new/sys/fs/cgroup/cgroup.controllers); do
	echo "+$c" >$new/sys/fs/cgroup/cgroup.subtree_control ||
		echo "HUSK-VM: could not enable the $c controller"
done
mount -t bpf bpf $new/sys/fs/bpf 2>/dev/null
mount -t debugfs debugfs $new/sys/kernel/debug 2>/dev/null

cp /stage2.sh $new/run/husk-vm/stage2.sh
cp /bin/busybox $new/run/husk-vm/bin/busybox
[ -x $new/bin/bash ] || fatal "no bash on the host root"
exec switch_root $new /bin/bash /run/husk-vm/stage2.sh
fatal "switch_root failed"
