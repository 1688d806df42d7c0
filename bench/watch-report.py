#!/usr/bin/env python3
"""Turns the "watch.*" lines of a benchmark run into the Watcher section of docs/benchmarks.md.

usage: watch-report.py RESULTS [DOC]

RESULTS is the JSON-lines file of bench/run.sh (or of bench/watch-bench.py alone). Prints a
summary; with DOC, inserts into that Markdown file (written by `fms-bench report` just before)
four rows at the end of its Goals table and a "## Watcher" section before "## Reproduce",
replacing those of an earlier insertion. Every ratio is computed from figures of RESULTS only.
"""
import json
import sys

GOAL_P99_MS = 1.0          # fms's p99 within this much of inotifywait's
GOAL_RSS_MIB = 30.0        # idle resident memory with 100 rules
MARK = "Watcher:"          # the first cell of the goal rows this script adds


def load(path):
    records = []
    with open(path) as handle:
        for line in handle:
            line = line.strip()
            if line.startswith("{"):
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
    return records


def find(records, bench, **match):
    for record in records:
        if record.get("bench") == bench and all(record.get(k) == v for k, v in match.items()):
            return record
    return None


def number(value, digits=0):
    return f"{value:,.{digits}f}"


def msf(value):
    if value is None:
        return "-"
    return f"{value:.3f} ms" if value < 10 else f"{value:.1f} ms"


def cell(text):
    return str(text).replace("|", "\\|")


