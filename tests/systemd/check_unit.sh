#!/bin/sh
# check_unit.sh - offline checks of systemd/sovereignd.service.
#
#   check_unit.sh security    exposure of the unit must be 2.0 or lower
#   check_unit.sh local_audio the same with the local-audio.conf drop-in
#   check_unit.sh verify      systemd-analyze verify finds nothing wrong
#
# The unit directory comes from $SV_SOURCE_DIR/systemd. Exit 0 pass, 1
# fail, 77 skip (systemd-analyze missing or too old for --offline).
set -u

case_name=${1:-}
unit_dir=${SV_SOURCE_DIR:?SV_SOURCE_DIR is not set}/systemd
max_exposure=2.0

skip() {
    echo "skipped: $*" >&2
    exit 77
}

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

command -v systemd-analyze >/dev/null 2>&1 ||
    skip "systemd-analyze is not installed"

tmp=$(mktemp -d) || fail "mktemp failed"
trap 'rm -rf "$tmp"' EXIT

# Writes the unit, plus the drop-in when $1 is "with-dropin", into $tmp
# as one file (a drop-in's settings simply append to the unit's), with
# ExecStart pointing at a program that exists so that verify can run.
make_unit() {
    exe=${SOVEREIGND:-/bin/true}
    [ -x "$exe" ] || exe=/bin/true
    sed "s#^ExecStart=/usr/bin/sovereignd #ExecStart=$exe #" \
        "$unit_dir/sovereignd.service" >"$tmp/sovereignd.service" ||
        fail "cannot copy the unit"
    if [ "${1:-}" = with-dropin ]; then
        cat "$unit_dir/local-audio.conf" >>"$tmp/sovereignd.service" ||
            fail "cannot append the drop-in"
    fi
}

# Any "file:line:" message means systemd ignored a setting of ours.
check_warnings() {
    if grep -E 'sovereignd\.service:[0-9]+:' "$1" >&2; then
        fail "systemd-analyze ignored settings (see above)"
    fi
}

security() {
    make_unit "${1:-}"
    systemd-analyze security --offline=true --no-pager \
        "$tmp/sovereignd.service" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if grep -q -i -E "unrecognized option|unknown option" "$tmp/err"; then
        skip "systemd-analyze does not know --offline"
    fi
    check_warnings "$tmp/err"
    score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' \
        "$tmp/out")
    if [ -z "$score" ]; then
        cat "$tmp/out" "$tmp/err" >&2
        fail "no exposure level in the output (exit status $rc)"
    fi
    echo "exposure: $score (at most $max_exposure allowed)"
    if ! awk -v s="$score" -v m="$max_exposure" 'BEGIN { exit !(s <= m) }'
    then
        grep '✗' "$tmp/out" >&2
        fail "exposure $score is above $max_exposure"
    fi
}

verify() {
    make_unit
    systemd-analyze verify --man=no "$tmp/sovereignd.service" \
        >"$tmp/out" 2>&1
    rc=$?
    cat "$tmp/out"
    check_warnings "$tmp/out"
    if [ "$rc" -ne 0 ]; then
        # Failures that do not name the unit come from the environment
        # (no manager can be set up in some sandboxes), not from us.
        if grep -q 'sovereignd\.service' "$tmp/out"; then
            fail "systemd-analyze verify failed"
        fi
        skip "systemd-analyze verify cannot run here (exit status $rc)"
    fi
}

case "$case_name" in
security) security ;;
local_audio) security with-dropin ;;
verify) verify ;;
*) fail "usage: $0 security|local_audio|verify" ;;
esac
