#!/usr/bin/env python3
"""previewd end-to-end benchmark: from a push delivery to the first check run and to a live preview.

One `previewd serve` (release build) with the local provider, a private PostgreSQL and `previewd-fakes` as GitHub.
Each round pushes a new commit of a small static site to `concurrency` branches at once and times, per branch,
the first check run GitHub receives for the commit and the moment the boot check run completes with the
preview's URL (previewd has health-checked the app by then). The app's own start (`python3 -m http.server`
until it answers) is measured separately, both alone and with as many copies starting at once as the round has
branches (on two cores, 50 apps starting together each take far longer than one alone), the latter again before
every round after the first; previewd's overhead is the live time minus the start at the same concurrency, and the
output prints both. Run it through `bench/e2e/run`.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from harness import log  # noqa: E402

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SECRET = "e2e-bench-secret"


def app_python(work):
    """A directory whose `python3` is the system's interpreter, put first on PATH for the apps (the baseline's and
    previewd's alike). A shim such as pyenv's on the PATH of the machine running the bench would otherwise start
    every app through a few bash processes: 100 ms of CPU per start instead of 15 ms, a cost of that machine
    rather than of previewd or of a fresh Debian, where `python3` is /usr/bin/python3."""
    target = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")
    directory = os.path.join(work, "app-bin")
    os.makedirs(directory, exist_ok=True)
    link = os.path.join(directory, "python3")
    if not os.path.lexists(link):
        os.symlink(os.path.realpath(target), link)
    return directory


def start_app(directory, path_prefix):
    """Starts the static site's start command in `directory`; returns (child, port)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", PATH=f"{path_prefix}:{os.environ.get('PATH', '')}")
    port = harness.free_port()
    child = subprocess.Popen([os.path.join(path_prefix, "python3"), "-m", "http.server", str(port), "--bind", "0.0.0.0"],
                             cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    return child, port


def wait_until_answering(child, port, timeout=60):
    """Waits until the app answers its first GET with 200; returns whether it did.

    The GET is sent when the server prints its "Serving HTTP" line (unbuffered output, read by a blocked thread), not
    by polling: 50 pollers would load the CPU the apps need and inflate the baseline. The line is printed right after
    the socket listens, so the GET never waits on it."""
    for line in child.stdout:
        if b"Serving HTTP" in line:
            break
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if harness.http("GET", f"http://127.0.0.1:{port}/", timeout=5)[0] == 200:
                return True
        except OSError:
            time.sleep(0.005)
    return False


def stop_apps(children):
    for child in children:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        child.wait()


def app_start_seconds(copies, samples, path_prefix):
    """How long the static site's start command takes to answer HTTP without previewd, with `copies` of it starting at
    once (each timed from its own start), repeated until there are at least `samples` times."""
    times = []
    while len(times) < samples:
        directory = tempfile.mkdtemp(prefix="previewd-e2e-app-")
        with open(os.path.join(directory, "index.html"), "w") as f:
            f.write("<h1>baseline</h1>\n")
        children, threads, results = [], [], []

        def watch(child, port, start):
            if wait_until_answering(child, port):
                results.append(time.time() - start)

        try:
            for _ in range(copies):
                start = time.time()
                child, port = start_app(directory, path_prefix)
                children.append(child)
                thread = threading.Thread(target=watch, args=(child, port, start), daemon=True)
                thread.start()
                threads.append(thread)
            for thread in threads:
                thread.join(90)
        finally:
            stop_apps(children)
            shutil.rmtree(directory, ignore_errors=True)
        if len(results) < copies:
            raise RuntimeError(f"only {len(results)} of {copies} baseline apps answered")
        times += results
    return times


def checkout_and_start_seconds(copies, slots, path_prefix):
    """The floor of a round without previewd: `copies` branches each checked out as previewd's boot does it (git init
    without template, shallow fetch of the commit from a local repository, detached checkout) and their apps started
    until they answer, at most `slots` at a time (previewd's step slots), all released at one moment. Returns the
    seconds from that moment to each app's first answer: what no scheduler on this machine could beat, previewd's
    own work (intake, the steps' bookkeeping, PostgreSQL, GitHub calls) being what comes on top."""
    work = tempfile.mkdtemp(prefix="previewd-e2e-floor-")
    repository = os.path.join(work, "site")
    git = ["git", "-c", "user.email=bench@example.com", "-c", "user.name=bench"]
    subprocess.run(git + ["init", "-q", "-b", "main", repository], check=True)
    commits = []
    for index in range(copies):
        with open(os.path.join(repository, "index.html"), "w") as f:
            f.write(f"<h1>floor {index}</h1>\n")
        subprocess.run(git + ["-C", repository, "add", "-A"], check=True)
        subprocess.run(git + ["-C", repository, "commit", "-qm", f"change {index}"], check=True)
        commits.append(subprocess.run(["git", "-C", repository, "rev-parse", "HEAD"], capture_output=True, text=True,
                                      check=True).stdout.strip())
    gate, slot, results, children, lock = threading.Event(), threading.Semaphore(slots), [], [], threading.Lock()

    def one(index):
        gate.wait()
        start = time.time()
        with slot:
            source = os.path.join(work, f"preview-{index}")
            subprocess.run(["git", "init", "--quiet", "--template=", source], check=True)
            subprocess.run(["git", "-C", source, "-c", "maintenance.auto=false", "-c", "gc.auto=0", "fetch", "--quiet",
                            "--depth", "1", "--no-tags", "file://" + repository, commits[index]], check=True)
            subprocess.run(["git", "-C", source, "-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach",
                            "FETCH_HEAD"], check=True)
            child, port = start_app(source, path_prefix)
            with lock:
                children.append(child)
            if wait_until_answering(child, port):
                results.append(time.time() - start)

    threads = [threading.Thread(target=one, args=(index,), daemon=True) for index in range(copies)]
    try:
        for thread in threads:
            thread.start()
        gate.set()
        for thread in threads:
            thread.join(120)
    finally:
        stop_apps(children)
        shutil.rmtree(work, ignore_errors=True)
    if len(results) < copies:
        raise RuntimeError(f"only {len(results)} of {copies} checked-out apps answered")
    return results


def stat_fields(pid):
    """The fields of /proc/PID/stat after the command name (which may hold spaces and parentheses)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid):
    """User + system CPU time the process has used so far."""
    try:
        fields = stat_fields(pid)
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def tree_cpu_seconds(pid):
    """CPU time of a process, of its children it has reaped, and of its live children (one level): user + system."""
    try:
        total = sum(int(v) for v in stat_fields(pid)[11:15])
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    child = stat_fields(entry)
                except OSError:
                    continue
                if int(child[1]) == pid:
                    total += int(child[11]) + int(child[12])
        return total / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = args.work or tempfile.mkdtemp(prefix="previewd-e2e-")
        self.app_bin = app_python(self.work)
        os.makedirs(self.work, exist_ok=True)
        os.chmod(self.work, 0o755)
        self.processes = harness.Processes(self.work)
        self.pg = harness.Postgres(self.work, database="e2e", statements=args.statements)
        self.fakes = harness.Fakes(self.processes, os.path.join(args.bin, "previewd-fakes"), self.work)
        self.deliveries = harness.Deliveries(SECRET)
        self.previewd = None
        self.round = 0

    def setup(self):
        self.pg.start()
        if self.args.statements:
            self.pg.query("CREATE EXTENSION pg_stat_statements")
        info = self.fakes.start()
        config = os.path.join(self.work, "previewd.json")
        harness.write_config(REPO_ROOT, config)
        # Every branch of a round is live at once: lift the per-repository cap on live previews above it.
        extra = {"PREVIEWD_LOG_LEVEL": "warning", "PREVIEWD_MAX_PREVIEWS_PER_REPO": str(max(self.args.concurrency) + 10),
                 "PATH": f"{self.app_bin}:{os.environ.get('PATH', '')}"}
        if self.args.workers:
            extra["PREVIEWD_WORKERS"] = str(self.args.workers)
        env = harness.previewd_environment(self.pg, info, harness.free_port(), os.path.join(self.work, "data"), SECRET,
                                           config, extra)
        self.previewd = harness.Previewd(self.processes, os.path.join(self.args.bin, "previewd"), "previewd", env, self.work)
        self.previewd.start()

    def tree_cpu(self):
        """CPU seconds so far of previewd's children (git, the apps), the fakes and PostgreSQL."""
        with open(os.path.join(self.pg.dir, "postmaster.pid")) as f:
            postmaster = int(f.readline())
        return {"previewd's children": tree_cpu_seconds(self.previewd.pid) - cpu_seconds(self.previewd.pid),
                "fakes": tree_cpu_seconds(self.fakes.process.pid), "postgres": tree_cpu_seconds(postmaster)}

    def cleanup(self):
        if self.previewd:
            self.previewd.kill()
        self.fakes.stop()
        harness.kill_processes_under(self.work)
        self.processes.cleanup()
        self.pg.stop()
        harness.kill_processes_under(self.work)
        self.processes.mark_cleaned()
        if self.args.keep:
            log(f"kept {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    def send(self, branch, sha, deleted=False):
        """Sends a push made now (the rounds' teardown deletes each branch this way)."""
        body = self.fakes.push_payload(branch, sha, deleted)
        status, _, error = self.deliveries.send(self.previewd.base, "push", body, harness.new_delivery_id(), timeout=30)
        if status != 202:
            raise RuntimeError(f"push to {branch} answered {status or error}")

    def send_at_once(self, branches, shas):
        """Pushes to every branch at the same moment; returns {branch: (when it was sent, delivery id)}.

        Everything but sending is done before the clock starts, as GitHub has made and signed a delivery before it
        sends it: the payloads (the fakes making them would take CPU from the round), the signed requests, and one
        thread per branch waiting at a gate. Each thread notes the time, connects and sends its bytes."""
        port = self.previewd.port
        requests = {}
        for b in branches:
            body = self.fakes.push_payload(b, shas[b])
            delivery = harness.new_delivery_id()
            requests[b] = (delivery, harness.delivery_head(port, "push", body, delivery, SECRET) + body)
        gate = threading.Event()
        results = {}

        def push(branch):
            delivery, request = requests[branch]
            gate.wait()
            sent_at = time.time()
            status, _ = harness.send_prepared(port, request)
            results[branch] = (sent_at, delivery, status)

        threads = [threading.Thread(target=push, args=(b,), daemon=True) for b in branches]
        for thread in threads:
            thread.start()
        gate.set()
        for thread in threads:
            thread.join(60)
        for b in branches:
            status = results.get(b, (None, None, None))[2]
            if status != 202:
                raise RuntimeError(f"push to {b} answered {status or 'nothing'}")
        return {b: (results[b][0], results[b][1]) for b in branches}

    def run_round(self, concurrency):
        """Pushes to `concurrency` new branches at once; returns per-branch (first check run, live) seconds and calls."""
        self.round += 1
        branches = [f"bench-{self.round}-{i}" for i in range(concurrency)]
        shas = {b: self.fakes.commit(b, {"index.html": f"<h1>{b}</h1>\n"}) for b in branches}
        events_before = self.fakes.control("GET", "/summary")["requests"]
        sends = self.send_at_once(branches, shas)
        sent = {b: sends[b][0] for b in branches}
        by_sha = {shas[b]: b for b in branches}
        first, live, first_received = {}, {}, {}
        deadline = time.time() + self.args.timeout
        seen = events_before
        while time.time() < deadline and len(live) < concurrency:
            time.sleep(0.25)
            new_events = self.fakes.control("GET", f"/events?since={seen}")
            seen += len(new_events)
            for event in new_events:
                branch = by_sha.get(event.get("head_sha"))
                if branch is None:
                    continue
                if event.get("check_run_id") is not None and branch not in first:
                    first[branch] = event["t"] - sent[branch]
                if (event.get("name") == "previewd/boot" and event.get("conclusion") == "success" and branch not in live):
                    live[branch] = event["t"] - sent[branch]
        if len(live) < concurrency:
            raise RuntimeError(f"only {len(live)} of {concurrency} previews went live within {self.args.timeout} s")
        # When previewd received and processed each delivery (its own clock is this machine's): the client's threads
        # may take a while to get a push onto the wire when 50 start at once on two busy cores. Read once everything
        # is live, in one query: a psql per branch while the round runs would take the CPUs the round needs.
        ids = ", ".join(f"'{sends[b][1]}'" for b in branches)
        times = {row[0]: (float(row[1]), float(row[2])) for row in self.pg.query(
            "SELECT delivery_id, extract(epoch FROM received_at), extract(epoch FROM processed_at) "
            f"FROM webhook_deliveries WHERE delivery_id IN ({ids})")}
        received = {b: times[sends[b][1]][0] for b in branches}
        processed = {b: times[sends[b][1]][1] for b in branches}
        for b in branches:
            first_received[b] = sent[b] + first[b] - received[b]
        calls = seen + len(self.fakes.control("GET", f"/events?since={seen}")) - events_before
        phases = self.phases(branches, received, sent, live)
        for b in branches:
            phases["received -> push processed"].append(processed[b] - received[b])
            phases["processed -> 1st check run"].append(sent[b] + first[b] - processed[b])
        # Tear the round down so the next one starts from the same state.
        for branch in branches:
            self.send(branch, shas[branch], deleted=True)
        deadline = time.time() + self.args.timeout
        while time.time() < deadline:
            if int(self.pg.scalar("SELECT count(*) FROM setup_sessions WHERE state <> 'destroyed'")) == 0 and \
                    int(self.pg.scalar("SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')")) == 0:
                break
            time.sleep(0.5)
        return ([first[b] for b in branches], [live[b] for b in branches], calls / concurrency,
                [first_received[b] for b in branches], phases)

    PHASES = [("received -> push processed", None, None),
              ("processed -> 1st check run", None, None),
              ("received -> detect starts", None, ("detect", "running")),
              ("detect runs", ("detect", "running"), ("detect", "succeeded")),
              ("-> allocate starts", ("detect", "succeeded"), ("allocate", "running")),
              ("allocate runs", ("allocate", "running"), ("allocate", "succeeded")),
              ("-> configure starts", ("allocate", "succeeded"), ("configure", "running")),
              ("configure runs", ("configure", "running"), ("configure", "succeeded")),
              ("-> boot starts", ("configure", "succeeded"), ("boot", "running")),
              ("boot runs", ("boot", "running"), ("boot", "succeeded")),
              ("boot done -> GitHub told", ("boot", "succeeded"), "live")]

    def phases(self, branches, received, sent, live):
        """Seconds each session spent in each phase, from the steps' recorded transitions: where the time goes."""
        names = ", ".join("'" + b + "'" for b in branches)
        rows = self.pg.query(
            "SELECT ss.branch, s.name, t.to_status, extract(epoch FROM t.at) FROM step_transitions t "
            "JOIN session_steps s ON s.id = t.step_id JOIN setup_sessions ss ON ss.id = s.session_id "
            f"WHERE ss.branch IN ({names}) ORDER BY t.id")
        at = {}
        for branch, step, status, moment in rows:
            at.setdefault((branch, step, status), float(moment))  # the first time, in case a step ran twice
        result = {name: [] for name, _, _ in self.PHASES}
        for b in branches:
            for name, start, end in self.PHASES:
                if end is None:
                    continue
                begin = received[b] if start is None else at.get((b,) + start)
                finish = (sent[b] + live[b]) if end == "live" else at.get((b,) + end)
                if begin is not None and finish is not None:
                    result[name].append(finish - begin)
        return result

    def print_statements(self, concurrency, sessions):
        """PostgreSQL's work per session in the rounds just run (teardown included), heaviest statements first."""
        total = self.pg.query(
            "SELECT sum(calls), sum(total_exec_time), sum(total_plan_time) FROM pg_stat_statements "
            "WHERE query NOT LIKE '%pg_stat_statements%'")[0]
        log(f"PostgreSQL at {concurrency} branch(es), per session: {float(total[0]) / sessions:.0f} statements, "
            f"{float(total[1]) / sessions:.1f} ms executing them and {float(total[2]) / sessions:.1f} ms planning them; heaviest:")
        rows = self.pg.query(
            "SELECT calls, total_exec_time, total_plan_time, plans, left(regexp_replace(query, '\\s+', ' ', 'g'), 100) "
            "FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%' "
            "ORDER BY total_exec_time + total_plan_time DESC LIMIT 30")
        log("   calls  exec ms  plan ms  plans  statement")
        for calls, exec_ms, plan_ms, plans, query in rows:
            log(f"  {float(calls) / sessions:6.1f} {float(exec_ms) / sessions:8.2f} {float(plan_ms) / sessions:8.2f} "
                f"{float(plans) / sessions:6.1f}  {query}")

    def run(self):
        baselines = {}
        for copies in sorted(set([1] + self.args.concurrency)):
            log(f"measuring the app's own start, {copies} at once")
            baselines[copies] = app_start_seconds(copies, max(self.args.app_samples, copies), self.app_bin)
        floors = {}
        slots = self.args.workers or 4
        for copies in sorted(set(c for c in self.args.concurrency if c > 1)):
            log(f"measuring checkout + start without previewd, {copies} branches, {slots} at a time")
            floors[copies] = checkout_and_start_seconds(copies, slots, self.app_bin)
        self.setup()
        results = []
        for concurrency in self.args.concurrency:
            repeats = max(1, self.args.min_samples // concurrency)
            firsts, lives, calls, received_firsts, phases = [], [], [], [], {}
            cpu_before = cpu_seconds(self.previewd.pid)
            trees_before = self.tree_cpu()
            if self.args.statements:
                self.pg.query("SELECT pg_stat_statements_reset()")
            for index in range(repeats):
                if index > 0 and concurrency > 1:
                    # The start of many apps at once moves by a quarter between minutes on this machine: measured
                    # again before every round, the baseline sees the same machine as the rounds it is compared with.
                    log(f"measuring the app's own start, {concurrency} at once")
                    baselines[concurrency] += app_start_seconds(concurrency, concurrency, self.app_bin)
                log(f"round: {concurrency} concurrent branch(es)")
                f, l, c, r, p = self.run_round(concurrency)
                for name, values in p.items():
                    phases.setdefault(name, []).extend(values)
                firsts += f
                lives += l
                calls.append(c)
                received_firsts += r
            # Includes the teardown of each round: previewd's own CPU, not its children's (git, the apps).
            cpu = (cpu_seconds(self.previewd.pid) - cpu_before) / (repeats * concurrency)
            trees = {name: (value - trees_before[name]) / (repeats * concurrency) for name, value in self.tree_cpu().items()}
            log("CPU ms per session (rounds and their teardown): " + ", ".join(f"{n} {v * 1000:.0f}" for n, v in trees.items()))
            results.append((concurrency, firsts, lives, sum(calls) / len(calls), cpu, received_firsts, phases))
            if self.args.statements:
                self.print_statements(concurrency, repeats * concurrency)
        rss = harness.peak_rss_kib(self.previewd.pid)
        workers = self.previewd.env.get("PREVIEWD_WORKERS", "4 (default)")
        ms = lambda values, fraction: harness.percentile(values, fraction) * 1000  # noqa: E731
        print()
        print(f"previewd end-to-end (release build, local provider, PREVIEWD_WORKERS={workers}, {os.cpu_count()} CPUs)")
        print(f"app's own start ({os.path.realpath(os.path.join(self.app_bin, 'python3'))} -m http.server until HTTP 200), "
              "without previewd:")
        for copies, times in baselines.items():
            print(f"  {copies:>3} at once: median {ms(times, 0.5):.0f} ms, p95 {ms(times, 0.95):.0f} ms ({len(times)} starts)")
        for copies, times in floors.items():
            print(f"  {copies:>3} checkouts + starts, {slots} at a time (previewd's step slots), no previewd: "
                  f"median {ms(times, 0.5):.0f} ms, p95 {ms(times, 0.95):.0f} ms")
        print("overhead = live preview - the app's own start with as many copies starting at once as the round has branches "
              "(median of that baseline); 'vs alone' subtracts the start of one app alone instead")
        print(f"{'branches':>8} {'samples':>7} | {'first check run ms':>22} | {'live preview ms':>22} | "
              f"{'overhead ms':>22} | {'overhead vs alone ms':>22} | {'GitHub calls':>12} | {'previewd CPU':>12}")
        print(f"{'':>8} {'':>7} | {'median':>10} {'p95':>11} | {'median':>10} {'p95':>11} | {'median':>10} {'p95':>11} | "
              f"{'median':>10} {'p95':>11} | {'per session':>12} | {'ms/session':>12}")
        alone = harness.percentile(baselines[1], 0.5)
        for concurrency, firsts, lives, calls, cpu, _, _ in results:
            same = harness.percentile(baselines[concurrency], 0.5)
            overhead = [v - same for v in lives]
            overhead_alone = [v - alone for v in lives]
            print(f"{concurrency:>8} {len(lives):>7} | {ms(firsts, 0.5):>10.0f} {ms(firsts, 0.95):>11.0f} | "
                  f"{ms(lives, 0.5):>10.0f} {ms(lives, 0.95):>11.0f} | {ms(overhead, 0.5):>10.0f} {ms(overhead, 0.95):>11.0f} | "
                  f"{ms(overhead_alone, 0.5):>10.0f} {ms(overhead_alone, 0.95):>11.0f} | {calls:>12.1f} | {cpu * 1000:>12.0f}")
        print("first check run counted from previewd's receipt of the push (webhook_deliveries.received_at) instead of")
        print("the moment the client began sending it:")
        for concurrency, _, _, _, _, received_firsts, _ in results:
            print(f"  {concurrency:>3} branches: median {ms(received_firsts, 0.5):.0f} ms, p95 {ms(received_firsts, 0.95):.0f} ms")
        print("where a session's time goes (median ms per phase, from the steps' recorded transitions):")
        print(f"  {'phase':<28}" + "".join(f"{str(c) + ' branch(es)':>16}" for c, *_ in results))
        for name, _, _ in self.PHASES:
            cells = []
            for *_, phases in results:
                values = phases.get(name) or []
                cells.append(f"{ms(values, 0.5):>16.0f}" if values else f"{'-':>16}")
            print(f"  {name:<28}" + "".join(cells))
        print(f"peak RSS of previewd (VmHWM): {rss / 1024:.1f} MiB" if rss else "peak RSS of previewd: unknown")
        print("targets: first check run <= 100 ms median; overhead <= 1000 ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="directory with the built previewd and previewd-fakes")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--min-samples", type=int, default=10, help="repeat small rounds until this many samples")
    parser.add_argument("--app-samples", type=int, default=10)
    parser.add_argument("--workers", type=int, help="PREVIEWD_WORKERS for previewd (default: previewd's own)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds a round may take")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--statements", action="store_true",
                        help="load pg_stat_statements and print PostgreSQL's statements per session at each concurrency")
    parser.add_argument("--work", help="work directory (default: a new one under /tmp)")
    args = parser.parse_args()
    bench = Bench(args)

    def interrupted(number, _frame):
        raise KeyboardInterrupt(f"signal {number}")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    try:
        bench.run()
    finally:
        bench.cleanup()


if __name__ == "__main__":
    main()