def build(records):
    facts = find(records, "watch.facts") or {}
    lat = lambda mode, observer: find(records, "watch.latency", mode=mode, observer=observer)
    goals, console, md = [], [], []
    if not facts:
        return goals, console, md

    have_iw, have_ls = bool(facts.get("inotifywait")), bool(facts.get("lsyncd"))
    md.append("\n## Watcher: `fms watch` beside inotifywait and lsyncd\n")
    md.append("`bench/watch-bench.py` measures `fms watch --dry-run` (no gateway, no outbox) beside `inotifywait -m` "
              f"({facts.get('inotifywait') or 'not installed'}; the **limit**: the kernel's event printed to a pipe, nothing else) "
              f"and `lsyncd` ({(facts.get('lsyncd') or 'not installed').replace('Version: ', '')}; the **peer**: a daemon "
              "that runs Lua on file events), all three on the same folder of a "
              f"{facts.get('filesystem', '?')} file system (the disk and its journal stay out of the figures). "
              "lsyncd runs a layer-1 `action` with `delay = 0` that writes each event's path to a FIFO and discards the event "
              "(no rsync, no process spawned). lsyncd's Lua has no clock finer than a second (`os.time`; its `now()` counts "
              "jiffies), so its time is taken where the FIFO is read, exactly as for inotifywait, whose stdout is a pipe: "
              "by a reader (`watch-bench.py reader`, python3) that blocks in `read(2)` and calls `time.time()` the moment a "
              "line arrives. The fms rule's handler, `fms.watch{ path = DIR, on = { \"create\" }, handler = … }`, calls "
              "`fms.now()` first, then writes the name to a FIFO read by the same reader: the **FIFO** figure is measured "
              "exactly as the limit's and the peer's (goals use it); `fms.now()` is fms's own figure, without the pipe and "
              "the reader's wake-up; `ev.time` is when fms's watcher thread took the event from inotify (before the hand-off "
              "to the Lua handler on a Swift concurrency thread).\n")

    # -- latency ---------------------------------------------------------------------------------
    alone_iw, alone_ls, alone_pipe = lat("alone", "inotifywait"), lat("alone", "lsyncd"), lat("alone", "fms-pipe")
    tog_iw, tog_ls, tog_pipe = lat("together", "inotifywait"), lat("together", "lsyncd"), lat("together", "fms-pipe")
    any_lat = alone_pipe or tog_pipe
    if any_lat:
        sample = alone_pipe or tog_pipe
        reps = len(sample.get("rounds", [])) or 1
        set_aside = sum(r.get("setAside", 0) for r in records if r.get("bench") == "watch.latency"
                        and (r.get("observer") in ("inotifywait", "lsyncd", "fms-pipe") and r.get("mode") == "alone"
                             or r.get("observer") == "fms-pipe" and r.get("mode") == "together"))
        md.append(f"**Latency**, file event → handler: a writer (python3) creates files at a steady pace, one every "
                  f"{sample['intervalMs']:g} ms (measured {sample['paceMs']:.3f} ms), with `open(O_CREAT|O_WRONLY)` + `close`, "
                  "taking `time.time()` right before each `open`; latency = the observer's time − that time, per file, "
                  "percentiles by nearest rank. *Together*: the three observers on the same burst of "
                  f"{number((tog_pipe or sample)['files'])} files (they share the {facts.get('nproc', '')} cores with each other "
                  f"and the writer). *Alone*: each observer by itself, {reps} interleaved rounds of "
                  f"{number(sample['files'] // reps)} files each (the order rotates), pooled. "
                  "*Other load*: the largest share of the machine's CPU time that processes outside the benchmark used "
                  "during a round (`/proc/stat` minus the benchmark's own processes); a round above "
                  f"{facts.get('maxOtherLoadPct', '?')} % is set aside and run again (at most {facts.get('retries', '?')} times), "
                  f"{set_aside} round(s) were set aside in this run. The tails (p99.9, max) of every observer are those of a "
                  "shared virtual machine: a thread that waits for a core waits milliseconds.\n")
        md.append("| Observer (where the time is taken) | Round | Files seen | p50 | p90 | p99 | p99.9 | max | Other load |")
        md.append("|---|---|---|---|---|---|---|---|---|")
        labels = [("inotifywait", "inotifywait (limit): its stdout → reader"),
                  ("lsyncd", "lsyncd (peer): Lua action → FIFO → reader"),
                  ("fms-pipe", "**fms**: handler → FIFO → reader"),
                  ("fms", "fms: `fms.now()` in the handler"),
                  ("fms-event", "fms: `ev.time` (watcher thread read the event)")]
        for mode in ("alone", "together"):
            for series, label in labels:
                r = lat(mode, series)
                if not r:
                    continue
                load = r.get("otherLoadPct")
                md.append(f"| {label} | {mode} | {number(r['seen'])} of {number(r['files'])} | {msf(r.get('p50Ms'))} | "
                          f"{msf(r.get('p90Ms'))} | {msf(r.get('p99Ms'))} | {msf(r.get('p999Ms'))} | {msf(r.get('maxMs'))} | "
                          f"{'-' if load is None else f'{load:g} %'} |")
        md.append("")
        md.append("| Measure | fms (FIFO) | Limit or peer | Difference / ratio |")
        md.append("|---|---|---|---|")
        rows = []
        for mode, iw, ls, pipe in (("alone", alone_iw, alone_ls, alone_pipe), ("together", tog_iw, tog_ls, tog_pipe)):
            if not pipe:
                continue
            for key, name in (("p50Ms", "p50"), ("p99Ms", "p99")):
                if iw:
                    rows.append((f"{name}, {mode}, vs inotifywait", pipe[key], f"inotifywait {msf(iw[key])}",
                                 f"{pipe[key] - iw[key]:+.3f} ms ({pipe[key] / iw[key]:.2f}×)"))
                if ls:
                    rows.append((f"{name}, {mode}, vs lsyncd", pipe[key], f"lsyncd {msf(ls[key])}",
                                 f"{pipe[key] - ls[key]:+.3f} ms ({pipe[key] / ls[key]:.2f}×)"))
        own = lat("alone", "fms")
        event = lat("alone", "fms-event")
        if own and event:
            rows.append(("for scale, alone: hand-off from the watcher thread to the Lua handler (`fms.now()` − `ev.time`, p50 of each)",
                         own["p50Ms"], f"`ev.time` {msf(event['p50Ms'])}", f"{own['p50Ms'] - event['p50Ms']:+.3f} ms"))
        if own and alone_pipe:
            rows.append(("for scale, alone: the FIFO and the reader's wake-up (FIFO − `fms.now()`, p50 of each)",
                         alone_pipe["p50Ms"], f"`fms.now()` {msf(own['p50Ms'])}", f"{alone_pipe['p50Ms'] - own['p50Ms']:+.3f} ms"))
        for label, value, other, ratio in rows:
            md.append(f"| {cell(label)} | {msf(value)} | {cell(other)} | {cell(ratio)} |")
        md.append("")
        console.append("Watcher latency (file event -> handler; fms measured through a FIFO like the others)")
        for mode in ("alone", "together"):
            for series in ("inotifywait", "lsyncd", "fms-pipe", "fms"):
                r = lat(mode, series)
                if r and "p50Ms" in r:
                    console.append(f"  {mode:8} {series:12} p50 {r['p50Ms']:.3f} ms  p99 {r['p99Ms']:.3f} ms  "
                                   f"max {r['maxMs']:.3f} ms  ({r['seen']}/{r['files']})")

        # goals: p99 within 1 ms of inotifywait, better than lsyncd
        if have_iw and (alone_iw or tog_iw):
            parts, ok = [], True
            for mode, iw, pipe in (("alone", alone_iw, alone_pipe), ("together", tog_iw, tog_pipe)):
                if iw and pipe:
                    diff = pipe["p99Ms"] - iw["p99Ms"]
                    parts.append(f"{diff:+.2f} ms {mode}")
                    ok = ok and diff <= GOAL_P99_MS
            goals.append((f"{MARK} fms p99 within {GOAL_P99_MS:g} ms of inotifywait (file event → handler)",
                          ", ".join(parts), ok))
        else:
            goals.append((f"{MARK} fms p99 within {GOAL_P99_MS:g} ms of inotifywait (file event → handler)",
                          "inotifywait not installed", None))
        if have_ls and alone_ls and alone_pipe:
            better50 = alone_pipe["p50Ms"] < alone_ls["p50Ms"]
            better99 = alone_pipe["p99Ms"] < alone_ls["p99Ms"]
            goals.append((f"{MARK} fms latency better than lsyncd (p50 / p99, alone)",
                          f"{alone_pipe['p50Ms']:.3f} vs {alone_ls['p50Ms']:.3f} / {alone_pipe['p99Ms']:.3f} vs "
                          f"{alone_ls['p99Ms']:.3f} ms", better50 and better99))
        else:
            goals.append((f"{MARK} fms latency better than lsyncd (p50 / p99, alone)", "lsyncd not installed", None))

    # -- throughput ------------------------------------------------------------------------------
    thr = lambda mode, observer: find(records, "watch.throughput", mode=mode, observer=observer)
    queued = {name: thr("queued", name) for name in ("fms", "inotifywait", "lsyncd")}
    burst = {name: thr("burst", name) for name in ("fms", "inotifywait", "lsyncd")}
    if queued["fms"] or burst["fms"]:
        files = (queued["fms"] or burst["fms"])["files"]
        writer_burst = find(records, "watch.throughput.writer", mode="burst")
        md.append(f"**Events per second** through a trivial handler (fms: `n = n + 1` and `fms.now()` for the last file; "
                  "inotifywait and lsyncd: one line to the reader per event, as above). "
                  f"{number(files)} files made with `open(O_CREAT|O_RDONLY)` + `close`, so that each file is one inotify event "
                  "(IN_CREATE) for all three (a file opened for writing would add an IN_CLOSE_WRITE, which lsyncd handles too). "
                  "*Queued*: the observer alone, stopped (SIGSTOP) while the files are made, so that their events wait in its "
                  "inotify queue (limit " + str(facts.get("maxQueuedEvents", "?")) + " events), then continued (SIGCONT): "
                  "files handled / (time of the last one − the moment it was continued), the rate at which it drains a full "
                  "queue, whatever the writer's speed. *Burst*: the three observers running together while one process "
                  "makes the files as fast as it can"
                  + (f" ({number(writer_burst['perSecond'])} files/s in this run)" if writer_burst else "")
                  + ": files handled / (last − first creation), and how long after the last file each observer handled it.\n")
        md.append("| Measure | fms | inotifywait (limit) | lsyncd (peer) | fms / inotifywait | fms / lsyncd |")
        md.append("|---|---|---|---|---|---|")

        def rate(r):
            if not r:
                return "not run"
            if not r.get("perSecond"):
                return f"{number(r.get('seen', 0))} of {number(r['files'])} seen"
            extra = "" if r["seen"] == r["files"] else f" ({number(r['seen'])} of {number(r['files'])})"
            if r.get("overflows"):
                extra += f", {r['overflows']} overflow"
            return f"{number(r['perSecond'])}/s{extra}"

        def ratio(a, b):
            if a and b and a.get("perSecond") and b.get("perSecond"):
                return f"{a['perSecond'] / b['perSecond']:.2f}×"
            return "-"
        q = queued
        md.append(f"| Queued: drain of {number(files)} events, each observer alone | {rate(q['fms'])} | {rate(q['inotifywait'])} | "
                  f"{rate(q['lsyncd'])} | {ratio(q['fms'], q['inotifywait'])} | {ratio(q['fms'], q['lsyncd'])} |")
        b = burst
        md.append(f"| Burst: {number(files)} files as fast as one process makes them, the three together | {rate(b['fms'])} | "
                  f"{rate(b['inotifywait'])} | {rate(b['lsyncd'])} | {ratio(b['fms'], b['inotifywait'])} | {ratio(b['fms'], b['lsyncd'])} |")
        lag = lambda r: msf(r.get("afterWriterMs")) if r and r.get("afterWriterMs") is not None else "-"
        md.append(f"|   burst: last file handled after the writer's last file | {lag(b['fms'])} | {lag(b['inotifywait'])} | "
                  f"{lag(b['lsyncd'])} | - | - |")
        md.append("")
        console.append("Watcher events/s (queued drain, alone; burst together)")
        for name in ("fms", "inotifywait", "lsyncd"):
            console.append(f"  {name:12} queued {rate(q[name]):>22}   burst {rate(b[name]):>22}")
        if q["fms"] and q["fms"].get("perSecond"):
            measured = f"{number(q['fms']['perSecond'])}/s"
            if q["inotifywait"] and q["inotifywait"].get("perSecond"):
                measured += f", {q['fms']['perSecond'] / q['inotifywait']['perSecond']:.2f}× inotifywait"
            if q["lsyncd"] and q["lsyncd"].get("perSecond"):
                measured += f", {q['fms']['perSecond'] / q['lsyncd']['perSecond']:.2f}× lsyncd"
            goals.append((f"{MARK} events/s through a trivial handler, queue drain (no goal)", measured, None))

    # -- idle ------------------------------------------------------------------------------------
    idle = [r for r in records if r.get("bench") == "watch.idle"]
    if idle:
        fms_idle = next((r for r in idle if r["observer"] == "fms" and r.get("variant") == "dry-run" and "error" not in r), None)
        sample = fms_idle or idle[0]
        md.append(f"**Idle cost**: `fms watch` on {sample['rules']} rule files, each with an `fms.watch` on a folder of its own, "
                  "`fms.every(\"1h\")` and `fms.cron(\"0 3 * * *\")` (300 registrations, "
                  f"{sample['watches']} watched folders), once with `--dry-run` and once with its outbox (a state folder) and a "
                  "gateway (`fms sim` in another process, not counted), and, for scale, on the first of those files alone; "
                  "beside lsyncd with one `sync` per folder and one "
                  "`inotifywait -m` on the same folders. Each is started, seen to handle a file in its first and last folder, "
                  f"left {facts.get('settleSeconds', 'a few')} seconds to settle, then measured for {sample['seconds']:g} s: CPU ticks "
                  "(utime + stime of the whole process from `/proc/PID/stat`, "
                  f"{sample.get('clockTicksPerSecond', 100)} per second), context switches (voluntary + nonvoluntary of every "
                  "thread, `/proc/PID/task/*/status`: each is a wake-up), and resident memory (`VmRSS`, split into anonymous "
                  "and file-backed pages — shared libraries — and PSS from `smaps_rollup`). Goals: 0 CPU ticks; RSS ≤ 30 MiB.\n")
        columns = []
        variants = {"dry-run": "dry run", "gateway": "outbox + gateway", "one-rule": "1 rule file, dry run"}
        for r in idle:
            name = r["observer"] + (f" ({variants.get(r['variant'], r['variant'])})" if r.get("variant") else "")
            if r["observer"] == "lsyncd":
                name += " (peer)"
            if r["observer"] == "inotifywait":
                name += " (limit)"
            columns.append((name, r))
        md.append("| Measure | " + " | ".join(name for name, _ in columns) + " |")
        md.append("|---|" + "---|" * len(columns))

        def row(label, fn):
            values = []
            for _, r in columns:
                values.append("error: " + r["error"] if "error" in r else fn(r))
            md.append(f"| {label} | " + " | ".join(cell(v) for v in values) + " |")
        row(f"CPU ticks in {sample['seconds']:g} s", lambda r: number(r["cpuTicks"]))
        row(f"Context switches in {sample['seconds']:g} s (all threads)", lambda r: number(r["switches"]))
        row("  by thread (name: switches)", lambda r: ", ".join(f"{k}: {v['switches']}" for k, v in r["byThread"].items()) or "none")
        row("Threads (ended / started during the window)",
            lambda r: f"{r['threads']} ({r.get('threadsGone', 0)} / {r.get('threadsNew', 0)})")
        row("RSS", lambda r: f"{r['rssKiB'] / 1024:.1f} MiB")
        row("  anonymous / file-backed", lambda r: f"{(r.get('rssAnonKiB') or 0) / 1024:.1f} / {(r.get('rssFileKiB') or 0) / 1024:.1f} MiB")
        row("  PSS (shared pages divided among the processes mapping them)",
            lambda r: f"{r['pssKiB'] / 1024:.1f} MiB" if r.get("pssKiB") else "-")
        row("  largest resident mappings", lambda r: ", ".join(f"{name} {kib / 1024:.1f}" for kib, name in r.get("largest", [])[:5]) + " MiB")
        row("Ready after start", lambda r: f"{r['readySeconds']:.2f} s")
        md.append("")
        notes = []
        if fms_idle:
            wakers = fms_idle.get("byThread", {})
            if any("overcommit" in k for k in wakers):
                notes.append("The fms thread named `…-qos.overcommit` is libdispatch's manager thread: on Linux, libdispatch "
                             "monitors its worker-thread pool with a one-second timer on the manager queue as soon as a worker "
                             "thread has existed (`_dispatch_workq_init_once` in swift-corelibs-libdispatch "
                             "`src/event/workqueue.c`: `dispatch_source_set_timer(ds, …, NSEC_PER_SEC, 0)`), so every Swift "
                             "program that used Swift concurrency wakes once a second (`timerfd_settime` + `epoll_wait`, no "
                             "work of fms's). It costs no measurable CPU (0 ticks).")
            notes.append("fms's own timers wake at most once a minute while a `fms.cron` job is registered (the scheduler "
                         "re-reads the wall clock at least every 60 s), which a 10-second window may or may not include.")
        if notes:
            md.append("\n\n".join(notes) + "\n")
        for name, r in columns:
            if "error" in r:
                console.append(f"  idle {name}: error {r['error']}")
            else:
                console.append(f"  idle {name:28} ticks {r['cpuTicks']:3}  switches {r['switches']:4}  RSS {r['rssKiB'] / 1024:5.1f} MiB "
                               f"(anon {(r.get('rssAnonKiB') or 0) / 1024:.1f})")
        if fms_idle:
            goals.append((f"{MARK} idle with {fms_idle['rules']} rules: 0 CPU ticks in {fms_idle['seconds']:g} s",
                          f"{fms_idle['cpuTicks']} ticks, {fms_idle['switches']} wake-ups", fms_idle["cpuTicks"] == 0))
            rss = fms_idle["rssKiB"] / 1024
            goals.append((f"{MARK} idle with {fms_idle['rules']} rules: RSS ≤ {GOAL_RSS_MIB:g} MiB",
                          f"{rss:.1f} MiB ({(fms_idle.get('rssAnonKiB') or 0) / 1024:.1f} anonymous)", rss <= GOAL_RSS_MIB))
    if md:
        md.append("The watcher benchmark alone: `python3 bench/watch-bench.py --fms BIN [--only latency,throughput,idle]` prints "
                  "its JSON lines; `python3 bench/watch-report.py RESULTS [DOC]` makes this section from them.\n")
    return goals, console, md


