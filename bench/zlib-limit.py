#!/usr/bin/env python3
"""The zlib half of the codec's limit: gzip compress + decompress of a file, as fms does it.

usage: zlib-limit.py FILE [SECONDS] [LEVEL]

Same parameters as Gzip.compress in FMSProtocol: deflate, windowBits 15 + 16 (gzip wrapper),
memLevel 8, default strategy, level 6 (zlib's default). Times are CPU seconds of this thread
(time.thread_time), best of 10 rounds, like fms-bench. Prints one JSON line.
"""
import json
import sys
import time
import zlib


def best(operation, budget, rounds=10):
    for _ in range(3):
        operation()
    fastest = float("inf")
    for _ in range(rounds):
        start = time.thread_time()
        count = 0
        elapsed = 0.0
        while (elapsed < budget / rounds or count < 3) and count < 1_000_000:
            operation()
            count += 1
            elapsed = time.thread_time() - start
        fastest = min(fastest, elapsed / count)
    return fastest


def main():
    path = sys.argv[1]
    budget = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    level = int(sys.argv[3]) if len(sys.argv) > 3 else 6
    with open(path, "rb") as handle:
        data = handle.read()

    def compress():
        engine = zlib.compressobj(level, zlib.DEFLATED, 31, 8, zlib.Z_DEFAULT_STRATEGY)
        return engine.compress(data) + engine.flush()

    packed = compress()
    assert zlib.decompress(packed, 31) == data
    compress_seconds = best(compress, budget / 2)
    decompress_seconds = best(lambda: zlib.decompress(packed, 31), budget / 2)
    print(json.dumps({
        "bench": "limit.zlib",
        "source": "python3 zlib %s, level %d" % (zlib.ZLIB_RUNTIME_VERSION, level),
        "zlibVersion": zlib.ZLIB_RUNTIME_VERSION,
        "level": level,
        "jsonBytes": len(data),
        "gzipBytes": len(packed),
        "compressSeconds": compress_seconds,
        "decompressSeconds": decompress_seconds,
    }))


if __name__ == "__main__":
    main()
