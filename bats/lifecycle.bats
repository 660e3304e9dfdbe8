#!/usr/bin/env bats
# create / start / state / delete / run, and the state JSON clients parse.

load helpers

setup() {
	setup_bundle
}

teardown() {
	teardown_bundle
}

@test "create, start, state and delete walk created -> running -> stopped" {
	update_config '.annotations = {"org.example.key": "value", "empty": ""}'
	set_args sleep 600

	create_container

	run runtime state "$CID"
	assert_success
	echo "$output" | jq -e . >/dev/null
	jq -r .ociVersion <<<"$output" | grep -qE '^1\.[0-9]+\.[0-9]+'
	[ "$(jq -r .id <<<"$output")" = "$CID" ]
	[ "$(jq -r .status <<<"$output")" = created ]
	[ "$(jq -r .bundle <<<"$output")" = "$BUNDLE" ]
	[ "$(jq -r .rootfs <<<"$output")" = "$BUNDLE/rootfs" ]
	[ "$(jq -r '.annotations["org.example.key"]' <<<"$output")" = value ]
	[ "$(jq -r '.annotations | has("empty")' <<<"$output")" = true ]
	[ "$(jq -r '.annotations.empty' <<<"$output")" = "" ]
	# RFC 3339 (the reference prints UTC with nanoseconds).
	jq -r .created <<<"$output" | grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$'
	local pid created
	pid=$(jq -r .pid <<<"$output")
	created=$(jq -r .created <<<"$output")
	[ "$pid" -gt 1 ]
	kill -0 "$pid"

	run runtime start "$CID"
	assert_success

	run runtime state "$CID"
	assert_success
	[ "$(jq -r .status <<<"$output")" = running ]
	[ "$(jq -r .pid <<<"$output")" = "$pid" ]
	[ "$(jq -r .created <<<"$output")" = "$created" ]
	# The container process is the one the state names, now running the configured program.
	[ "$(tr '\0' ' ' <"/proc/$pid/cmdline")" = "sleep 600 " ]

	run runtime kill "$CID" KILL
	assert_success
	wait_for_status "$CID" stopped

	run runtime state "$CID"
	assert_success
	[ "$(jq -r .status <<<"$output")" = stopped ]
	[ "$(jq -r .pid <<<"$output")" = 0 ]
	[ "$(jq -r .id <<<"$output")" = "$CID" ]

	run runtime delete "$CID"
	assert_success

	run runtime state "$CID"
	assert_failure
	check_no_leftovers "$CID"
}

@test "state without annotations has no annotations object" {
	set_args sleep 600
	create_container
	run runtime state "$CID"
	assert_success
	[ "$(jq -r 'has("annotations")' <<<"$output")" = false ]
	run runtime delete --force "$CID"
	assert_success
	check_no_leftovers "$CID"
}

@test "create --pid-file writes the pid that state reports" {
	set_args sleep 600
	runtime_detached create --bundle "$BUNDLE" --pid-file "$TEST_DIR/pid" "$CID"
	assert_success
	[ -s "$TEST_DIR/pid" ]
	local pid
	pid=$(state_field "$CID" pid)
	# The file holds the bare number (a trailing newline is tolerated).
	[ "$(tr -d '\n' <"$TEST_DIR/pid")" = "$pid" ]
	run runtime delete --force "$CID"
	assert_success
	check_no_leftovers "$CID"
}

@test "create --pid-file with a relative path is relative to the caller's cwd" {
	set_args sleep 600
	cd "$TEST_DIR"
	runtime_detached create --bundle "$BUNDLE" --pid-file rel.pid "$CID"
	assert_success
	[ "$(tr -d '\n' <"$TEST_DIR/rel.pid")" = "$(state_field "$CID" pid)" ]
	run runtime delete --force "$CID"
	assert_success
}

@test "create uses the current directory as the bundle by default" {
	set_args sleep 600
	cd "$BUNDLE"
	runtime_detached create "$CID"
	assert_success
	[ "$(state_field "$CID" bundle)" = "$BUNDLE" ]
	run runtime delete --force "$CID"
	assert_success
}

@test "create with a relative --bundle records the absolute bundle path" {
	set_args sleep 600
	cd "$TEST_DIR"
	runtime_detached create --bundle bundle "$CID"
	assert_success
	[ "$(state_field "$CID" bundle)" = "$BUNDLE" ]
	run runtime delete --force "$CID"
	assert_success
}

@test "the container process does not run before start" {
	set_args sh -c 'echo ran > /ran'
	create_container
	[ "$(state_field "$CID" status)" = created ]
	[ ! -e "$BUNDLE/rootfs/ran" ]
	run runtime start "$CID"
	assert_success
	wait_for_status "$CID" stopped
	[ "$(cat "$BUNDLE/rootfs/ran")" = ran ]
	run runtime delete "$CID"
	assert_success
	check_no_leftovers "$CID"
}

@test "start of a started container fails" {
	set_args sleep 600
	create_container
	run runtime start "$CID"
	assert_success
	run runtime start "$CID"
	assert_failure
	assert_output_contains running
	[ "$(state_field "$CID" status)" = running ]
	run runtime delete --force "$CID"
	assert_success
	check_no_leftovers "$CID"
}

@test "start of a stopped container fails" {
	set_args true
	create_container
	run runtime start "$CID"
	assert_success
	wait_for_status "$CID" stopped
	run runtime start "$CID"
	assert_failure
	assert_output_contains stopped
	run runtime delete "$CID"
	assert_success
}