def patch(doc_path, goals, md):
    with open(doc_path) as handle:
        text = handle.read()
    lines = text.split("\n")
    # Forget an earlier insertion.
    lines = [line for line in lines if not line.startswith(f"| {MARK}")]
    if "## Watcher: `fms watch` beside inotifywait and lsyncd" in lines:
        start = lines.index("## Watcher: `fms watch` beside inotifywait and lsyncd")
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        while start > 0 and lines[start - 1] == "":
            start -= 1
        lines = lines[:start] + [""] + lines[end:]
    # Goal rows at the end of the Goals table.
    if "## Goals" in lines:
        i = lines.index("## Goals") + 1
        while i < len(lines) and not lines[i].startswith("|"):
            i += 1
        while i < len(lines) and lines[i].startswith("|"):
            i += 1
        rows = [f"| {cell(g)} | {cell(m)} | {'n/a' if ok is None else ('met' if ok else '**not met**')} |" for g, m, ok in goals]
        lines = lines[:i] + rows + lines[i:]
    section = "\n".join(md).strip("\n").split("\n")
    if "## Reproduce" in lines:
        i = lines.index("## Reproduce")
        while i > 0 and lines[i - 1] == "":
            i -= 1
        lines = lines[:i] + [""] + section + [""] + lines[i:]
    else:
        lines = lines + [""] + section + [""]
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    with open(doc_path, "w") as handle:
        handle.write(text)


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        sys.exit(64)
    records = load(sys.argv[1])
    goals, console, md = build(records)
    if not md:
        print("watch-report: no watcher results in " + sys.argv[1], file=sys.stderr)
        return
    print("\n".join(console))
    for goal, measured, ok in goals:
        print(f"  {goal[len(MARK) + 1:]:72} {measured:40} {'n/a' if ok is None else ('MET' if ok else 'NOT MET')}")
    if len(sys.argv) > 2 and sys.argv[2] != "-":
        patch(sys.argv[2], goals, md)


if __name__ == "__main__":
    main()
