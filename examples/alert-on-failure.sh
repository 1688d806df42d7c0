#!/usr/bin/env bash
# alert-on-failure.sh: run a command (a backup, a cron job); if it fails, send a flash-push
# alert naming the host, the job and the exit status. Exits with the command's own status.
#
# Usage:  alert-on-failure.sh [-n JOB] [-t TEMPLATE] [-m MOBILE]... [--] COMMAND [ARG...]
#
#   -n JOB       the job's name in the alert (default: the command's file name)
#   -t TEMPLATE  template id (default: $FMS_ALERT_TEMPLATE)
#   -m MOBILE    who to alert; repeatable (default: $FMS_ALERT_MOBILES, separated by
#                spaces or commas)
#
# The account comes from the environment, as for fms itself: FMS_URL, FMS_APP_ID and
# FMS_SECRET_KEY_FILE (see fms.env.example). FMS_BIN names the fms binary (default: fms
# on PATH). Register the template once; it has the variables host, job and code:
#
#   fms template report '【告警】{host} 上的 {job} 失败，退出码 {code}'
#
# In a crontab, with the settings in /etc/fms/fms.env:
#
#   0 3 * * *  set -a; . /etc/fms/fms.env; set +a; /usr/local/bin/alert-on-failure.sh -n backup -- /usr/local/bin/backup-db
#
# The command's output and input pass through untouched. When the alert cannot be sent,
# the reason goes to stderr, and the exit status is still the command's: the job's
# outcome matters more than the alert's. A send that fails with a temporary error (exit
# 75) or an unreachable gateway (69) is retried twice, ten seconds apart.
set -uo pipefail

fms=${FMS_BIN:-fms}
job=''
template=${FMS_ALERT_TEMPLATE:-}
mobiles=()

usage() {
    echo "usage: alert-on-failure.sh [-n JOB] [-t TEMPLATE] [-m MOBILE]... [--] COMMAND [ARG...]" >&2
    exit 64
}

while getopts ':n:t:m:h' option; do
    case $option in
        n) job=$OPTARG ;;
        t) template=$OPTARG ;;
        m) mobiles+=("$OPTARG") ;;
        h) usage ;;
        :) echo "alert-on-failure.sh: -$OPTARG needs a value" >&2; usage ;;
        *) echo "alert-on-failure.sh: unknown option -$OPTARG" >&2; usage ;;
    esac
done
shift $((OPTIND - 1))
(($# > 0)) || usage
if ((${#mobiles[@]} == 0)) && [[ -n ${FMS_ALERT_MOBILES:-} ]]; then
    read -r -a mobiles <<< "${FMS_ALERT_MOBILES//,/ }"
fi
[[ -n $job ]] || job=$(basename -- "$1")

# Run the command; its status is what this script exits with.
status=0
"$@" || status=$?
((status == 0)) && exit 0

host=$(uname -n)
if [[ -z $template ]] || ((${#mobiles[@]} == 0)); then
    echo "alert-on-failure.sh: '$job' failed with status $status on $host, but no alert was sent:" \
         "set FMS_ALERT_TEMPLATE and FMS_ALERT_MOBILES, or pass -t and -m" >&2
    exit "$status"
fi

for mobile in "${mobiles[@]}"; do
    for attempt in 1 2 3; do
        sent=0
        "$fms" send --mobile "$mobile" --template "$template" \
            --var host="$host" --var job="$job" --var code="$status" > /dev/null || sent=$?
        if ((sent == 0)); then
            echo "alert-on-failure.sh: '$job' failed with status $status; alerted $mobile" >&2
            break
        fi
        if ((attempt < 3)) && ((sent == 75 || sent == 69)); then
            sleep 10
            continue
        fi
        echo "alert-on-failure.sh: could not alert $mobile (fms exit status $sent)" >&2
        break
    done
done
exit "$status"
