#!/usr/bin/env bats
# list: the table (column layout included), -q, and --format json.

load helpers

setup() {
	setup_bundle
}

teardown() {
	teardown_bundle
}

# The table is laid out in columns of width max(12, longest cell + 3); the last column (OWNER)
# is not padded. expected_table ROW... prints what list must print for the given rows, each row
# a tab-separated line "id pid status bundle created owner".
expected_table() {
	local lines=($'ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER' "$@")
	local widths=(12 12 12 12 12) line cells i w
	for line in "${lines[@]}"; do
		IFS=$'\t' read -r -a cells <<<"$line"
		for i in 0 1 2 3 4; do
			w=$((${#cells[$i]} + 3))
			[ "$w" -gt "${widths[$i]}" ] && widths[$i]=$w
		done
	done
	for line in "${lines[@]}"; do
		IFS=$'\t' read -r -a cells <<<"$line"
		printf "%-${widths[0]}s%-${widths[1]}s%-${widths[2]}s%-${widths[3]}s%-${widths[4]}s%s\n" \
			"${cells[@]}"
	done
}

@test "list with no containers prints only the header" {
	run runtime list
	assert_success
	assert_output_equals "$(expected_table)"
}

@test "list with no containers: -q prints nothing, json is empty" {
	run runtime list -q
	assert_success
	assert_output_equals ""
	run runtime list --format json
	assert_success
	# An empty array or null both decode to "no containers".
	[ "$(jq -r '(. // []) | length' <<<"$output")" = 0 ]
}

@test "list on a state root that does not exist yet lists nothing" {
	rmdir "$ROOT"
	run runtime list -q
	assert_success
	assert_output_equals ""
}

@test "list shows created and running containers in table form" {
	set_args sleep 600
	create_container "${CID}-a"
	run_detached "${CID}-b"

	local pa pb ca cb
	pa=$(state_field "${CID}-a" pid)
	pb=$(state_field "${CID}-b" pid)
	ca=$(state_field "${CID}-a" created)
	cb=$(state_field "${CID}-b" created)

	run runtime list
	assert_success
	# Rows are sorted by id.
	assert_output_equals "$(expected_table \
		"${CID}-a"$'\t'"$pa"$'\t'created$'\t'"$BUNDLE"$'\t'"$ca"$'\t'root \
		"${CID}-b"$'\t'"$pb"$'\t'running$'\t'"$BUNDLE"$'\t'"$cb"$'\t'root)"

	run runtime list -q
	assert_success
	assert_output_equals "${CID}-a"$'\n'"${CID}-b"
}

@test "list shows a stopped container with pid 0" {
	set_args true
	run_detached
	wait_for_status "$CID" stopped
	run runtime list
	assert_success
	[ "$(sed -n 2p <<<"$output" | awk '{print $1, $2, $3, $4}')" = "$CID 0 stopped $BUNDLE" ]
}

@test "list --format json and -f json describe every container" {
	set_args sleep 600
	create_container "${CID}-a"
	run_detached "${CID}-b"

	local flag
	for flag in "--format json" "-f json"; do
		# shellcheck disable=SC2086
		run runtime list $flag
		assert_success
		[ "$(jq -r 'type' <<<"$output")" = array ]
		[ "$(jq -r 'length' <<<"$output")" = 2 ]
		[ "$(jq -r 'map(.id) | sort | join(" ")' <<<"$output")" = "${CID}-a ${CID}-b" ]
		[ "$(jq -r ".[] | select(.id == \"${CID}-a\") | .status" <<<"$output")" = created ]
		[ "$(jq -r ".[] | select(.id == \"${CID}-b\") | .status" <<<"$output")" = running ]
		[ "$(jq -r ".[] | select(.id == \"${CID}-b\") | .pid" <<<"$output")" = "$(state_field "${CID}-b" pid)" ]
		[ "$(jq -r '.[0].bundle' <<<"$output")" = "$BUNDLE" ]
		[ "$(jq -r '.[0].rootfs' <<<"$output")" = "$BUNDLE/rootfs" ]
		[ "$(jq -r '.[0].owner' <<<"$output")" = root ]
		[ -n "$(jq -r '.[0].created' <<<"$output")" ]
		[ -n "$(jq -r '.[0].ociVersion' <<<"$output")" ]
	done
}

@test "list --format table is the default layout" {
	set_args sleep 600
	create_container
	run runtime list
	assert_success
	local table=$output
	run runtime list --format table
	assert_success
	assert_output_equals "$table"
}

@test "list --format with an unknown format fails" {
	run runtime list --format yaml
	assert_failure
	assert_error_message
}

@test "list does not show containers of another state root" {
	set_args sleep 600
	create_container
	local saved=$ROOT
	ROOT="$TEST_DIR/other-root"
	mkdir -p "$ROOT"
	run runtime list -q
	assert_success
	assert_output_equals ""
	ROOT=$saved
}
