#!/usr/bin/env bash
# cron-queue.sh: queue flash-push messages from any script, and send them from cron, through
# the durable outbox of fms (see fms-outbox(7)). A pair of commands:
#
# Usage:  cron-queue.sh queue --mobile M --template T [--var NAME=VALUE]... [--id ID]
#         cron-queue.sh drain
#
# queue  stores one message in the outbox with `fms send --queue` and prints what fms prints:
#        MOBILE, "queued" and the message's customFmsId, separated by tabs. It makes no
#        network call and needs no account settings: exit status 0 means the message is on
#        disk and a drain will send it. While another fms holds the outbox (a drain, or
#        `fms watch`), fms hands the message over to it through STATE/intake.d/ and still
#        exits 0. It retries a 75 (a temporary failure, such as a full disk being cleaned
#        up) for up to FMS_QUEUE_PATIENCE seconds (default 75).
# drain  for cron, every minute: `fms outbox drain --wait 50`, which sends what is pending
#        (retrying what failed, on fms's schedule) and ends before the next minute. It prints
#        nothing while all is well, so that cron mails only problems: the dead letters that
#        appeared since the last run (messages that cannot be sent, listed once each), a
#        backlog whose oldest message has waited more than FMS_STALE_AFTER seconds (default
#        900), and errors such as a missing setting.
#
# The account comes from the environment, as for fms itself: FMS_URL, FMS_APP_ID and
# FMS_SECRET_KEY_FILE (see fms.env.example); the drain needs them, the queue does not.
# FMS_STATE_DIR picks the outbox (default: /var/lib/fms for root, else
# ~/.local/state/fms); both halves must use the same one. FMS_BIN names the fms binary
# (default: fms on PATH). The drain notes the dead letters it has reported in the file
# cron-queue.dead-seen in the state directory.
#
# In a crontab, with the settings in /etc/fms/fms.env:
#
#   * * * * *  set -a; . /etc/fms/fms.env; set +a; /usr/local/bin/cron-queue.sh drain
#
# and from any script, as the same user:
#
#   cron-queue.sh queue --mobile 13800138000 --template 91795655497594000001 \
#       --var host="$(hostname)" --var message='disk 95%'
#
# Look at dead letters with `fms outbox list --state dead` and `fms outbox show ID`; send
# them again once the cause is fixed with `fms outbox retry ID...` (the next drain sends
# them), or delete them with `fms outbox purge --dead`.
#
# Exit status: queue: fms's (0 queued, 64 wrong arguments, 65 a bad message, 75 the outbox
# stayed busy, 74 the state directory is unusable). drain: 0 when all is well, even while
# messages wait for the gateway; 65 when new dead letters appeared; 75 when the backlog is
# older than FMS_STALE_AFTER; otherwise fms's own status (78: a setting is missing...).
set -uo pipefail

fms=${FMS_BIN:-fms}
patience=${FMS_QUEUE_PATIENCE:-75}
stale_after=${FMS_STALE_AFTER:-900}
drain_wait=${FMS_DRAIN_WAIT:-50}

usage() {
    echo "usage: cron-queue.sh queue --mobile M --template T [--var NAME=VALUE]... [--id ID]" >&2
    echo "       cron-queue.sh drain" >&2
    exit 64
}

# The state directory, chosen as fms chooses it (fms-outbox(7), FILES).
state_dir() {
    if [[ -n ${FMS_STATE_DIR:-} ]]; then
        echo "$FMS_STATE_DIR"
    elif [[ -n ${STATE_DIRECTORY:-} ]]; then
        echo "${STATE_DIRECTORY%%:*}"
    elif ((EUID == 0)); then
        echo /var/lib/fms
    elif [[ -n ${XDG_STATE_HOME:-} ]]; then
        echo "$XDG_STATE_HOME/fms"
    else
        echo "$HOME/.local/state/fms"
    fi
}

errors=$(mktemp)
trap 'rm -f "$errors"' EXIT

queue() {
    local deadline=$((SECONDS + patience)) status output
    while :; do
        status=0
        output=$("$fms" send --queue "$@" 2> "$errors") || status=$?
        # 75 from `send --queue` means another fms holds the outbox: wait for it to finish.
        if ((status == 75 && SECONDS < deadline)); then
            sleep 1
            continue
        fi
        break
    done
    [[ -n $output ]] && printf '%s\n' "$output"
    cat "$errors" >&2
    return "$status"
}

drain() {
    local status=0 stats dead oldest seen_file seen=0 fresh result=0
    "$fms" outbox drain --wait "$drain_wait" > /dev/null 2> "$errors" || status=$?
    # 75: messages still pending (the gateway is down, or a retry is not due yet), or
    # another fms holds the outbox. Both are normal; the backlog check below catches a
    # problem that lasts.
    if ((status != 0 && status != 75)); then
        cat "$errors" >&2
        return "$status"
    fi

    status=0
    stats=$("$fms" outbox stats --json 2> "$errors") || status=$?
    if ((status == 75)); then
        return 0                                 # busy: another fms is sending
    elif ((status != 0)); then
        cat "$errors" >&2
        return "$status"
    fi
    dead=$(sed -n 's/.*"dead":\([0-9]*\).*/\1/p' <<< "$stats")
    oldest=$(sed -n 's/.*"oldestPendingSeconds":\([0-9]*\).*/\1/p' <<< "$stats")

    # Dead letters not reported before: those whose outbox id is above the last one seen.
    if ((${dead:-0} > 0)); then
        seen_file=$(state_dir)/cron-queue.dead-seen
        [[ -s $seen_file ]] && seen=$(< "$seen_file")
        fresh=$("$fms" outbox list --state dead --limit 1000000 2> "$errors" |
                    awk -F '\t' -v seen="$seen" '$1 + 0 > seen + 0')
        if [[ -n $fresh ]]; then
            echo "cron-queue.sh: $(wc -l <<< "$fresh") new dead letter(s), not sent" \
                 "(id, state, customFmsId, mobile, template, attempts, error):" >&2
            printf '%s\n' "$fresh" >&2
            echo "cron-queue.sh: retry with 'fms outbox retry ID...' once the cause is fixed," \
                 "or delete with 'fms outbox purge --dead'" >&2
            cut -f 1 <<< "$fresh" | sort -n | tail -n 1 > "$seen_file"
            result=65
        fi
    fi

    if [[ -n $oldest ]] && ((oldest > stale_after)); then
        echo "cron-queue.sh: messages have been waiting for ${oldest}s; the gateway has not" \
             "taken them yet (see 'fms outbox list --state pending')" >&2
        ((result == 0)) && result=75
    fi
    return "$result"
}

(($# >= 1)) || usage
mode=$1
shift
case $mode in
    queue) (($# > 0)) || usage; queue "$@" ;;
    drain) (($# == 0)) || usage; drain ;;
    *) usage ;;
esac
