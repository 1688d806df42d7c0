#!/usr/bin/env bash
# Runs every benchmark of fms beside its peer or limit, prints a summary, writes docs/benchmarks.md.
#
# usage: FMS_BIN=/path/to/release/fms bash bench/run.sh      (what `make bench` does)
#
# Environment:
#   FMS_BIN        the fms executable (default: the release build of this checkout)
#   FMS_BENCH_BIN  the fms-bench executable (default: next to FMS_BIN)
#   BENCH_SECONDS  seconds per measured client level (default 2)
#   BENCH_OUTBOX_MESSAGES  messages per outbox drain (default 100000)
#   BENCH_OUT      keep the raw JSON lines in this file (default: a temporary file)
#   BENCH_DOC      where to write the report (default: docs/benchmarks.md; "-" for nowhere)
#   BENCH_WATCH_ARGS  extra options of bench/watch-bench.py (e.g. "--files 4000 --reps 8")
#
# Steps: machine facts; the codec (fms-bench codec) and its limit measured right after it
# (openssl speed for AES, python3's zlib for gzip); then `fms sim --no-rate-limits --no-ledger`
# on 127.0.0.1 as a separate process, the shell loop (bench/shell-send.sh) and fms-bench's
# client runs against it; the client against an in-process gateway; the outbox (fms-bench
# outbox: enqueue vs SQLite's bare insert loop, drain to the simulator vs FMSClient.sendBatch);
# Lua (fms-bench lua: calls into Swift vs C functions, values into Swift, fms check vs
# luac5.4 -p; installs lua5.4 with apt-get when luac5.4 is missing and this runs as root);
# the watcher (bench/watch-bench.py: fms watch beside inotifywait and lsyncd); the report
# (fms-bench report, then bench/watch-report.py for the watcher's part).
# Every loop is bounded in count and time; the simulator is stopped on exit.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
if [ -z "${FMS_BIN:-}" ]; then
    FMS_BIN="$(cd "$root" && swift build -c release --show-bin-path)/fms"
fi
BENCH_BIN=${FMS_BENCH_BIN:-$(dirname "$FMS_BIN")/fms-bench}
level_seconds=${BENCH_SECONDS:-2}
doc=${BENCH_DOC:-$root/docs/benchmarks.md}
for binary in "$FMS_BIN" "$BENCH_BIN"; do
    if [ ! -x "$binary" ]; then
        echo "bench: $binary is missing; build with 'swift build -c release' (or run 'make bench')" >&2
        exit 69
    fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/fms-bench.XXXXXX")
