#!/usr/bin/env python3
"""The watcher benchmark: `fms watch` beside inotifywait (the limit) and lsyncd (the peer).

usage: watch-bench.py --fms BIN [--only latency,throughput,idle] [--observers inotifywait,lsyncd,fms]
                      [--files 2000] [--interval-ms 2] [--reps 8] [--burst 10000] [--rules 100]
                      [--settle-seconds 6] [--idle-seconds 10] [--max-other-load 5] [--retries 3]
                      [--work DIR] [--keep]
       watch-bench.py reader OUT [FIFO]      (internal: timestamps the lines of stdin or FIFO)

Prints one JSON object per line (bench "watch.*"); bench/watch-report.py turns them into the
"Watcher" section of docs/benchmarks.md. The watched folders go to a new folder in /dev/shm when
that is a tmpfs (else in $TMPDIR), removed at the end unless --keep.

1. Latency (file event -> handler). A writer (this process) creates files in a watched folder
   at a steady pace (one every --interval-ms, open(O_CREAT|O_WRONLY) + close), noting
   time.time() right before each open. The observers:
   - `inotifywait -m -e create --format %f DIR` (the limit: the kernel's event, formatted and
     written to a pipe, nothing else), its stdout read by `watch-bench.py reader`;
   - `lsyncd` (the peer), a config whose layer-1 `action` writes each event's path to a FIFO
     read by `watch-bench.py reader` (`delay = 0`; lsyncd's Lua has no clock finer than a
     second, so the time is taken by the reader on the other end, exactly as for inotifywait);
   - `fms watch --dry-run` with `fms.watch{ path = DIR, on = { "create" }, handler = ... }`: the
     handler takes `fms.now()` first (fms's own figure; `ev.time` is kept too), then writes the
     name to a FIFO read by the same reader as the others (the same method as limit and peer).
   A reader blocks in read(2) and takes time.time() as soon as a line arrives. Latency = that
   time (or fms.now()) - the writer's time, per file; percentiles by nearest rank.
   Rounds: all observers on the same burst of --files files ("together"), then --reps rounds of
   --files/--reps files for each observer alone, interleaved, pooled per observer.
2. Events/s through a trivial handler, --burst files made as fast as this process can
   (open(O_CREAT|O_RDONLY): one IN_CREATE per file for every observer): "burst", the observers
   running together; "queued", one observer stopped (SIGSTOP) while the files are made, then
   continued (SIGCONT): the rate at which it drains its full inotify queue.
3. Idle: `fms watch --dry-run` on --rules rule files, each with an fms.watch on a folder of its
   own, fms.every("1h") and fms.cron("0 3 * * *"); once it handled a probe file in its first and
   last folder and --settle-seconds passed, --idle-seconds are measured: CPU ticks (utime +
   stime of the process), context switches of every thread (per thread name), RSS (anonymous,
   file-backed, PSS, largest mappings). The same for `fms watch` with its outbox and a gateway
   (a separate `fms sim`), for fms on one of the rule files, lsyncd with one sync per folder, and
   inotifywait on the same folders.

A latency or throughput round during which processes outside the benchmark used more than
--max-other-load percent of the machine's CPU time (/proc/stat minus this process and its
children) is run again, at most --retries times. Every wait is bounded; every process started is
stopped (SIGTERM, then SIGKILL) on exit, also on SIGTERM/SIGINT.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------------------------
# The reader: one line per event on stdin or a FIFO; each read's lines get the time the read
# returned. Writes "TIME NAME" lines to OUT as they come (so that readiness can be seen).

def reader_main(out_path, fifo=None):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    fd = os.open(fifo, os.O_RDONLY) if fifo else 0
    out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    pending = b""
    while True:
        chunk = os.read(fd, 65536)
        now = time.time()
        if not chunk:
            break
        pending += chunk
        lines = pending.split(b"\n")
        pending = lines.pop()
        if lines:
            stamp = b"%.6f " % now
            os.write(out, b"".join(stamp + line.rsplit(b" ", 1)[-1] + b"\n" for line in lines))
    os.close(out)


# ------------------------------------------------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.args = args
        self.fms = args.fms
        self.work = args.work
        self.processes = []        # every Popen started, stopped on exit
        self.script = os.path.abspath(__file__)

    # -- processes --------------------------------------------------------------------------------

    def start(self, argv, stdout=None, stdin=None, stderr=None, env=None):
        process = subprocess.Popen(argv, stdout=stdout, stdin=stdin, stderr=stderr, env=env,
                                   close_fds=True)
        self.processes.append(process)
        return process

    def stop(self, process, timeout=10.0):
        if process.poll() is None:
            try:
                process.send_signal(signal.SIGTERM)
                process.send_signal(signal.SIGCONT)    # in case it was stopped (throughput, queued)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if process in self.processes:
            self.processes.remove(process)
        return process.returncode

    def stop_all(self):
        for process in list(reversed(self.processes)):
            try:
                self.stop(process, timeout=3.0)
            except Exception:
                pass

    def reader(self, out, fifo=None, stdin=None):
        argv = [sys.executable, self.script, "reader", out] + ([fifo] if fifo else [])
        return self.start(argv, stdin=stdin)

    # -- observers --------------------------------------------------------------------------------
    # Each returns a dict: name, outputs {series name: file of "TIME NAME" lines}, processes,
    # ready() -> bool, and an optional finish() run after the end marker was seen.

    def observer_inotifywait(self, folder, out_dir):
        out = os.path.join(out_dir, "inotifywait.times")
        open(out, "w").close()
        err = open(os.path.join(out_dir, "inotifywait.err"), "w")
        watcher = self.start(["inotifywait", "-m", "-e", "create", "--format", "%f", folder],
                             stdout=subprocess.PIPE, stderr=err)
        reader = self.reader(out, stdin=watcher.stdout)
        watcher.stdout.close()
        return {"name": "inotifywait", "series": {"inotifywait": out}, "main": watcher, "helpers": [reader],
                "ready": lambda: seen_name(out, "probe-"), "done": lambda: seen_name(out, "zz-end")}

    def observer_lsyncd(self, folders, out_dir):
        out, fifo, config = lsyncd_files(folders, out_dir)
        reader = self.reader(out, fifo=fifo)   # opens the FIFO first: lsyncd's open for writing then returns
        err = open(os.path.join(out_dir, "lsyncd.err"), "w")
        daemon = self.start(["lsyncd", "-nodaemon", config], stdout=err, stderr=err)
        return {"name": "lsyncd", "series": {"lsyncd": out}, "main": daemon, "helpers": [reader],
                "ready": lambda: seen_name(out, "probe-"), "done": lambda: seen_name(out, "zz-end")}

    def observer_fms(self, folder, out_dir, mode):
        """mode "latency": fms.now() kept per file and the name written to a FIFO;
        mode "throughput": a trivial handler that counts (and keeps the last fms.now())."""
        out = os.path.join(out_dir, "fms")
        os.makedirs(out, exist_ok=True)
        rules = os.path.join(out_dir, "fms-rules")
        os.makedirs(rules, exist_ok=True)
        pipe_times = os.path.join(out_dir, "fms-pipe.times")
        open(pipe_times, "w").close()
        helpers = []
        fifo = None
        if mode == "latency":
            fifo = os.path.join(out_dir, "fms.fifo")
            os.mkfifo(fifo)
            helpers.append(self.reader(pipe_times, fifo=fifo))
        with open(os.path.join(rules, "bench.lua"), "w") as handle:
            handle.write(fms_rule(folder, out, fifo, mode))
        state = os.path.join(out_dir, "fms-state")
        env = dict(os.environ, FMS_STATE_DIR=state)
        for name in ("FMS_URL", "FMS_APP_ID", "FMS_SECRET_KEY", "FMS_SECRET_KEY_FILE"):
            env.pop(name, None)
        err = open(os.path.join(out_dir, "fms.err"), "w")
        daemon = self.start([self.fms, "watch", "--dry-run", rules], stdout=err, stderr=err, env=env)
        series = {"fms": os.path.join(out, "times")}
        if mode == "latency":
            series["fms-pipe"] = pipe_times
            series["fms-event"] = os.path.join(out, "event-times")
        return {"name": "fms", "series": series, "main": daemon, "helpers": helpers,
                "ready": lambda: os.path.exists(os.path.join(out, "ready")),
                "done": lambda: os.path.exists(os.path.join(out, "done")),
                "log": os.path.join(out_dir, "fms.err")}

    def make_observer(self, name, folder, out_dir, mode):
        if name == "inotifywait":
            return self.observer_inotifywait(folder, out_dir)
        if name == "lsyncd":
            return self.observer_lsyncd([folder], out_dir)
        return self.observer_fms(folder, out_dir, mode)

    # -- one round: start observers, wait until each sees a probe, write, wait for the end -------

    def round(self, label, observers, mode, writer):
        """One round, repeated (up to --retries times) while processes outside the benchmark used
        more than --max-other-load percent of the machine's CPU time during it; the result says
        how loaded the machine was and how many attempts were set aside."""
        attempts = 0
        while True:
            result = self.round_once(label, observers, mode, writer)
            if result is None:
                return None
            load = result.get("otherLoadPct")
            if load is None or load <= self.args.max_other_load or attempts >= self.args.retries:
                result["setAside"] = attempts
                return result
            attempts += 1
            log(f"  other processes used {load:g} % of the CPU time during this round: repeating it "
                f"({attempts} of at most {self.args.retries})")

    def round_once(self, label, observers, mode, writer):
        out_dir = tempfile.mkdtemp(prefix=f"{label}-", dir=self.work)
        folder = os.path.join(out_dir, "watched")
        os.mkdir(folder)
        running = [self.make_observer(name, folder, out_dir, mode) for name in observers]
        other_load = None
        try:
            if not self.wait_ready(running, folder):
                return None
            time.sleep(0.5)
            cpu_before, own_before = machine_ticks(), self.own_ticks()
            written = writer(folder, running)
            end_marker(folder)
            deadline = time.time() + 60
            while time.time() < deadline and not all(o["done"]() for o in running):
                if any(o["main"].poll() is not None and not o["done"]() for o in running):
                    break
                time.sleep(0.005)
            cpu_after, own_after = machine_ticks(), self.own_ticks()
            if cpu_before and cpu_after and cpu_after[1] > cpu_before[1]:
                busy = cpu_after[0] - cpu_before[0]
                other_load = round(100.0 * max(0, busy - (own_after - own_before)) / (cpu_after[1] - cpu_before[1]), 1)
            missing_end = [o["name"] for o in running if not o["done"]()]
            if missing_end:
                log(f"  no end marker from {', '.join(missing_end)} within 60 s")
            if "names" in written:
                with open(os.path.join(out_dir, "written.times"), "w") as handle:
                    handle.writelines(f"{t:.6f} {name}\n" for name, t in zip(written["names"], written["times"]))
        finally:
            for o in running:
                self.stop(o["main"])
                for helper in o["helpers"]:
                    self.stop(helper)
        observed = {}
        for o in running:
            for series, path in o["series"].items():
                observed[series] = read_times(path)
        if not self.args.keep:
            shutil.rmtree(out_dir, ignore_errors=True)
        return {"written": written, "observed": observed, "missingEnd": missing_end, "otherLoadPct": other_load}

    def wait_ready(self, running, folder):
        deadline = time.time() + 30
        number = 0
        while time.time() < deadline:
            if all(o["ready"]() for o in running):
                return True
            for o in running:
                if o["main"].poll() is not None:
                    log(f"{o['name']} exited with status {o['main'].returncode} before it was ready")
                    for path in [o.get("log")]:
                        if path:
                            log(tail_text(path))
                    return False
            number += 1
            touch(os.path.join(folder, f"probe-{number}"))
            time.sleep(0.1)
        log("observers not ready after 30 s: " + ", ".join(o["name"] for o in running if not o["ready"]()))
        return False

    # -- 1. latency ------------------------------------------------------------------------------

    def latency(self, observers):
        """One round with every observer on the same burst of --files files ("together"), then
        --reps rounds of --files/--reps files for each observer alone, interleaved (the order
        rotates each repetition) so that a background disturbance falls on all of them alike;
        the alone rounds of an observer are pooled."""
        files, interval, reps = self.args.files, self.args.interval_ms / 1000.0, max(1, self.args.reps)
        rounds = [("together", observers, files)] if len(observers) > 1 else []
        for rep in range(reps):
            order = observers[rep % len(observers):] + observers[:rep % len(observers)]
            rounds += [("alone", [name], max(1, files // reps)) for name in order]
        pooled = {}    # (mode, series) -> {"latencies": [...], "rounds": [...], ...}
        for mode, names, count in rounds:
            log(f"latency, {mode}: {', '.join(names)}; {count} files, one every {self.args.interval_ms} ms")
            result = self.round(f"latency-{mode}-{'-'.join(names)}", names, "latency",
                                lambda folder, running: paced_writer(folder, count, interval))
            if result is None:
                emit({"bench": "watch.latency.failed", "mode": mode, "observers": names})
                continue
            written = result["written"]
            pace = (written["times"][-1] - written["times"][0]) / max(1, len(written["times"]) - 1)
            for series, seen in result["observed"].items():
                latencies = sorted(seen[name] - start for name, start in zip(written["names"], written["times"])
                                   if name in seen)
                entry = pooled.setdefault((mode, series), {"latencies": [], "rounds": [], "files": 0, "with": names,
                                                           "pace": [], "otherLoad": []})
                entry["latencies"] += latencies
                entry["files"] += count
                entry["pace"].append(pace)
                entry["otherLoad"].append(result.get("otherLoadPct"))
                entry["setAside"] = entry.get("setAside", 0) + result.get("setAside", 0)
                if latencies:
                    entry["rounds"].append({"files": count, "p50Ms": ms(percentile(latencies, 50)),
                                            "p99Ms": ms(percentile(latencies, 99)), "maxMs": ms(latencies[-1]),
                                            "otherLoadPct": result.get("otherLoadPct")})
        for (mode, series), entry in pooled.items():
            latencies = sorted(entry["latencies"])
            loads = [x for x in entry["otherLoad"] if x is not None]
            record = {"bench": "watch.latency", "mode": mode, "observer": series, "with": entry["with"],
                      "files": entry["files"], "seen": len(latencies), "intervalMs": self.args.interval_ms,
                      "paceMs": round(1000 * sum(entry["pace"]) / len(entry["pace"]), 4),
                      "otherLoadPct": round(max(loads), 1) if loads else None, "rounds": entry["rounds"],
                      "setAside": entry.get("setAside", 0)}
            if latencies:
                record.update({
                    "p50Ms": ms(percentile(latencies, 50)), "p90Ms": ms(percentile(latencies, 90)),
                    "p99Ms": ms(percentile(latencies, 99)), "p999Ms": ms(percentile(latencies, 99.9)),
                    "maxMs": ms(latencies[-1]), "minMs": ms(latencies[0]),
                    "meanMs": ms(sum(latencies) / len(latencies))})
            emit(record)

    def own_ticks(self):
        """CPU ticks used so far by this process and the processes it started (still running)."""
        total = sum(os.times()[:2]) * CLOCK_TICKS
        for process in self.processes:
            try:
                with open(f"/proc/{process.pid}/stat") as handle:
                    stat = handle.read()
                fields = stat[stat.rindex(")") + 2:].split()
                total += int(fields[11]) + int(fields[12])
            except (OSError, ValueError, IndexError):
                pass
        return total

    # -- 2. throughput ---------------------------------------------------------------------------

    def throughput(self, observers):
        """"burst": the observers running while the files are made as fast as this process can
        (together, the same burst); "queued": one observer stopped (SIGSTOP) while the files are
        made, so that their events wait in its inotify queue, then continued (SIGCONT): the rate
        at which it drains a full queue through its handler, free of the writer's speed."""
        burst = self.args.burst
        rounds = [("burst", observers)] + [("queued", [name]) for name in observers]
        for mode, names in rounds:
            what = "made as fast as possible" if mode == "burst" else "queued while it is stopped, then drained"
            log(f"throughput, {mode}: {', '.join(names)}; {burst} files {what}")
            writer = (lambda folder, running: burst_writer(folder, burst)) if mode == "burst" \
                else (lambda folder, running: queued_writer(folder, burst, running))
            result = self.round(f"throughput-{mode}-{'-'.join(names)}", names, "throughput", writer)
            if result is None:
                emit({"bench": "watch.throughput.failed", "mode": mode, "observers": names})
                continue
            written = result["written"]
            first, last_write = written["first"], written["last"]
            emit({"bench": "watch.throughput.writer", "mode": mode, "with": names, "files": burst,
                  "seconds": round(written["writeSeconds"], 6),
                  "perSecond": round(burst / max(1e-9, written["writeSeconds"]), 1)})
            for series, seen in result["observed"].items():
                times = [t for name, t in seen.items() if name.startswith("f")]
                count = len(times)
                if series == "fms":
                    count = seen.get("#count", count)
                    times = [seen["#last"]] if "#last" in seen else times
                record = {"bench": "watch.throughput", "mode": mode, "observer": series, "with": names,
                          "files": burst, "seen": count, "overflows": seen.get("#overflow", 0),
                          "otherLoadPct": result.get("otherLoadPct"), "setAside": result.get("setAside", 0)}
                if times and count:
                    last = max(times)
                    record.update({"seconds": round(last - first, 6),
                                   "perSecond": round(count / max(1e-9, last - first), 1),
                                   "afterWriterMs": ms(last - last_write)})
                emit(record)

    # -- 3. idle ---------------------------------------------------------------------------------

    def idle(self, have):
        count = self.args.rules
        base = tempfile.mkdtemp(prefix="idle-", dir=self.work)
        folders = []
        for i in range(1, count + 1):
            folder = os.path.join(base, "watched", f"d{i:03d}")
            os.makedirs(folder)
            folders.append(folder)
        rules = os.path.join(base, "rules")
        os.makedirs(rules)
        ready = os.path.join(base, "fms-ready")
        for i, folder in enumerate(folders, start=1):
            with open(os.path.join(rules, f"rule-{i:03d}.lua"), "w") as handle:
                handle.write(idle_rule(i, folder, ready))
        single = os.path.join(base, "one-rule")
        os.makedirs(single)
        shutil.copy(os.path.join(rules, "rule-001.lua"), single)
        targets = [("fms", "dry-run"), ("fms", "gateway"), ("fms", "one-rule")]
        if have.get("lsyncd"):
            targets.append(("lsyncd", None))
        if have.get("inotifywait"):
            targets.append(("inotifywait", None))
        for name, variant in targets:
            label = name + (f" ({variant})" if variant else "")
            extent = "1 rule file" if variant == "one-rule" else f"{count} watched folders"
            log(f"idle: {label} with {extent}, {self.args.settle_seconds} s to settle, "
                f"{self.args.idle_seconds} s measured")
            try:
                record = self.idle_one(name, variant, base, rules, folders, ready)
            except Exception as error:   # one failing target must not hide the others
                record = {"error": str(error)}
            one = variant == "one-rule"
            record.update({"bench": "watch.idle", "observer": name, "variant": variant, "rules": 1 if one else count,
                           "watches": 1 if one else len(folders), "seconds": self.args.idle_seconds})
            emit(record)

    def idle_one(self, name, variant, base, rules, folders, ready):
        out_dir = tempfile.mkdtemp(prefix=f"{name}-{variant or 'plain'}-", dir=base)
        helpers = []
        if name == "fms":
            if os.path.exists(ready):
                os.remove(ready)
            state = os.path.join(out_dir, "state")
            env = dict(os.environ, FMS_STATE_DIR=state)
            for key in ("FMS_URL", "FMS_APP_ID", "FMS_SECRET_KEY", "FMS_SECRET_KEY_FILE"):
                env.pop(key, None)
            argv = [self.fms, "watch"]
            if variant == "gateway":
                url, key = self.start_simulator(out_dir, helpers)
                argv += ["--url", url, "--app-id", "BENCH-APP", "--secret-key-file", key, "--state-dir", state]
            else:
                argv += ["--dry-run"]
            err = open(os.path.join(out_dir, "fms.err"), "w")
            one = variant == "one-rule"
            process = self.start(argv + [os.path.join(base, "one-rule") if one else rules], stdout=err, stderr=err, env=env)
            probes = [folders[0]] if one else [folders[0], folders[-1]]
            check = lambda: os.path.exists(ready) and len(set(open(ready).read().split())) >= len(probes)
        elif name == "lsyncd":
            out, fifo, config = lsyncd_files(folders, out_dir)
            helpers.append(self.reader(out, fifo=fifo))
            err = open(os.path.join(out_dir, "lsyncd.err"), "w")
            process = self.start(["lsyncd", "-nodaemon", config], stdout=err, stderr=err)
            check = lambda: count_names(out, "probe-") >= 2
            probes = [folders[0], folders[-1]]
        else:
            out = os.path.join(out_dir, "inotifywait.times")
            open(out, "w").close()
            err = open(os.path.join(out_dir, "inotifywait.err"), "w")
            process = self.start(["inotifywait", "-m", "-e", "create", "--format", "%w%f"] + folders,
                                 stdout=subprocess.PIPE, stderr=err)
            helpers.append(self.reader(out, stdin=process.stdout))
            process.stdout.close()
            check = lambda: count_names(out, "probe-") >= 2
            probes = [folders[0], folders[-1]]
        try:
            started = time.time()
            number = 0
            while not check():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with status {process.returncode}: "
                                       + tail_text(os.path.join(out_dir, f"{name}.err")))
                if time.time() - started > 30:
                    raise RuntimeError(f"{name} not ready after 30 s")
                number += 1
                for folder in probes:
                    touch(os.path.join(folder, f"probe-{number}"))
                time.sleep(0.1)
            ready_seconds = time.time() - started
            time.sleep(self.args.settle_seconds)
            before = sample(process.pid)
            time.sleep(self.args.idle_seconds)
            after = sample(process.pid)
            threads = {}
            for tid, now in after["tasks"].items():
                then = before["tasks"].get(tid, {"ticks": 0, "switches": 0})
                entry = threads.setdefault(now["name"], {"threads": 0, "ticks": 0, "switches": 0})
                entry["threads"] += 1
                entry["ticks"] += now["ticks"] - then["ticks"]
                entry["switches"] += now["switches"] - then["switches"]
            gone = [tid for tid in before["tasks"] if tid not in after["tasks"]]
            born = [tid for tid in after["tasks"] if tid not in before["tasks"]]
            memory = after["memory"]
            return {"readySeconds": round(ready_seconds, 3),
                    "cpuTicks": after["ticks"] - before["ticks"], "clockTicksPerSecond": CLOCK_TICKS,
                    "switches": sum(v["switches"] for v in threads.values()),
                    "threads": len(after["tasks"]), "threadsGone": len(gone), "threadsNew": len(born),
                    "rssKiB": memory.get("VmRSS"), "hwmKiB": memory.get("VmHWM"),
                    "rssAnonKiB": memory.get("RssAnon"), "rssFileKiB": memory.get("RssFile"),
                    "pssKiB": memory.get("Pss"),
                    "largest": [[kib, name] for kib, name in largest_mappings(process.pid)],
                    "byThread": {k: v for k, v in sorted(threads.items()) if v["ticks"] or v["switches"]},
                    "threadNames": sorted(threads)}
        finally:
            self.stop(process)
            for helper in helpers:
                self.stop(helper)

    def start_simulator(self, out_dir, helpers):
        key = os.path.join(out_dir, "key")
        with open(key, "w") as handle:
            handle.write(os.urandom(8).hex())
        out = os.path.join(out_dir, "sim.out")
        with open(out, "w") as stdout, open(os.path.join(out_dir, "sim.err"), "w") as stderr:
            sim = self.start([self.fms, "sim", "--host", "127.0.0.1", "--port", "0", "--app-id", "BENCH-APP",
                              "--secret-key-file", key], stdout=stdout, stderr=stderr)
        helpers.append(sim)
        deadline = time.time() + 10
        while time.time() < deadline:
            text = open(out).read()
            if text.strip():
                return text.split()[0], key
            if sim.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("the simulator did not start: " + tail_text(os.path.join(out_dir, "sim.err")))


