#!/usr/bin/env bash
# A guided tour of every fms command against the embedded gateway simulator.
#
# Usage:  make demo
#    or:  FMS_BIN=/path/to/fms bash examples/demo/walkthrough.sh
#
# FMS_BIN defaults to .build/debug/fms at the root of the repository. The script starts
# `fms sim` on a free loopback port with a throwaway key in a temporary directory, walks
# through template report and query, send, batch, reports, balance, run and check, shows a
# deliberate mistake and its exit status, stops the simulator and exits 0. It needs only
# bash, coreutils, grep and sed, touches nothing outside its temporary directory, and ends
# by itself in a few seconds. Your own FMS_* settings are ignored: the demo talks to its
# simulator only. Colours only when stdout is a terminal (and NO_COLOR is unset).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
FMS_BIN=${FMS_BIN:-$root/.build/debug/fms}
if [[ ! -x $FMS_BIN ]]; then
    echo "walkthrough: no fms binary at '$FMS_BIN': run 'make demo', or set FMS_BIN" >&2
    exit 66
fi

# Colours only when a person is watching.
if [[ -t 1 && -z ${NO_COLOR:-} ]]; then
    bold=$'\e[1m' dim=$'\e[2m' green=$'\e[32m' red=$'\e[31m' reset=$'\e[0m'
else
    bold='' dim='' green='' red='' reset=''
fi

# ---------------------------------------------------------------------------------------
# Helpers

step_number=0
# step TITLE: prints a numbered heading.
step() {
    step_number=$((step_number + 1))
    printf '\n%s%d. %s%s\n' "$bold" "$step_number" "$1" "$reset"
}

# note TEXT: one line of explanation.
note() { printf '%s%s%s\n' "$dim" "$1" "$reset"; }