@test "delete of a running container fails without --force" {
	set_args sleep 600
	run_detached
	run runtime delete "$CID"
	assert_failure
	assert_output_contains "$CID"
	[ "$(state_field "$CID" status)" = running ]

	local pid
	pid=$(state_field "$CID" pid)
	run runtime delete --force "$CID"
	assert_success
	wait_for_exit "$pid"
	run runtime state "$CID"
	assert_failure
	check_no_leftovers "$CID"
}

@test "delete -f is the short form of --force" {
	set_args sleep 600
	run_detached
	run runtime delete -f "$CID"
	assert_success
	check_no_leftovers "$CID"
}

@test "delete of a created container works and kills its process" {
	set_args sleep 600
	create_container
	local pid
	pid=$(state_field "$CID" pid)
	run runtime delete "$CID"
	assert_success
	wait_for_exit "$pid"
	run runtime state "$CID"
	assert_failure
	check_no_leftovers "$CID"
}

@test "delete of a stopped container works" {
	set_args true
	run_detached
	wait_for_status "$CID" stopped
	run runtime delete "$CID"
	assert_success
	check_no_leftovers "$CID"
}

@test "delete --force of a nonexistent container succeeds quietly" {
	run runtime delete --force "${CID}-none"
	assert_success
}

@test "run propagates the container's exit code" {
	run_in_container sh -c 'exit 3'
	assert_status 3
	# Without --keep the container is gone afterwards.
	run runtime state "$CID"
	assert_failure
	check_no_leftovers "$CID"
}

@test "run exits 0 and passes stdout through" {
	run_in_container echo hello from husk
	assert_success
	assert_output_equals "hello from husk"
	check_no_leftovers "$CID"
}

@test "run reports death by signal as 128+signal" {
	set_args sleep 600
	(
		for ((i = 0; i < POLL_TRIES; i++)); do
			if [ "$(runtime state "$CID" 2>/dev/null | jq -r .status)" = running ]; then
				runtime kill "$CID" KILL
				exit 0
			fi
			sleep "$POLL_INTERVAL"
		done
	) 3>&- &
	local killer=$!
	run runtime run --bundle "$BUNDLE" "$CID"
	wait "$killer"
	assert_status 137
	check_no_leftovers "$CID"
}

@test "run --keep keeps the stopped container" {
	set_args sh -c 'exit 7'
	run runtime run --keep --bundle "$BUNDLE" "$CID"
	assert_status 7
	run runtime state "$CID"
	assert_success
	[ "$(jq -r .status <<<"$output")" = stopped ]
	run runtime delete "$CID"
	assert_success
	check_no_leftovers "$CID"
}

@test "run -d and --detach return while the container runs" {
	set_args sleep 600
	runtime_detached run -d --bundle "$BUNDLE" "$CID"
	assert_success
	[ "$(state_field "$CID" status)" = running ]
	run runtime delete --force "$CID"
	assert_success
	check_no_leftovers "$CID"

	runtime_detached run --detach --bundle "$BUNDLE" "$CID"
	assert_success
	[ "$(state_field "$CID" status)" = running ]
	run runtime delete --force "$CID"
	assert_success
	check_no_leftovers "$CID"
}

@test "run -d --pid-file writes the container pid" {
	set_args sleep 600
	runtime_detached run -d --pid-file "$TEST_DIR/pid" --bundle "$BUNDLE" "$CID"
	assert_success
	[ "$(tr -d '\n' <"$TEST_DIR/pid")" = "$(state_field "$CID" pid)" ]
	run runtime delete --force "$CID"
	assert_success
}

@test "run --pid-file in the foreground writes the container pid" {
	set_args echo done
	run runtime run --pid-file "$TEST_DIR/pid" --bundle "$BUNDLE" "$CID"
	assert_success
	assert_output_equals done
	[ -s "$TEST_DIR/pid" ]
	grep -qE '^[0-9]+$' "$TEST_DIR/pid"
}

@test "stdio of a created container goes where the caller pointed it" {
	set_args sh -c 'echo to-stdout; echo to-stderr >&2'
	runtime_raw create --bundle "$BUNDLE" "$CID" </dev/null \
		>"$TEST_DIR/out" 2>"$TEST_DIR/err"
	run runtime start "$CID"
	assert_success
	wait_for_status "$CID" stopped
	wait_for_file "$TEST_DIR/out" to-stdout
	wait_for_file "$TEST_DIR/err" to-stderr
	[ "$(cat "$TEST_DIR/out")" = to-stdout ]
	grep -qx to-stderr "$TEST_DIR/err"
	run runtime delete "$CID"
	assert_success
}

@test "a container's stdin comes from the caller" {
	set_args cat
	echo "from stdin" >"$TEST_DIR/in"
	run runtime_raw run --bundle "$BUNDLE" "$CID" <"$TEST_DIR/in"
	assert_success
	assert_output_equals "from stdin"
}

@test "two containers from two bundles run side by side" {
	set_args sleep 600
	create_container
	local other="$TEST_DIR/bundle2"
	cp -a "$BUNDLE" "$other"
	runtime_raw create --bundle "$other" "${CID}-b" </dev/null >/dev/null 2>&1
	run runtime start "$CID"
	assert_success
	run runtime start "${CID}-b"
	assert_success
	[ "$(state_field "$CID" status)" = running ]
	[ "$(state_field "${CID}-b" status)" = running ]
	[ "$(state_field "${CID}-b" bundle)" = "$other" ]
	[ "$(state_field "$CID" pid)" != "$(state_field "${CID}-b" pid)" ]
	run runtime delete --force "$CID"
	assert_success
	run runtime delete --force "${CID}-b"
	assert_success
	check_no_leftovers "$CID"
	check_no_leftovers "${CID}-b"
}