# ------------------------------------------------------------------------------------------------
# Configurations

def lua_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def fms_rule(folder, out, fifo, mode):
    """The benchmark's rule: probe-* files say it is ready, zz-end makes it write what it kept."""
    if mode == "latency":
        keep = """
    local t = fms.now()
    local name = ev.name
    if pipe then pipe:write(name, "\\n") pipe:flush() end
    if name:byte(1) == 102 then n = n + 1 names[n] = name times[n] = t stamps[n] = ev.time return end"""
        dump = """
      local lines = {}
      for i = 1, n do lines[i] = string.format("%.6f %s", times[i], names[i]) end
      f:write(table.concat(lines, "\\n"), "\\n")
      f:close()
      for i = 1, n do lines[i] = string.format("%.6f %s", stamps[i], names[i]) end
      f = io.open(out .. "/event-times", "w")
      f:write(table.concat(lines, "\\n"), "\\n")"""
    else:
        keep = """
    local name = ev.name
    if name:byte(1) == 102 then n = n + 1 last = fms.now() return end"""
        dump = """
      f:write(string.format("%d #count\\n%.6f #last\\n%d #overflow\\n", n, last, overflows))"""
    return f"""-- Written by bench/watch-bench.py ({mode}).
local out = {lua_string(out)}
local pipe = {"io.open(" + lua_string(fifo) + ", 'w')" if fifo else "nil"}
local n, names, times, stamps, last, overflows = 0, {{}}, {{}}, {{}}, 0, 0
fms.watch{{ path = {lua_string(folder)}, on = {{ "create" }}, handler = function(ev)
    if ev.kind == "overflow" then overflows = overflows + 1 return end{keep}
    if name:sub(1, 6) == "probe-" then
      local f = io.open(out .. "/ready", "a") f:write(name, "\\n") f:close()
    elseif name == "zz-end" then
      local f = io.open(out .. "/times", "w"){dump}
      f:close()
      f = io.open(out .. "/done", "w") f:write(n, "\\n") f:close()
    end
end }}
"""