# quote ARG...: the arguments as a shell would need them typed.
quote() {
    local out='' arg
    for arg in "$@"; do
        if [[ $arg =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
            out+="$arg "
        else
            out+="'${arg//\'/\'\\\'\'}' "
        fi
    done
    printf '%s' "${out% }"
}

# run COMMAND...: shows the command, then runs it.
run() {
    printf '%s$ %s%s\n' "$green" "$(quote "$@")" "$reset"
    "$@"
}

# capture VAR COMMAND...: like run, and also keeps the command's output in VAR.
capture() {
    local name=$1 output
    shift
    printf '%s$ %s%s\n' "$green" "$(quote "$@")" "$reset"
    output=$("$@")
    printf '%s\n' "$output"
    printf -v "$name" '%s' "$output"
}

# die MESSAGE: explains what went wrong and stops (the trap cleans up).
die() {
    printf '%swalkthrough: %s%s\n' "$red" "$1" "$reset" >&2
    explained=yes
    exit 1
}

# The commands below are printed exactly as they run: `fms` is this function.
fms() { "$FMS_BIN" "$@"; }

# ---------------------------------------------------------------------------------------
# A temporary directory for the key and the simulator's output, removed on any exit.

work=$(mktemp -d "${TMPDIR:-/tmp}/fms-demo.XXXXXX")
sim_pid=''
explained=''
cleanup() {
    local status=$?
    if (( status != 0 && status != 130 && status != 143 )) && [[ -z $explained ]]; then
        printf '%swalkthrough: step %d failed (exit status %d)%s\n' "$red" "$step_number" "$status" "$reset" >&2
    fi
    if [[ -n $sim_pid ]] && kill -0 "$sim_pid" 2>/dev/null; then
        kill -TERM "$sim_pid" 2>/dev/null || true
        wait "$sim_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Only the settings below count: a secret key or mode from the caller would override them.
unset FMS_SECRET_KEY FMS_MODE CREDENTIALS_DIRECTORY

printf '%sFlashPush walkthrough%s: fms is %s\n' "$bold" "$reset" "$FMS_BIN"

# ---------------------------------------------------------------------------------------
step "Start the gateway simulator"
note "A 16-byte AES key for the demo account, readable by its owner only:"
key_file=$work/secret-key
printf '%s$ printf %%s demo-key-0123456 > %s; chmod 0600 %s%s\n' "$green" "$key_file" "$key_file" "$reset"
(umask 077 && printf '%s' 'demo-key-0123456' > "$key_file")
chmod 0600 "$key_file"
note "The simulator listens on a free loopback port and prints its URL as its first line."
sim_arguments=(sim --port 0 --secret-key-file "$key_file" --app-id DEMO-APP --balance 1000
               --review-delay 1 --report-delay 1 --fail-mobile 13900000002 --no-rate-limits)
printf '%s$ %s > %s &%s\n' "$green" "$(quote fms "${sim_arguments[@]}")" "$work/sim.out" "$reset"
: > "$work/sim.out"
# Started directly, not through the fms function, so that $! is the simulator itself.
"$FMS_BIN" "${sim_arguments[@]}" > "$work/sim.out" 2> "$work/sim.err" &
sim_pid=$!

base_url=''
for _ in $(seq 100); do                      # up to 10 s
    if IFS= read -r base_url < "$work/sim.out"; then break; fi
    base_url=''
    if ! kill -0 "$sim_pid" 2>/dev/null; then
        cat "$work/sim.err" >&2
        die "the simulator exited before printing its URL"
    fi
    sleep 0.1
done
[[ -n $base_url ]] || die "the simulator printed no URL within 10 seconds"
[[ $base_url == http://* ]] || die "the simulator's first line is not a URL: '$base_url'"
echo "$base_url"

export FMS_URL=$base_url FMS_APP_ID=DEMO-APP FMS_SECRET_KEY_FILE=$key_file
# The demo's outbox lives in its temporary folder, not in the user's real state directory.
export FMS_STATE_DIR=$(dirname "$key_file")/state
note "Account settings for every command that follows:"
printf '%s$ export FMS_URL=%s FMS_APP_ID=%s FMS_SECRET_KEY_FILE=%s%s\n' \
    "$green" "$FMS_URL" "$FMS_APP_ID" "$(quote "$FMS_SECRET_KEY_FILE")" "$reset"

# ---------------------------------------------------------------------------------------
step "Register an alert template with two variables"
capture template fms template report '【运维】{host} 告警：{message}'
[[ -n $template ]] || die "template report printed no id"

step "Ask the carriers about it: still under review"
run fms template query "$template"

step "Wait for the review"
note "The simulator approves templates after --review-delay (1 s here); real carriers take longer."
approved=no
for _ in $(seq 50); do                       # up to 10 s
    if [[ $(fms template query "$template" | grep -c $'\tapproved$') == 3 ]]; then
        approved=yes
        break
    fi
    sleep 0.2
done
[[ $approved == yes ]] || die "the template was not approved within 10 seconds"
run fms template query "$template"

step "Send one alert"
note "Prints the mobile, the gateway's fmsId and your own id, tab-separated."
run fms send --mobile 13800138000 --template "$template" \
    --var host=db1 --var message='磁盘使用率 95%' --id alert-db1-1

step "Send to everyone on call from a CSV file"
note "oncall.csv: one row per message; the 'id' column is your id, the others are variables:"
sed 's/^/    /' "$here/oncall.csv"
run fms batch --template "$template" "$here/oncall.csv"

step "Wait for the delivery reports"
note "Reports come --report-delay after sending (1 s here); 13900000002 is set to fail."
sleep 1.5

step "Fetch the delivery reports"
note "Each report is handed out once: a second 'fms reports' would print nothing."
capture reports fms reports
[[ $reports == *FAIL_UNKNOW* ]] || die "expected a FAIL_UNKNOW report for 13900000002"

step "Check the balance"
note "1000 to start with, one per accepted message."
run fms balance

step "The same from a Lua script, run once"
note "fms run gives a script the fms module; its gateway calls wait for the answer."
run fms run -e 'print("balance from Lua: " .. fms.balance())'

step "Queue messages durably, then drain the outbox"
note "'fms send --queue' stores the message in the outbox (a local SQLite database) and returns at once;"
note "'fms outbox drain' sends what is queued, retrying what can succeed later. fms.send in Lua queues the same way;"
note "with --wait 0 the script does not wait for delivery: it exits 75 saying its message is still pending."
run fms send --queue --mobile 13800138001 --template "$template" --var host=web1 --var message="queued alert"
run fms run -e "fms.send{ mobile = '13800138002', template = '$template', vars = { host = 'web2', message = 'from Lua' } }" --wait 0 || true
run fms outbox stats
run fms outbox drain --wait 20
run fms outbox list --limit 3

step "Check a rules file without sending anything"
note "Rules register handlers; 'fms check' loads them and lists what they register."
rules_file=$work/rules.lua
cat > "$rules_file" <<'LUA'
-- Warn about failed deliveries, and log the balance every five minutes.
fms.on_report{ state = "FAIL_*", handler = function(report)
    fms.log.warn("delivery to " .. report.mobile .. " failed: " .. report.state)
end }
fms.every("5m", function() fms.log.info("balance: " .. fms.balance()) end)
LUA
sed 's/^/    /' "$rules_file"
run fms check "$rules_file"

step "A deliberate mistake: a number that is not a mobile number"
note "Nothing is sent; the error goes to stderr and the exit status says why (65: bad data)."
status=0
run fms send --mobile 12345 --template "$template" --var host=db1 --var message=test || status=$?
echo "exit status: $status"
[[ $status == 65 ]] || die "expected exit status 65, got $status"

step "Stop the simulator"
run kill -TERM "$sim_pid"
sim_status=0
wait "$sim_pid" || sim_status=$?
sim_pid=''
echo "the simulator exited with status $sim_status"
[[ $sim_status == 0 ]] || die "the simulator did not stop cleanly"

# ---------------------------------------------------------------------------------------
printf '\n%sSummary%s\n' "$bold" "$reset"
cat <<'EOF'
You registered a template with 'fms template report' and watched the carriers approve it
with 'fms template query'; sent one alert with 'fms send' and a CSV file of them with
'fms batch'; collected the delivery reports with 'fms reports' (one failure, as the
simulator was told); read the balance with 'fms balance', and again from Lua with
'fms run'; queued messages in the durable outbox and drained it with 'fms outbox drain';
checked a rules file with 'fms check'; and saw a bad mobile number refused with
exit status 65 before anything was sent. Point FMS_URL, FMS_APP_ID and FMS_SECRET_KEY_FILE
at your real account to do the same for real; 'man fms' and the scripts in examples/ show
more.
EOF
