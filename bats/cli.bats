#!/usr/bin/env bats
# The command line itself: spec, features, --version, --help, global logging flags.

load helpers

# The verbs every test below expects; update and events are added
# here as husk gains them.
VERBS="create start run state kill delete list spec features exec ps pause resume"

setup() {
	setup_bundle
}

teardown() {
	teardown_bundle
}

# The default spec minus the two fields that name the runtime itself.
normalize_spec() {
	jq -S 'del(.hostname, .ociVersion)' "$1"
}

@test "spec writes the default config.json into --bundle" {
	local dir="$TEST_DIR/spec"
	mkdir "$dir"
	run runtime spec --bundle "$dir"
	assert_success
	[ -f "$dir/config.json" ]
	jq -e . "$dir/config.json" >/dev/null
	# Same content as the reference default spec (the hostname and spec version name the
	# runtime, so they may differ).
	diff -u <(normalize_spec "$TESTDATA/config.json") <(normalize_spec "$dir/config.json")
	[ -n "$(jq -r .hostname "$dir/config.json")" ]
	jq -r .ociVersion "$dir/config.json" | grep -qE '^1\.[0-9]+\.[0-9]+'
	# The default is an interactive shell: a terminal and sh.
	[ "$(jq -r .process.terminal "$dir/config.json")" = true ]
	[ "$(jq -c .process.args "$dir/config.json")" = '["sh"]' ]
}

@test "spec -b is the short form of --bundle" {
	local dir="$TEST_DIR/spec"
	mkdir "$dir"
	run runtime spec -b "$dir"
	assert_success
	[ -f "$dir/config.json" ]
}

@test "spec without --bundle writes into the current directory" {
	local dir="$TEST_DIR/spec"
	mkdir "$dir"
	cd "$dir"
	run runtime spec
	assert_success
	[ -f "$dir/config.json" ]
}

@test "spec's ociVersion is within the runtime's features ociVersionMin..ociVersionMax" {
	local dir="$TEST_DIR/spec"
	mkdir "$dir"
	run runtime spec --bundle "$dir"
	assert_success
	run runtime features
	assert_success
	local min max v
	min=$(jq -r .ociVersionMin <<<"$output")
	max=$(jq -r .ociVersionMax <<<"$output")
	v=$(jq -r .ociVersion "$dir/config.json")
	# Version order (sort -V): min <= v <= max.
	[ "$(printf '%s\n%s\n' "$min" "$v" | sort -V | head -n1)" = "$min" ]
	[ "$(printf '%s\n%s\n' "$v" "$max" | sort -V | tail -n1)" = "$max" ]
}

@test "spec refuses to overwrite an existing config.json" {
	local dir="$TEST_DIR/spec"
	mkdir "$dir"
	echo '{"keep": "me"}' >"$dir/config.json"
	run runtime spec --bundle "$dir"
	assert_failure
	assert_output_contains "config.json"
	[ "$(cat "$dir/config.json")" = '{"keep": "me"}' ]
}

@test "spec into a missing directory fails" {
	run runtime spec --bundle "$TEST_DIR/no/such/dir"
	assert_failure
	assert_error_message
	[ ! -e "$TEST_DIR/no" ]
}

@test "spec --rootless adds a user namespace with mappings for the caller" {
	local dir="$TEST_DIR/spec"
	mkdir "$dir"
	run runtime spec --rootless --bundle "$dir"
	assert_success
	diff -u <(normalize_spec "$TESTDATA/config-rootless.json") <(normalize_spec "$dir/config.json")
	[ "$(jq -r '[.linux.namespaces[].type] | index("user") != null' "$dir/config.json")" = true ]
	# No network namespace: a rootless user cannot configure one.
	[ "$(jq -r '[.linux.namespaces[].type] | index("network") == null' "$dir/config.json")" = true ]
	[ "$(jq -c '.linux.uidMappings' "$dir/config.json")" = "[{\"containerID\":0,\"hostID\":$(id -u),\"size\":1}]" ]
	[ "$(jq -c '.linux.gidMappings' "$dir/config.json")" = "[{\"containerID\":0,\"hostID\":$(id -g),\"size\":1}]" ]
	# No cgroup resources for an unprivileged user.
	[ "$(jq -r '.linux.resources' "$dir/config.json")" = null ]
}