def idle_rule(number, folder, ready):
    return f"""-- Idle benchmark rule {number} (bench/watch-bench.py): a watch, a timer and a cron job.
local ready = {lua_string(ready)}
fms.watch{{ path = {lua_string(folder)}, on = {{ "create" }}, handler = function(ev)
  if ev.name:sub(1, 6) == "probe-" then
    local f = io.open(ready, "a") f:write({number}, "\\n") f:close()
  end
end }}
fms.every("1h", function(info) fms.log.info("hourly check {number}") end)
fms.cron("0 3 * * *", function(info) fms.log.info("nightly job {number}") end)
"""


def lsyncd_files(folders, out_dir):
    """lsyncd's output file (empty), its FIFO and its configuration for `folders`, in out_dir."""
    out = os.path.join(out_dir, "lsyncd.times")
    open(out, "w").close()
    fifo = os.path.join(out_dir, "lsyncd.fifo")
    os.mkfifo(fifo)
    config = os.path.join(out_dir, "lsyncd.lua")
    with open(config, "w") as handle:
        handle.write(lsyncd_config(folders, fifo, os.path.join(out_dir, "lsyncd.log")))
    return out, fifo, config


def lsyncd_config(folders, fifo, logfile):
    """lsyncd with a layer-1 action: each event's path to the FIFO, at once (delay = 0)."""
    syncs = "\n".join(f"sync {{ source = {lua_string(folder)}, action = record, delay = 0, maxProcesses = 1 }}"
                      for folder in folders)
    return f"""-- Written by bench/watch-bench.py: lsyncd as an event -> handler pipe, no rsync.
settings {{ nodaemon = true, logfile = {lua_string(logfile)}, maxDelays = 1000000 }}
local pipe = nil
local function record(inlet)
  local event = inlet.getEvent()
  if not pipe then pipe = io.open({lua_string(fifo)}, "w") end
  pipe:write(event.etype, " ", event.sourcePath, "\\n")
  pipe:flush()
  inlet.discardEvent(event)
end
{syncs}
"""


