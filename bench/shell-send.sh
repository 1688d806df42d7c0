#!/usr/bin/env bash
# The tool a user would otherwise reach for: single sends from a shell loop.
#
# usage: bench/shell-send.sh URL APP_ID KEY_FILE TEMPLATE_ID [N [MAX_SECONDS]]
#
# Per message: printf the sendSingleFMS JSON | gzip -c | openssl enc -aes-<bits>-ecb -K <hex key>
# | curl --data-binary @- with the appId and `gzip: on` headers, then check the `result: SUCCESS`
# response header. Stops after N messages (default 200) or MAX_SECONDS (default 10), whichever
# comes first. Talks to 127.0.0.1 only. Prints one JSON line:
# {"bench":"shell.single","sent":…,"failed":…,"seconds":…,"perSecond":…}
set -u

if [ $# -lt 4 ]; then
    echo "usage: $0 URL APP_ID KEY_FILE TEMPLATE_ID [N [MAX_SECONDS]]" >&2
    exit 64
fi
url=$1 app_id=$2 key_file=$3 template_id=$4
count=${5:-200}
max_seconds=${6:-10}
case $url in
    http://127.0.0.1:*) ;;
    *) echo "$0: refusing '$url': the benchmark only talks to http://127.0.0.1" >&2; exit 64 ;;
esac
for tool in gzip openssl curl; do
    command -v "$tool" >/dev/null || { echo "$0: $tool is not installed" >&2; exit 69; }
done

# The key file holds the secretKey text (one trailing line break allowed); AES uses its bytes as-is.
key=$(head -n 1 "$key_file" | tr -d '\r\n')
hex_key=$(printf '%s' "$key" | od -An -v -tx1 | tr -d ' \n')
case ${#key} in
    16) cipher=aes-128-ecb ;;
    24) cipher=aes-192-ecb ;;
    32) cipher=aes-256-ecb ;;
    *) echo "$0: the key must be 16, 24 or 32 bytes, not ${#key}" >&2; exit 78 ;;
esac

names=(张伟 王芳 李娜 刘洋 陈静 杨帆 赵磊 黄敏)
stores=(上海徐汇店 北京朝阳门店 深圳南山科技园店 杭州西湖店)
shopt -s nocasematch

# Microseconds from bash's clock (no fork), for the bounds, the rate and requestTime.
start=${EPOCHREALTIME/./}
deadline=$(( start + max_seconds * 1000000 ))
sent=0 failed=0 first_error=""
for (( i = 0; i < count; i++ )); do
    now=${EPOCHREALTIME/./}
    (( now < deadline )) || break
    mobile=$(printf '138%08d' $(( (i * 7919) % 100000000 )))
    # requestTime in milliseconds, stamped per request as a real sender would.
    headers=$(printf '{"mobile":"%s","templateId":"%s","content":{"code":"%06d","name":"%s","store":"%s"},"customFmsId":"sh-%08d","requestTime":%d,"requestValidPeriod":60}' \
                  "$mobile" "$template_id" $(( (i * 104729) % 1000000 )) "${names[i % 8]}" "${stores[i % 4]}" "$i" $(( now / 1000 )) \
              | gzip -c -6 \
              | openssl enc -"$cipher" -K "$hex_key" \
              | curl -s --max-time 5 -o /dev/null -D - --data-binary @- \
                     -H "appId: $app_id" -H "gzip: on" -H "Content-Type: application/octet-stream" \
                     "$url/fms/secure/sendSingleFMS")
    if [[ $headers == *"result: SUCCESS"* ]]; then
        sent=$(( sent + 1 ))
    else
        failed=$(( failed + 1 ))
        if [ -z "$first_error" ]; then
            first_error=$(printf '%s' "$headers" | tr -d '\r"\\' | tr '\n' ' ' | cut -c1-200)
        fi
    fi
done
end=${EPOCHREALTIME/./}
elapsed_us=$(( end - start ))
(( elapsed_us > 0 )) || elapsed_us=1
rate=$(awk -v n="$sent" -v us="$elapsed_us" 'BEGIN { printf "%.3f", n / (us / 1e6) }')
seconds=$(awk -v us="$elapsed_us" 'BEGIN { printf "%.3f", us / 1e6 }')
error_member=""
[ -z "$first_error" ] || error_member=",\"error\":\"$first_error\""
printf '{"bench":"shell.single","sent":%d,"failed":%d,"seconds":%s,"perSecond":%s%s}\n' \
    "$sent" "$failed" "$seconds" "$rate" "$error_member"
