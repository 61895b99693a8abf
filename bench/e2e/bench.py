#!/usr/bin/env python3
"""previewd end-to-end benchmark: from a push delivery to the first check run and to a live preview.

One `previewd serve` (release build) with the local provider, a private PostgreSQL and `previewd-fakes` as GitHub.
Each round pushes a new commit of a small static site to `concurrency` branches at once and times, per branch,
the first check run GitHub receives for the commit and the moment the boot check run completes with the
preview's URL (previewd has health-checked the app by then). The app's own start (`python3 -m http.server`
until it answers) is measured separately and subtracted to give previewd's overhead. Run it through
`bench/e2e/run`.
"""

import argparse
import concurrent.futures
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from harness import log  # noqa: E402

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SECRET = "e2e-bench-secret"


def app_start_seconds(samples):
    """How long the static site's start command takes to answer HTTP, without previewd."""
    times = []
    for _ in range(samples):
        port = harness.free_port()
        directory = tempfile.mkdtemp(prefix="previewd-e2e-app-")
        with open(os.path.join(directory, "index.html"), "w") as f:
            f.write("<h1>baseline</h1>\n")
        start = time.time()
        child = subprocess.Popen(["python3", "-m", "http.server", str(port), "--bind", "0.0.0.0"], cwd=directory,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            while time.time() - start < 30:
                try:
                    if harness.http("GET", f"http://127.0.0.1:{port}/", timeout=1)[0] == 200:
                        times.append(time.time() - start)
                        break
                except OSError:
                    time.sleep(0.01)
        finally:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            shutil.rmtree(directory, ignore_errors=True)
    return times


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = args.work or tempfile.mkdtemp(prefix="previewd-e2e-")
        os.makedirs(self.work, exist_ok=True)
        os.chmod(self.work, 0o755)
        self.processes = harness.Processes(self.work)
        self.pg = harness.Postgres(self.work, database="e2e")
        self.fakes = harness.Fakes(self.processes, os.path.join(args.bin, "previewd-fakes"), self.work)
        self.deliveries = harness.Deliveries(SECRET)
        self.previewd = None
        self.round = 0

    def setup(self):
        self.pg.start()
        info = self.fakes.start()
        config = os.path.join(self.work, "previewd.json")
        harness.write_config(REPO_ROOT, config)
        # Every branch of a round is live at once: lift the per-repository cap on live previews above it.
        extra = {"PREVIEWD_LOG_LEVEL": "warning", "PREVIEWD_MAX_PREVIEWS_PER_REPO": str(max(self.args.concurrency) + 10)}
        if self.args.workers:
            extra["PREVIEWD_WORKERS"] = str(self.args.workers)
        env = harness.previewd_environment(self.pg, info, harness.free_port(), os.path.join(self.work, "data"), SECRET,
                                           config, extra)
        self.previewd = harness.Previewd(self.processes, os.path.join(self.args.bin, "previewd"), "previewd", env, self.work)
        self.previewd.start()

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
        body = self.fakes.push_payload(branch, sha, deleted)
        sent_at = time.time()
        status, _, error = self.deliveries.send(self.previewd.base, "push", body, harness.new_delivery_id(), timeout=30)
        if status != 202:
            raise RuntimeError(f"push to {branch} answered {status or error}")
        return sent_at

    def run_round(self, concurrency):
        """Pushes to `concurrency` new branches at once; returns per-branch (first check run, live) seconds and calls."""
        self.round += 1
        branches = [f"bench-{self.round}-{i}" for i in range(concurrency)]
        shas = {b: self.fakes.commit(b, {"index.html": f"<h1>{b}</h1>\n"}) for b in branches}
        events_before = len(self.fakes.control("GET", "/events"))
        with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
            sent = dict(zip(branches, pool.map(lambda b: self.send(b, shas[b]), branches)))
        by_sha = {shas[b]: b for b in branches}
        first, live = {}, {}
        deadline = time.time() + self.args.timeout
        while time.time() < deadline and len(live) < concurrency:
            time.sleep(0.25)
            for event in self.fakes.control("GET", "/events")[events_before:]:
                branch = by_sha.get(event.get("head_sha"))
                if branch is None:
                    continue
                if event.get("check_run_id") is not None and branch not in first:
                    first[branch] = event["t"] - sent[branch]
                if (event.get("name") == "previewd/boot" and event.get("conclusion") == "success" and branch not in live):
                    live[branch] = event["t"] - sent[branch]
        if len(live) < concurrency:
            raise RuntimeError(f"only {len(live)} of {concurrency} previews went live within {self.args.timeout} s")
        calls = len(self.fakes.control("GET", "/events")) - events_before
        # Tear the round down so the next one starts from the same state.
        for branch in branches:
            self.send(branch, shas[branch], deleted=True)
        deadline = time.time() + self.args.timeout
        while time.time() < deadline:
            if int(self.pg.scalar("SELECT count(*) FROM setup_sessions WHERE state <> 'destroyed'")) == 0 and \
                    int(self.pg.scalar("SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')")) == 0:
                break
            time.sleep(0.5)
        return [first[b] for b in branches], [live[b] for b in branches], calls / concurrency

    def run(self):
        log(f"measuring the app's own start ({self.args.app_samples} runs)")
        app = app_start_seconds(self.args.app_samples)
        app_median = harness.percentile(app, 0.5)
        self.setup()
        results = []
        for concurrency in self.args.concurrency:
            repeats = max(1, self.args.min_samples // concurrency)
            firsts, lives, calls = [], [], []
            for _ in range(repeats):
                log(f"round: {concurrency} concurrent branch(es)")
                f, l, c = self.run_round(concurrency)
                firsts += f
                lives += l
                calls.append(c)
            results.append((concurrency, firsts, lives, sum(calls) / len(calls)))
        rss = harness.peak_rss_kib(self.previewd.pid)
        workers = self.previewd.env.get("PREVIEWD_WORKERS", "4 (default)")
        print()
        print(f"previewd end-to-end (release build, local provider, PREVIEWD_WORKERS={workers}, {os.cpu_count()} CPUs)")
        print(f"app's own start (python3 -m http.server until HTTP 200): median {app_median * 1000:.0f} ms, "
              f"p95 {harness.percentile(app, 0.95) * 1000:.0f} ms ({len(app)} runs)")
        print(f"{'branches':>8} {'samples':>7} | {'first check run ms':>22} | {'live preview ms':>22} | "
              f"{'overhead ms (live - app start)':>30} | {'GitHub calls/session':>20}")
        print(f"{'':>8} {'':>7} | {'median':>10} {'p95':>11} | {'median':>10} {'p95':>11} | {'median':>14} {'p95':>15} |")
        for concurrency, firsts, lives, calls in results:
            overhead = [v - app_median for v in lives]
            print(f"{concurrency:>8} {len(lives):>7} | "
                  f"{harness.percentile(firsts, 0.5) * 1000:>10.0f} {harness.percentile(firsts, 0.95) * 1000:>11.0f} | "
                  f"{harness.percentile(lives, 0.5) * 1000:>10.0f} {harness.percentile(lives, 0.95) * 1000:>11.0f} | "
                  f"{harness.percentile(overhead, 0.5) * 1000:>14.0f} {harness.percentile(overhead, 0.95) * 1000:>15.0f} | "
                  f"{calls:>20.1f}")
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