# ------------------------------------------------------------------------------------------------
# Writers

def paced_writer(folder, count, interval):
    """count files, one every interval seconds; time.time() noted right before each open."""
    names = [f"f{i:06d}" for i in range(count)]
    times = [0.0] * count
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    start = time.perf_counter() + 0.01
    for i, name in enumerate(names):
        target = start + i * interval
        delay = target - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        path = os.path.join(folder, name)
        t = time.time()
        fd = os.open(path, flags, 0o644)
        os.close(fd)
        times[i] = t
    return {"names": names, "times": times}


def machine_ticks():
    """(busy, total) ticks of all CPUs from /proc/stat."""
    try:
        with open("/proc/stat") as handle:
            fields = [int(x) for x in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return (total - idle, total)


def burst_writer(folder, count):
    """Files made as fast as this process can: open(O_CREAT | O_RDONLY) and close, so that each is
    one inotify event (IN_CREATE) for every observer (lsyncd would add IN_CLOSE_WRITE for a file
    opened for writing)."""
    paths = [os.path.join(folder, f"f{i:06d}") for i in range(count)]
    flags = os.O_RDONLY | os.O_CREAT | os.O_EXCL
    opener, closer = os.open, os.close
    first = time.time()
    for path in paths:
        closer(opener(path, flags, 0o644))
    last = time.time()
    return {"first": first, "last": last, "writeSeconds": last - first}


def queued_writer(folder, count, running):
    """The observers stopped, the files made (their events wait in the kernel's queues), the end
    marker made, then the observers continued: "first" is the moment they were continued."""
    for o in running:
        o["main"].send_signal(signal.SIGSTOP)
    time.sleep(0.1)
    written = burst_writer(folder, count)
    end_marker(folder)
    time.sleep(0.05)
    resumed = time.time()
    for o in running:
        o["main"].send_signal(signal.SIGCONT)
    return {"first": resumed, "last": resumed, "writeSeconds": written["writeSeconds"]}


def end_marker(folder):
    touch(os.path.join(folder, "zz-end"))


# ------------------------------------------------------------------------------------------------
# Helpers

def touch(path):
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))


