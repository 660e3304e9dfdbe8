#!/usr/bin/env bats
# Choosing the micro-VM sandbox (--sandbox, the io.husk.sandbox annotation, husk.yaml's
# sandbox.mode) and what husk says when a VM cannot be made: a clear error, a non-zero exit,
# and nothing left behind. husk's own feature: these tests skip against runc.

load helpers

setup() {
	[ -z "${IS_RUNC:-}" ] || skip "VM sandboxes are husk's own"
	setup_bundle
	set_args echo hello
	# An image directory with no image in it, so no test here boots a guest.
	IMAGE_DIR="$TEST_DIR/no-image"
	mkdir -p "$IMAGE_DIR"
	export HUSK_CONFIG="$TEST_DIR/husk.yaml"
	printf 'sandbox:\n  image_dir: %s\n' "$IMAGE_DIR" >"$HUSK_CONFIG"
}

teardown() {
	unset HUSK_CONFIG
	teardown_bundle
}

set_annotation() {
	update_config ".annotations[\"io.husk.sandbox\"] = \"$1\""
}

@test "sandbox: --sandbox vm without a guest image is a clear error and leaves nothing" {
	runtime_detached --sandbox vm create --bundle "$BUNDLE" "$CID"
	assert_failure
	assert_output_contains "guest image is missing"
	assert_output_contains "$IMAGE_DIR/vmlinux"
	assert_output_contains "husk.yaml"
	assert_root_empty
	check_no_leftovers "$CID"
	run runtime --sandbox vm run --bundle "$BUNDLE" "$CID"
	assert_failure
	assert_output_contains "guest image is missing"
	assert_root_empty
}

@test "sandbox: the io.husk.sandbox annotation asks for a VM; --sandbox none does not override it" {
	set_annotation vm
	run runtime --sandbox none run --bundle "$BUNDLE" "$CID"
	assert_failure
	assert_output_contains "guest image is missing"
	assert_root_empty
}

@test "sandbox: io.husk.sandbox=none runs the container in place even when husk.yaml says vm" {
	printf 'sandbox:\n  mode: vm\n  image_dir: %s\n' "$IMAGE_DIR" >"$HUSK_CONFIG"
	# husk.yaml's mode applies when nothing else says.
	run runtime run --bundle "$BUNDLE" "$CID"
	assert_failure
	assert_output_contains "guest image is missing"
	set_annotation none
	run runtime run --bundle "$BUNDLE" "$CID"
	assert_success
	assert_output_equals hello
	assert_root_empty
}

@test "sandbox: an unknown io.husk.sandbox value or --sandbox value is refused" {
	set_annotation maybe
	run runtime run --bundle "$BUNDLE" "$CID"
	assert_failure
	# (the log line escapes the quotes)
	assert_output_contains 'io.husk.sandbox=\"maybe\"'
	assert_root_empty
	run runtime --sandbox maybe list
	assert_failure
	assert_output_contains "--sandbox"
}

@test "sandbox: a malformed husk.yaml is an error naming the file and the key" {
	printf 'sandbox:\n  mode: vm\n  colour: red\n' >"$HUSK_CONFIG"
	run runtime run --bundle "$BUNDLE" "$CID"
	assert_failure
	assert_output_contains "$HUSK_CONFIG"
	assert_output_contains "sandbox.colour"
	assert_root_empty
}

@test "sandbox: a detached terminal without a console socket, or preserved fds, are refused for a VM, before anything is made" {
	mkdir -p "$IMAGE_DIR"
	: >"$IMAGE_DIR/vmlinux"
	: >"$IMAGE_DIR/initramfs.cpio"
	update_config '.process.terminal = true'
	run runtime --sandbox vm create --bundle "$BUNDLE" "$CID"
	assert_failure
	assert_output_contains "cannot allocate tty if husk will detach without setting console socket"
	assert_root_empty
	run runtime --sandbox vm run -d --bundle "$BUNDLE" "$CID"
	assert_failure
	assert_output_contains "cannot allocate tty if husk will detach without setting console socket"
	assert_root_empty
	update_config '.process.terminal = false'
	run runtime --sandbox vm create --console-socket "$TEST_DIR/no-such.sock" --bundle "$BUNDLE" "$CID"
	assert_failure
	assert_output_contains "cannot use console socket if husk will not detach or allocate tty"
	assert_root_empty
	run runtime --sandbox vm run --preserve-fds 1 --bundle "$BUNDLE" "$CID"
	assert_failure
	assert_output_contains "--preserve-fds"
	assert_root_empty
}

# fake_image: empty guest image files, and a QEMU that fails at once, so create goes as far
# as starting the sandbox monitor without booting anything.
fake_image() {
	: >"$IMAGE_DIR/vmlinux"
	: >"$IMAGE_DIR/initramfs.cpio"
	printf '#!/bin/sh\necho "fake qemu: no guest here" >&2\nexit 1\n' >"$TEST_DIR/fake-qemu"
	chmod +x "$TEST_DIR/fake-qemu"
	printf 'sandbox:\n  image_dir: %s\n  qemu: %s\n  accel: tcg\n' "$IMAGE_DIR" "$TEST_DIR/fake-qemu" >"$HUSK_CONFIG"
}

@test "sandbox: a VM that dies before its agent answers fails create and leaves nothing" {
	fake_image
	runtime_detached --sandbox vm create --bundle "$BUNDLE" "$CID"
	assert_failure
	assert_output_contains "QEMU exited before it opened the agent port"
	assert_root_empty
	# Its processes (the sandbox monitor carries the bundle path in its command line) are
	# gone too.
	check_no_leftovers "$CID"
}

@test "sandbox: a bind mount whose host source is missing or not shareable is refused" {
	fake_image
	update_config '.mounts += [{"destination": "/data", "type": "bind", "source": "'"$TEST_DIR"'/missing", "options": ["rbind"]}]'
	run runtime --sandbox vm run --bundle "$BUNDLE" "$CID"
	assert_failure
	assert_output_contains "bind mount source $TEST_DIR/missing"
	assert_root_empty
	mkfifo "$TEST_DIR/fifo"
	update_config '.mounts[-1].source = "'"$TEST_DIR"'/fifo"'
	run runtime --sandbox vm run --bundle "$BUNDLE" "$CID"
	assert_failure
	assert_output_contains "neither a directory nor a regular file"
	assert_root_empty
}
