#!/bin/sh
# Regenerates every known-answer vector in this folder with independent tools
# (printf, OpenSSL's command line, GNU gzip, yes/head). Run from this folder:
#     sh make-fixtures.sh
# The outputs are committed; the tests never run this script.
set -eu
LC_ALL=C; export LC_ALL

# The three AES keys: ASCII strings used byte for byte as the key (no derivation).
KEY128=FlashPushKey2019                    # 16 bytes -> AES-128
KEY192=FlashPushKey2019AES192!!            # 24 bytes -> AES-192
KEY256=FlashPushKey2019AES256-ThirtyTwo    # 32 bytes -> AES-256
WRONG=WrongKeyWrongKey                     # 16 bytes, used only to prove "bad decrypt"
HEX128=$(printf %s "$KEY128" | xxd -p -c 64)   # 466c617368507573684b657932303139
HEX192=$(printf %s "$KEY192" | xxd -p -c 64)   # 466c617368507573684b6579323031394145533139322121
HEX256=$(printf %s "$KEY256" | xxd -p -c 64)   # 466c617368507573684b6579323031394145533235362d54686972747954776f

# 1. A sendBatchFMS request body (secure interface: no appId), 3 messages, UTF-8 with
#    Chinese text, an embedded quote and a '/', compact, no trailing newline.
printf '%s' '{"templateId":"7883922","fmses":[{"mobile":"15900000001","customFmsId":"2018010709302911","content":{"age":"10","name":"小明"}},{"mobile":"13700000002","customFmsId":"2018010709302912","content":{"age":"12","name":"小红"}},{"mobile":"13500000003","content":{"age":"99","name":"张三丰 \"老\" a/b"}}],"requestTime":1490588340964,"requestValidPeriod":30}' > batch.json

# 2. gzip (no name, no mtime) and gzip with a stored file name and mtime (FNAME header flag).
gzip -n -c batch.json > batch.json.gz
gzip -9 -N -c batch.json > batch.json.named.gz

# 3. AES/ECB/PKCS#7 (openssl's default padding; -K gives the raw key, ECB has no IV).
openssl enc -aes-128-ecb -K "$HEX128" -in batch.json    -out batch.json.aes128
openssl enc -aes-192-ecb -K "$HEX192" -in batch.json    -out batch.json.aes192
openssl enc -aes-256-ecb -K "$HEX256" -in batch.json    -out batch.json.aes256
# The full secure pipeline: gzip, then AES.
openssl enc -aes-128-ecb -K "$HEX128" -in batch.json.gz -out batch.json.gz.aes128
openssl enc -aes-192-ecb -K "$HEX192" -in batch.json.gz -out batch.json.gz.aes192
openssl enc -aes-256-ecb -K "$HEX256" -in batch.json.gz -out batch.json.gz.aes256

# 4. Padding edge cases: empty plaintext (one whole block of padding) and exactly 16 bytes
#    (a second block of padding).
: > empty.bin
openssl enc -aes-128-ecb -K "$HEX128" -in empty.bin -out empty.bin.aes128
printf '%s' '0123456789ABCDEF' > sixteen.txt
openssl enc -aes-128-ecb -K "$HEX128" -in sixteen.txt -out sixteen.txt.aes128

# 5. A block that decrypts (with the right key) to sixteen 0x00 bytes: its "padding byte"
#    is 0, which is never valid, so decrypting it must fail with bad padding.
head -c 16 /dev/zero > zeros16.bin
openssl enc -aes-128-ecb -nopad -K "$HEX128" -in zeros16.bin -out zeros16.nopad.aes128
rm zeros16.bin
# Proof that both bad-padding vectors are refused by openssl itself ("bad decrypt"):
if openssl enc -d -aes-128-ecb -K "$HEX128" -in zeros16.nopad.aes128 -out /dev/null 2>/dev/null; then
  echo "zeros16.nopad.aes128 unexpectedly decrypts" >&2; exit 1; fi
if openssl enc -d -aes-128-ecb -K "$(printf %s "$WRONG" | xxd -p -c 64)" -in batch.json.aes128 -out /dev/null 2>/dev/null; then
  echo "batch.json.aes128 unexpectedly decrypts with the wrong key" >&2; exit 1; fi

# 6. A larger, highly compressible text (exercises output-buffer growth when inflating):
#    5000 lines of "闪推测试 FlashPush 0123456789" each followed by "\n".
yes '闪推测试 FlashPush 0123456789' | head -n 5000 | gzip -n -9 > big.txt.gz

# Checksums of everything above, for review.
sha256sum batch.json batch.json.gz batch.json.named.gz batch.json.aes128 batch.json.aes192 \
  batch.json.aes256 batch.json.gz.aes128 batch.json.gz.aes192 batch.json.gz.aes256 empty.bin \
  empty.bin.aes128 sixteen.txt sixteen.txt.aes128 zeros16.nopad.aes128 big.txt.gz > SHA256SUMS