def read_times(path):
    """{name: first time} from "TIME NAME" lines; fms's throughput file has "VALUE #key" lines."""
    seen = {}
    try:
        with open(path) as handle:
            for line in handle:
                parts = line.split()
                if len(parts) != 2:
                    continue
                value, name = parts[0], os.path.basename(parts[1])
                if name.startswith("#"):
                    seen[name] = float(value) if "." in value else int(value)
                elif name not in seen:
                    seen[name] = float(value)
    except FileNotFoundError:
        pass
    return seen


def seen_name(path, prefix):
    try:
        with open(path) as handle:
            return any(os.path.basename(line.split()[-1]).startswith(prefix) for line in handle if line.strip())
    except FileNotFoundError:
        return False


def count_names(path, prefix):
    try:
        with open(path) as handle:
            tokens = [line.split()[-1] for line in handle if line.strip()]
        return len({os.path.dirname(token) for token in tokens if os.path.basename(token).startswith(prefix)})
    except FileNotFoundError:
        return 0


def tail_text(path, lines=5):
    if not path:
        return ""
    try:
        with open(path, errors="replace") as handle:
            return " | ".join(handle.read().strip().splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def sample(pid):
    """Per thread: utime + stime ticks, voluntary + nonvoluntary switches, name; RSS of the process."""
    tasks = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as handle:
                stat = handle.read()
            with open(f"/proc/{pid}/task/{tid}/status") as handle:
                status = handle.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        ticks = int(fields[11]) + int(fields[12])      # utime, stime (fields 14 and 15 of stat)
        switches = 0
        for line in status.splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                switches += int(line.split()[1])
        tasks[tid] = {"name": name, "ticks": ticks, "switches": switches}
    memory = {}
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            key = line.split(":")[0]
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                memory[key] = int(line.split()[1])
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    memory["Pss"] = int(line.split()[1])
    except OSError:
        pass
    with open(f"/proc/{pid}/stat") as handle:     # the whole process, threads that ended included
        stat = handle.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return {"tasks": tasks, "ticks": int(fields[11]) + int(fields[12]),
            "switches": sum(t["switches"] for t in tasks.values()), "memory": memory}


def largest_mappings(pid, count=8):
    """The mappings with the most resident KiB: [(KiB, file name or "[anon]")]."""
    sizes = {}
    name = None
    try:
        with open(f"/proc/{pid}/smaps") as handle:
            for line in handle:
                first = line.split(None, 1)[0]
                if "-" in first and not first.endswith(":"):
                    parts = line.split()
                    name = os.path.basename(parts[5]) if len(parts) > 5 else "[anon]"
                elif first == "Rss:" and name is not None:
                    sizes[name] = sizes.get(name, 0) + int(line.split()[1])
    except OSError:
        return []
    return sorted(((kib, name) for name, kib in sizes.items() if kib), reverse=True)[:count]


def percentile(sorted_values, p):
    """Nearest rank."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[int(min(rank, len(sorted_values))) - 1]


def ms(seconds):
    return round(seconds * 1000, 4)


def emit(record):
    print(json.dumps(record, separators=(",", ":")), flush=True)


def log(text):
    print(f"watch-bench: {text}", file=sys.stderr, flush=True)


def version(argv):
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        text = (result.stdout + result.stderr).strip().splitlines()
        return text[0] if text else "?"
    except Exception:
        return "?"


# ------------------------------------------------------------------------------------------------

def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "reader":
        reader_main(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
        return
    parser = argparse.ArgumentParser(description="fms watch beside inotifywait and lsyncd")
    parser.add_argument("--fms", required=True)
    parser.add_argument("--work", default=None,
                        help="a folder for the watched folders and files (default: a new one in /dev/shm if it is "
                             "a tmpfs, else in $TMPDIR; removed at the end)")
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--interval-ms", type=float, default=2.0)
    parser.add_argument("--reps", type=int, default=8, help="latency: interleaved rounds per observer alone")
    parser.add_argument("--max-other-load", type=float, default=5.0,
                        help="repeat a round when other processes used more than this percent of the CPU time")
    parser.add_argument("--retries", type=int, default=3, help="at most this many repeats of a round")
    parser.add_argument("--burst", type=int, default=10000)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--settle-seconds", type=float, default=6.0)
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--only", default="latency,throughput,idle")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (raw times, logs, configurations)")
    parser.add_argument("--observers", default="inotifywait,lsyncd,fms",
                        help="which observers to run (latency, throughput)")
    args = parser.parse_args()
    own_work = args.work is None
    if own_work:
        args.work = tempfile.mkdtemp(prefix="fms-watch-bench.", dir=default_parent())
    os.makedirs(args.work, exist_ok=True)

    def terminate(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)

    bench = Bench(args)
    try:
        have = {name: shutil.which(name) is not None for name in ("inotifywait", "lsyncd")}
        for name, present in have.items():
            if not present:
                log(f"{name} is not installed: measured without it (apt-get install "
                    f"{'inotify-tools' if name == 'inotifywait' else 'lsyncd'}, or run 'make bench' as root)")
        emit({"bench": "watch.facts",
              "inotifywait": version(["inotifywait", "--help"]) if have["inotifywait"] else None,
              "lsyncd": version(["lsyncd", "--version"]) if have["lsyncd"] else None,
              "python": sys.version.split()[0], "clockTicksPerSecond": CLOCK_TICKS,
              "maxQueuedEvents": open("/proc/sys/fs/inotify/max_queued_events").read().strip(),
              "filesystem": filesystem_of(args.work), "nproc": os.cpu_count(),
              "settleSeconds": args.settle_seconds, "idleSeconds": args.idle_seconds,
              "maxOtherLoadPct": args.max_other_load, "retries": args.retries})
        wanted = args.observers.split(",")
        observers = [name for name in ("inotifywait", "lsyncd", "fms") if name in wanted and have.get(name, True)]
        parts = args.only.split(",")
        if "latency" in parts:
            bench.latency(observers)
        if "throughput" in parts:
            bench.throughput(observers)
        if "idle" in parts:
            bench.idle(have)
    finally:
        bench.stop_all()
        if args.keep:
            log(f"kept {args.work}")
        elif own_work:
            shutil.rmtree(args.work, ignore_errors=True)


def default_parent():
    """/dev/shm when it is a writable tmpfs (the disk and its journal out of the measurement),
    else the usual temporary folder."""
    candidate = "/dev/shm"
    if os.path.isdir(candidate) and os.access(candidate, os.W_OK) and filesystem_of(candidate) == "tmpfs":
        return candidate
    return None


def filesystem_of(path):
    try:
        result = subprocess.run(["df", "-T", path], capture_output=True, text=True, timeout=10)
        return result.stdout.strip().splitlines()[-1].split()[1]
    except Exception:
        return "?"


if __name__ == "__main__":
    main()
