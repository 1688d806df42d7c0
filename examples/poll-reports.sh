#!/usr/bin/env bash
# poll-reports.sh: fetch flash-push delivery reports and append them to a JSON-lines file,
# one report per line, without ever losing one. Meant for cron.
#
# Usage:  poll-reports.sh REPORTS.jsonl
#
# The account comes from the environment, as for fms itself: FMS_URL, FMS_APP_ID and
# FMS_SECRET_KEY_FILE (see fms.env.example). FMS_BIN names the fms binary (default: fms
# on PATH). Every minute from cron, with the settings in /etc/fms/fms.env:
#
#   * * * * *  set -a; . /etc/fms/fms.env; set +a; /usr/local/bin/poll-reports.sh /var/lib/fms/reports.jsonl
#
# Each line is one report as `fms reports --json` gives it:
#   {"mobile":"…","fmsId":"…","customFmsId":"…","state":"DELIVRD","desc":"成功",
#    "receiveTime":"…","submitTime":"…"}
#
# Why the care: the gateway hands out each report once, so reports fetched and then lost
# (a full disk, a crash, a reboot) are gone for good. So:
#   1. `fms reports --json --max 500` (one call) writes into a spool directory next to the
#      output, REPORTS.jsonl.spool/; the file is flushed to disk, then renamed into place:
#      a spool file is either complete or absent;
#   2. its reports are appended to REPORTS.jsonl, flushed, and only then is the spool file
#      removed. The size of REPORTS.jsonl before the append is noted first, so that after a
#      crash the next run cuts off a half-done append and redoes it: every report lands in
#      REPORTS.jsonl exactly once;
#   3. while a call returns 500 reports (the most one call gives), it fetches again, up to
#      FMS_POLL_ROUNDS (default 20) calls per run.
# A fetch cut short (fms killed while writing) cannot be told apart from garbage: it is kept
# as REPORTS.jsonl.spool/broken-* for a look by hand, and said so on stderr.
# A lock (flock on REPORTS.jsonl.lock) keeps overlapping runs apart: a run that finds
# another one still going exits 0 at once. Readers of REPORTS.jsonl should skip a last
# line without a newline: an append may be under way.
#
# Exit status: 0; or fms's own status when a fetch failed (75: try again later, 78: check
# the settings...), after keeping whatever was fetched before; or another non-zero status
# for a local problem such as a full disk, in which case the spool keeps the reports for
# the next run. Uses jq when installed, else sed.
set -euo pipefail

fms=${FMS_BIN:-fms}
rounds=${FMS_POLL_ROUNDS:-20}
per_call=500

if (($# != 1)); then
    echo "usage: poll-reports.sh REPORTS.jsonl" >&2
    exit 64
fi
out=$1
spool=$out.spool
mkdir -p "$spool"
touch "$out"

exec 9>> "$out.lock"
if ! flock -n 9; then
    exit 0                                   # another run is polling right now
fi

# to_lines FILE: the JSON array in FILE, one element per line.
to_lines() {
    if command -v jq > /dev/null; then
        jq -c '.[]' "$1"
    else
        # fms --json prints the array compactly on one line, and every report is a flat
        # object: a quote inside a string is always escaped, so `},{"` only occurs
        # between two reports.
        sed -e 's/^\[//' -e 's/\]$//' -e 's/},{"/}\n{"/g' "$1" | sed '/^$/d'
    fi
}

# append FILE: appends the reports of spool FILE to $out exactly once, then removes FILE.
# Sets `appended` to the number of reports it held.
append() {
    local file=$1 lines=$1.lines start
    to_lines "$file" > "$lines"
    appended=$(wc -l < "$lines")
    if [[ -f $file.size ]]; then
        # A previous run stopped during or after this very append: undo it, then redo it.
        start=$(cat "$file.size")
        if (($(stat -c %s "$out") > start)); then
            truncate -s "$start" "$out"
        fi
    else
        stat -c %s "$out" > "$file.size.tmp"
        sync "$file.size.tmp"
        mv "$file.size.tmp" "$file.size"
    fi
    cat "$lines" >> "$out"
    sync "$out"
    rm -f "$file"
    rm -f "$file.size" "$lines"
}

# spool_name: a new spool file name; names sort in the order of fetching.
spool_name() { echo "$spool/$(date -u +%Y%m%dT%H%M%S.%N)-$$.json"; }

# First, finish what an earlier run left behind, oldest first.
rm -f "$spool"/*.size.tmp
for fetch in "$spool"/fetch.*; do
    [[ -e $fetch ]] || continue
    if [[ ! -s $fetch ]]; then
        rm -f "$fetch"                         # that call printed nothing: nothing lost
    elif [[ $(tail -c 2 "$fetch" | od -An -c | tr -d ' ') == ']\n' ]]; then
        mv "$fetch" "$spool/$(date -u -r "$fetch" +%Y%m%dT%H%M%S.%N)-recovered.json"
    else
        mv "$fetch" "$spool/broken-${fetch##*/}"
        echo "poll-reports.sh: kept an incomplete fetch as $spool/broken-${fetch##*/}" >&2
    fi
done
for file in "$spool"/*.json; do
    [[ -e $file ]] || continue
    append "$file"
done
for size in "$spool"/*.json.size; do       # left when a run stopped just before the end
    [[ -e $size ]] || continue
    [[ -e ${size%.size} ]] || rm -f "$size"
done

status=0
for ((round = 1; round <= rounds; round++)); do
    fetch=$(mktemp "$spool/fetch.XXXXXX")
    "$fms" reports --json --max "$per_call" > "$fetch" || status=$?
    if ((status != 0)); then
        echo "poll-reports.sh: fms reports failed with status $status" >&2
        if [[ -s $fetch ]]; then                # a failed call prints nothing, normally
            mv "$fetch" "$spool/broken-${fetch##*/}"
            echo "poll-reports.sh: kept its output as $spool/broken-${fetch##*/}" >&2
        else
            rm -f "$fetch"
        fi
        break
    fi
    sync "$fetch"
    file=$(spool_name)
    mv "$fetch" "$file"
    sync "$spool"
    append "$file"
    ((appended == per_call)) || break
done
exit "$status"