results=${BENCH_OUT:-$work/results.jsonl}
: > "$results"
sim_pid=""
cleanup() {
    if [ -n "$sim_pid" ] && kill -0 "$sim_pid" 2>/dev/null; then
        kill -TERM "$sim_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$sim_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$sim_pid" 2>/dev/null || true
        wait "$sim_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

started=$(date +%s)
step() { printf '\n[bench %3ss] %s\n' "$(( $(date +%s) - started ))" "$*" >&2; }
record() { tee -a "$results"; }
json_string() {  # a shell string as a JSON string (one line)
    local text=${1//\\/\\\\}
    text=${text//\"/\\\"}
    text=${text//$'\t'/ }
    text=${text//$'\n'/ }
    printf '"%s"' "$text"
}
# A numeric member of a JSON line (fms-bench prints compact JSON).
member() { sed -n "s/.*\"$1\":\\([0-9.e+-]*\\).*/\\1/p" | head -n 1; }

# ---------------------------------------------------------------------------------------------
step "machine"
cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
swift_version=$( (swift --version 2>/dev/null || true) | grep -m1 -i 'swift version' || true)
[ -n "$swift_version" ] || swift_version="(swift not on PATH)"
printf '{"bench":"facts","nproc":%s,"cpu":%s,"date":%s,"swift":%s,"openssl":%s,"kernel":%s,"load":%s}\n' \
    "$(nproc)" "$(json_string "${cpu:-unknown}")" "$(json_string "$(date -u '+%Y-%m-%d %H:%M:%S UTC')")" \
    "$(json_string "$swift_version")" "$(json_string "$(openssl version 2>/dev/null || echo none)")" \
    "$(json_string "$(uname -sr)")" "$(json_string "$(cut -d' ' -f1-3 /proc/loadavg)")" | record

# ---------------------------------------------------------------------------------------------
# Two passes that alternate the codec and its limit, so that both see the same conditions;
# the report keeps the better figure of each.
have_python=yes
command -v python3 >/dev/null || { have_python=no; echo "bench: python3 missing: the zlib limit falls back to fms's own Gzip stage times" >&2; }
for pass in 1 2; do
    step "codec, pass $pass of 2: one 300-message sendBatchFMS request through fms-bench codec (~4 s)"
    "$BENCH_BIN" codec --seconds 4 --dump-json "$work/payload.json" | record
    cipher_bytes=$(grep '"codec.payload"' "$results" | member cipherBytes)

    step "limit, pass $pass of 2: openssl speed -evp aes-128-ecb -bytes $cipher_bytes, encrypt and decrypt (~2 s)"
    for direction in encrypt decrypt; do
        flag=""
        [ "$direction" = decrypt ] && flag="-decrypt"
        # -mr prints "+F:<n>:AES-128-ECB:<bytes per second>" for the one size asked with -bytes.
        rate=$(openssl speed -evp aes-128-ecb -bytes "$cipher_bytes" -seconds 1 -mr $flag 2>/dev/null \
               | awk -F: '/^\+F:/ { print $NF }' | tail -n 1)
        if [ -n "$rate" ]; then
            printf '{"bench":"limit.aes","direction":"%s","bytes":%s,"bytesPerSecond":%s,"source":"openssl speed -evp aes-128-ecb -bytes %s -seconds 1 %s"}\n' \
                "$direction" "$cipher_bytes" "$rate" "$cipher_bytes" "$flag" | record
        else
            echo "bench: openssl speed gave no figure for $direction" >&2
        fi
    done

    if [ "$have_python" = yes ]; then
        step "limit, pass $pass of 2: zlib level 6 compress + decompress of the same JSON (python3 zlib; ~1.5 s)"
        python3 "$here/zlib-limit.py" "$work/payload.json" 1.5 6 | record
    fi
done

# ---------------------------------------------------------------------------------------------
step "simulator: fms sim --no-rate-limits --no-ledger on 127.0.0.1"
od -An -N8 -tx1 /dev/urandom | tr -d ' \n' > "$work/key"   # 16 hex characters: an AES-128 key
app_id=BENCH-APP
"$FMS_BIN" sim --host 127.0.0.1 --port 0 --no-rate-limits --no-ledger --balance 1000000000 \
    --app-id "$app_id" --secret-key-file "$work/key" > "$work/sim.out" 2> "$work/sim.err" &
sim_pid=$!
url=""
for _ in $(seq 1 100); do
    url=$(head -n 1 "$work/sim.out" 2>/dev/null || true)
    [ -n "$url" ] && break
    kill -0 "$sim_pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$url" ]; then
    echo "bench: the simulator did not start:" >&2
    cat "$work/sim.err" >&2
    exit 69
fi
echo "simulator at $url (pid $sim_pid)" >&2
template_id=$("$BENCH_BIN" template --url "$url" --app-id "$app_id" --secret-key-file "$work/key" \
              | sed -n 's/.*"templateId":"\([^"]*\)".*/\1/p')
[ -n "$template_id" ] || { echo "bench: could not register the benchmark template" >&2; exit 69; }
client_args=(--url "$url" --app-id "$app_id" --secret-key-file "$work/key" --template-id "$template_id"
             --sim-pid "$sim_pid" --seconds "$level_seconds")

step "peer: shell loop of printf | gzip | openssl enc | curl (at most 300 sends or 10 s)"
timeout 30 bash "$here/shell-send.sh" "$url" "$app_id" "$work/key" "$template_id" 300 10 | record \
    || echo "bench: the shell loop failed" >&2

step "client: sendBatch, 30,000 messages per call, maxConcurrentRequests 1, 2, 4, 8 (${level_seconds} s each)"
status=0
timeout 120 "$BENCH_BIN" client "${client_args[@]}" --only batch --batch-mode api --batch-concurrency 1,2,4,8 \
    > "$work/batch.jsonl" 2> "$work/batch.err" || status=$?
record < "$work/batch.jsonl"
if [ "$status" -ne 0 ] || grep -q '"error"' "$work/batch.jsonl"; then
    reason=$(grep -m1 -E 'Program crashed|Fatal error|error' "$work/batch.err" | tr -d '*' | sed 's/^ *//; s/ *$//' || true)
    place=$(grep -m1 -oE '[A-Za-z]+\.sendBatch[^ ]* \+ [0-9]+ in [^ ]+ at [^ ]+' "$work/batch.err" | sed 's/ + [0-9]* in [^ ]* at .*Sources\// at Sources\//' || true)
    [ -z "$place" ] || reason="$reason in $place"
    [ -n "$reason" ] || reason=$(grep -m1 -o '"error":"[^"]*"' "$work/batch.jsonl" | cut -d'"' -f4 || true)
    printf '{"bench":"client.batch.failed","mode":"api","status":%d,"reason":%s}\n' "$status" "$(json_string "${reason:-exit status $status}")" | record
    echo "bench: FMSClient.sendBatch with many messages failed (status $status): $reason" >&2
    sed -n '1,12p' "$work/batch.err" >&2
    step "client: the same load as concurrent 300-message sendBatch calls (--batch-mode chunks)"
    timeout 120 "$BENCH_BIN" client "${client_args[@]}" --only batch --batch-mode chunks --batch-concurrency 1,2,4,8 | record \
        || echo "bench: the chunked batch run failed" >&2
fi

step "client: concurrent sendSingle calls, 1, 8, 32, 64 at a time (${level_seconds} s each)"
timeout 120 "$BENCH_BIN" client "${client_args[@]}" --only single --single-concurrency 1,8,32,64 | record \
    || echo "bench: the single-send run failed" >&2

batch_mode=api
grep -q '"client.batch.failed"' "$results" && batch_mode=chunks

step "client over a minimal socket transport instead of URLSession (prototype; ${level_seconds} s per level)"
timeout 120 "$BENCH_BIN" client "${client_args[@]}" --transport sockets --batch-mode "$batch_mode" \
    --batch-concurrency 2,4 --single-concurrency 1,8,32 | record \
    || echo "bench: the socket-transport run failed" >&2

step "client against an in-process gateway (no sockets): the cost of HTTP by difference"
timeout 120 "$BENCH_BIN" client --in-process yes --seconds "$level_seconds" --batch-mode "$batch_mode" \
    --batch-concurrency 1,2 --single-concurrency 8 | record || echo "bench: the in-process run failed" >&2

# The outbox: fms.send (Lua) and Outbox.enqueue (Swift) beside SQLite's bare insert loop, then
# 100,000 messages drained to the same simulator at maxInFlight 4 and 8 beside FMSClient.sendBatch.
step "outbox: enqueue from Lua and Swift vs SQLite's bare insert loop; drain of 100,000 messages at maxInFlight 4 and 8 (~60 s)"
timeout 240 "$BENCH_BIN" outbox --url "$url" --app-id "$app_id" --secret-key-file "$work/key" --template-id "$template_id" \
    --sim-pid "$sim_pid" --dir "$work" --drain-messages "${BENCH_OUTBOX_MESSAGES:-100000}" --in-flight 4,8 | record \
    || echo "bench: the outbox benchmark failed" >&2

kill -TERM "$sim_pid" 2>/dev/null || true
wait "$sim_pid" 2>/dev/null || true
sim_pid=""

# ---------------------------------------------------------------------------------------------
# Lua: calls from Lua into Swift bindings beside C functions, a vars table into Swift beside a
# Lua-side copy, and `fms check` on generated rule files beside `luac5.4 -p` on the same files.
if ! command -v luac5.4 >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "bench: luac5.4 is missing; installing the lua5.4 package (the peer of fms check) with apt-get" >&2
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends lua5.4; } >&2 \
            || echo "bench: apt-get could not install lua5.4" >&2
    fi
    command -v luac5.4 >/dev/null 2>&1 || echo "bench: luac5.4 is missing and this is not root: 'fms check' is measured without its peer;" \
        "install it with 'sudo apt-get install lua5.4' (or run bench/run.sh as root)" >&2
fi
step "lua: binding calls vs C functions, a vars table into Swift, fms check vs luac5.4 -p on 100 rule files (~25 s)"
bash "$here/make-rules.sh" "$work/rules" 100
if "$FMS_BIN" check "$work/rules" > "$work/check.out" 2> "$work/check.err"; then
    timeout 180 "$BENCH_BIN" lua --fms "$FMS_BIN" --rules "$work/rules" --parse-script "$here/parse-only.lua" | record \
        || echo "bench: the lua benchmark failed" >&2
else
    echo "bench: fms check rejects the generated rule files; measuring the Lua calls only:" >&2
    sed -n '1,5p' "$work/check.err" >&2
    timeout 120 "$BENCH_BIN" lua --only calls,convert | record || echo "bench: the lua benchmark failed" >&2
fi

# ---------------------------------------------------------------------------------------------
# The watcher: `fms watch` beside inotifywait (the limit) and lsyncd (the peer): file event ->
# handler latency, events/s through a trivial handler, and the idle cost of 100 rules.
# `make bench` installs inotify-tools and lsyncd with apt-get when they are missing.
if [ "$have_python" = yes ]; then
    for tool in inotifywait:inotify-tools lsyncd:lsyncd; do
        command -v "${tool%%:*}" >/dev/null 2>&1 || echo "bench: ${tool%%:*} is missing: the watcher is measured without it;" \
            "install it with 'sudo apt-get install ${tool#*:}' (or run 'make bench' as root)" >&2
    done
    step "watcher: fms watch beside inotifywait and lsyncd: latency, events/s, idle with 100 rules (~2 min)"
    # shellcheck disable=SC2086  # BENCH_WATCH_ARGS is a list of options
    timeout -k 10 900 python3 "$here/watch-bench.py" --fms "$FMS_BIN" ${BENCH_WATCH_ARGS:-} | record \
        || echo "bench: the watcher benchmark failed" >&2
else
    echo "bench: python3 missing: the watcher benchmark (bench/watch-bench.py) is skipped" >&2
fi

printf '{"bench":"facts.end","load":%s}\n' "$(json_string "$(cut -d' ' -f1-3 /proc/loadavg)")" | record

# ---------------------------------------------------------------------------------------------
step "report"
if [ "$doc" = "-" ]; then
    "$BENCH_BIN" report --results "$results"
else
    "$BENCH_BIN" report --results "$results" --doc "$doc"
fi
# The watcher's rows and section, added to the same report (fms-bench report leaves "watch.*" lines alone).
if [ "$have_python" = yes ] && grep -q '"bench":"watch\.' "$results"; then
    python3 "$here/watch-report.py" "$results" "$doc" || echo "bench: the watcher report failed" >&2
fi
echo "bench: done in $(( $(date +%s) - started )) s" >&2
