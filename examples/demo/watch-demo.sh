#!/usr/bin/env bash
# The watcher demo: `fms watch` with the embedded simulator on the rules in examples/demo/rules/.
#
# Usage:  make demo
#    or:  FMS_BIN=/path/to/fms bash examples/demo/watch-demo.sh
#
# In about 20 seconds, and then ending by itself with a summary, it shows: a file dropped into a
# watched folder raising an alert; an ERROR line appended to a log raising one, and a cooldown
# suppressing the repeats (with an "and 3 more" summary when the window closes); a timer; the
# balance crossing its threshold; a failed delivery report escalated to a second number.
# Everything lives in a temporary folder (the outbox too) removed at the end; your own FMS_*
# settings are ignored.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
FMS_BIN=${FMS_BIN:-$root/.build/debug/fms}
if [[ ! -x $FMS_BIN ]]; then
    echo "watch-demo: no fms binary at '$FMS_BIN': run 'make demo', or set FMS_BIN" >&2
    exit 66
fi
if [[ -t 1 && -z ${NO_COLOR:-} ]]; then
    bold=$'\e[1m' dim=$'\e[2m' reset=$'\e[0m'
else
    bold='' dim='' reset=''
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/fms-watch-demo.XXXXXX")
watch_pid=''
cleanup() {
    if [[ -n $watch_pid ]] && kill -0 "$watch_pid" 2>/dev/null; then
        kill -TERM "$watch_pid" 2>/dev/null || true
        wait "$watch_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

unset FMS_URL FMS_APP_ID FMS_SECRET_KEY FMS_SECRET_KEY_FILE FMS_MODE CREDENTIALS_DIRECTORY
export DEMO_DIR=$work FMS_STATE_DIR=$work/state
mkdir -p "$work/inbox"
: > "$work/app.log"

# say TEXT: what the demo does next (stdout; the watcher's log is on stderr).
say() { printf '%s>>> %s%s\n' "$bold" "$1" "$reset"; }

printf '%sFlashPush watcher demo%s: rules in %s, fms is %s\n' "$bold" "$reset" "examples/demo/rules/" "$FMS_BIN"
arguments=(watch --sim --sim-template '1001=[FlashPush] {what}' --sim-balance 7
           --sim-fail-mobile 13900000002=FAIL_MOBILE --sim-report-delay 1 --report-interval 1s
           --for 20s examples/demo/rules)
printf '%s$ fms %s%s\n' "$dim" "${arguments[*]}" "$reset"
# From the repository's root, so that log lines name the rules as examples/demo/rules/…; the
# watcher's log (stderr) is interleaved with the demo's own lines.
cd "$root"
"$FMS_BIN" "${arguments[@]}" 2>&1 &
watch_pid=$!

sleep 1.5
say "drop a file into the watched inbox"
echo "id,amount" > "$work/inbox/orders-0001.csv"
sleep 1.5
say "append an ERROR line to app.log"
echo "2026-11-26 10:00:01 ERROR database connection refused" >> "$work/app.log"
sleep 1
say "three more ERROR lines: the cooldown keeps them quiet"
for n in 2 3 4; do
    echo "2026-11-26 10:00:0$n ERROR database connection refused (retry $n)" >> "$work/app.log"
    sleep 0.3
done
echo "2026-11-26 10:00:05 INFO connected" >> "$work/app.log"
say "now wait: the failed delivery is escalated, the balance falls below 5, the cooldown closes"

status=0
wait "$watch_pid" || status=$?
watch_pid=''
if (( status != 0 )); then
    echo "watch-demo: fms watch exited with status $status" >&2
    exit "$status"
fi
say "what the outbox holds now (fms outbox stats)"
"$FMS_BIN" outbox stats --state-dir "$FMS_STATE_DIR/sim"   # --sim keeps its outbox in STATE/sim
printf '%sThe end.%s Rules: examples/demo/rules/; ready-made rules to copy: rules/; manual: man ./man/fms-watch.1\n' \
    "$bold" "$reset"