@test "features prints the runtime-spec features document" {
	run runtime features
	assert_success
	jq -e . <<<"$output" >/dev/null
	jq -r .ociVersionMin <<<"$output" | grep -qE '^1\.[0-9]+\.[0-9]+'
	jq -r .ociVersionMax <<<"$output" | grep -qE '^1\.[0-9]+\.[0-9]+'
	local ns
	for ns in cgroup ipc mount network pid user uts; do
		[ "$(jq -r --arg ns "$ns" '.linux.namespaces | index($ns) != null' <<<"$output")" = true ] ||
			fail "features does not list namespace $ns"
	done
	local hook
	for hook in prestart createRuntime createContainer startContainer poststart poststop; do
		[ "$(jq -r --arg h "$hook" '.hooks | index($h) != null' <<<"$output")" = true ] ||
			fail "features does not list hook $hook"
	done
	local opt
	for opt in bind rbind ro rw nosuid nodev noexec private rprivate shared slave; do
		[ "$(jq -r --arg o "$opt" '.mountOptions | index($o) != null' <<<"$output")" = true ] ||
			fail "features does not list mount option $opt"
	done
	[ "$(jq -r '.linux.capabilities | index("CAP_SYS_ADMIN") != null' <<<"$output")" = true ]
	[ "$(jq -r '.linux.cgroup.v1' <<<"$output")" = true ]
	[ "$(jq -r '.linux.cgroup.v2' <<<"$output")" = true ]
	[ "$(jq -r '.linux.seccomp.enabled | type' <<<"$output")" = boolean ]
}

@test "--version exits 0 and names the version and spec version" {
	run runtime --version
	assert_success
	[ "$(sed -n 1p <<<"$output" | awk '{print $2}')" = version ]
	assert_output_matches '^spec: 1\.[0-9]+\.[0-9]+'
	run runtime -v
	assert_success
}

@test "--help and help exit 0 and list the verbs" {
	local how verb
	for how in --help -h help; do
		run runtime "$how"
		assert_success
		for verb in $VERBS; do
			assert_output_contains "$verb"
		done
	done
}

@test "every verb has --help" {
	local verb
	for verb in $VERBS; do
		run runtime "$verb" --help
		assert_success
		assert_output_contains "$verb"
	done
}

@test "an unknown verb fails" {
	run runtime no-such-verb
	assert_failure
	assert_output_contains "no-such-verb"
}

@test "an unknown global flag fails" {
	run runtime --no-such-flag list
	assert_failure
	assert_output_contains "no-such-flag"
}

@test "a verb without its container id fails with a usage error" {
	local verb
	for verb in create start run state delete kill; do
		run runtime "$verb"
		assert_failure
		assert_output_contains "$verb"
	done
	assert_root_empty
}

@test "--log with --log-format json writes JSON error lines to the log file" {
	run --separate-stderr runtime --log "$TEST_DIR/log.json" --log-format json state "${CID}-none"
	assert_failure
	[ -s "$TEST_DIR/log.json" ]
	local line
	line=$(grep -m1 '"error"' "$TEST_DIR/log.json")
	[ "$(jq -r .level <<<"$line")" = error ]
	jq -r .msg <<<"$line" | grep -q "does not exist"
	jq -r .time <<<"$line" | grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T'
	# The caller still gets the reason on stderr.
	grep -q "does not exist" <<<"$stderr"
}

@test "--log with the default text format writes key=value lines" {
	run --separate-stderr runtime --log "$TEST_DIR/log.txt" state "${CID}-none"
	assert_failure
	grep -qE '^time="[^"]+" level=error msg=".*does not exist.*"' "$TEST_DIR/log.txt"
}

@test "errors go to stderr in text format without --log" {
	run --separate-stderr runtime state "${CID}-none"
	assert_failure
	[ -z "$output" ]
	grep -qE '^time="[^"]+" level=error msg=".*does not exist.*"' <<<"$stderr"
}

@test "--log-format json without --log puts JSON on stderr" {
	run --separate-stderr runtime --log-format json state "${CID}-none"
	assert_failure
	[ "$(jq -r .level <<<"$stderr")" = error ]
	jq -r .msg <<<"$stderr" | grep -q "does not exist"
}

@test "an invalid --log-format fails" {
	run runtime --log-format xml list
	assert_failure
	assert_output_contains "xml"
}
