#!/usr/bin/env python3
"""previewd fault suite: real `previewd serve` processes under SIGKILLs, PostgreSQL restarts, GitHub and Fly faults.

Two previewd instances share one PostgreSQL and one data directory; `previewd-fakes` plays GitHub and Fly.io. A
stream of signed push deliveries (several branches of a small static site, some duplicates, branch deletions) goes
to whichever instance is up while a chaos thread SIGKILLs instances (restarting each), restarts PostgreSQL and
injects GitHub 5xx/429 answers, and with `--provider fly` also Fly Machines API 5xx/429 answers and dropped
connections. One instance is then stopped with SIGTERM in the middle of a step: while its install command runs
(local provider) or while the boot health-checks a preview that answers 502 (Fly). After a quiet period the suite
checks that every accepted delivery was processed exactly once, that the sessions' steps agree with the check runs
GitHub shows, that nothing is orphaned (no preview process with the local provider; no Fly app or machine beyond
one started machine per live preview, at the pushed commit, with Fly), and that the fakes saw no contract
violation. Run it through `bench/faults/run` (which builds first).
"""

import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from harness import log  # noqa: E402

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

MODES = {
    # ~2-3 minutes on a 2-core machine: what CI runs.
    "quick": dict(branches=4, pushes=32, duplicate_rate=0.2, deletions=1, kills=10, pg_restarts=1, faults=10,
                  traffic_seconds=70, settle_seconds=240),
    "full": dict(branches=6, pushes=140, duplicate_rate=0.15, deletions=3, kills=30, pg_restarts=2, faults=40,
                 traffic_seconds=300, settle_seconds=480),
}
CONCLUSIONS = {"succeeded": "success", "failed": "failure", "timed_out": "timed_out", "cancelled": "cancelled",
               "skipped": "skipped", "waiting_for_approval": "action_required"}
SECRET = "fault-suite-secret"
LEASE_SECONDS = 15


class Suite:
    def __init__(self, args):
        self.mode = MODES["quick" if args.quick else "full"]
        self.mode_name = "quick" if args.quick else "full"
        self.provider = args.provider
        self.seed = args.seed if args.seed is not None else random.randrange(1 << 30)
        self.rng = random.Random(self.seed)
        self.chaos_rng = random.Random(self.seed + 1)
        self.bin = args.bin
        self.keep = args.keep
        self.work = args.work or tempfile.mkdtemp(prefix="previewd-faults-")
        os.makedirs(self.work, exist_ok=True)
        os.chmod(self.work, 0o755)
        self.data_dir = os.path.join(self.work, "data")
        self.processes = harness.Processes(self.work)
        self.pg = harness.Postgres(self.work, database="faults")
        self.fakes = harness.Fakes(self.processes, os.path.join(self.bin, "previewd-fakes"), self.work)
        self.instances = []
        self.deliveries = harness.Deliveries(SECRET)
        self.failures = []
        self.lock = threading.Lock()
        # What was sent and what previewd said.
        self.sent = {}                 # delivery id -> (event, body, kind, branch, sha)
        self.accepted_order = []       # delivery ids in the order they were first accepted
        self.duplicates_sent = 0
        self.duplicate_answers = {}
        self.markers = {}              # sha -> text its index.html holds
        self.pull_requests = {}        # branch -> number of its pull request
        self.commands = {}             # comment id -> the accepted /preview command it carries, and where
        self.kills = 0
        self.crashes = 0
        self.pg_restarts = 0
        self.faults_injected = 0
        self.fault_kinds = {}
        self.fly_faults_injected = 0
        self.fly_fault_kinds = {}
        self.sigterm_report = {}
        self.stop_chaos = threading.Event()

    # MARK: Set-up

    def setup(self):
        log(f"fault suite ({self.mode_name}, {self.provider} provider), seed {self.seed}, work directory {self.work}")
        self.pg.start()
        info = self.fakes.start()
        config = os.path.join(self.work, "previewd.json")
        harness.write_config(REPO_ROOT, config, lease_seconds=LEASE_SECONDS, boot_timeout=120)
        extra = {}
        if self.provider == "fly":
            extra = {"PREVIEWD_PROVIDER": "fly", "FLY_API_TOKEN": info["fly_token"], "FLY_API_URL": info["fly_url"],
                     "FLY_PREVIEW_URL_TEMPLATE": info["fly_preview_url_template"]}
        for name in ("previewd-a", "previewd-b"):
            port = harness.free_port()
            env = harness.previewd_environment(self.pg, info, port, self.data_dir, SECRET, config, extra)
            self.instances.append(harness.Previewd(self.processes, os.path.join(self.bin, "previewd"), name, env, self.work))
        for instance in self.instances:
            instance.start()
        log(f"PostgreSQL, fakes ({info['github_url']}) and {len(self.instances)} previewd instances are up")

    def cleanup(self):
        self.stop_chaos.set()
        for instance in self.instances:
            instance.kill()
        self.fakes.stop()
        # Previews run in sessions of their own: find them by their working directory.
        harness.kill_processes_under(self.work)
        self.processes.cleanup()
        self.pg.stop()
        harness.kill_processes_under(self.work)
        self.processes.mark_cleaned()
        if self.keep or self.failures:
            log(f"kept {self.work} (logs: previewd-a.log, previewd-b.log, fakes/fakes.log, pg.log)")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    # MARK: Deliveries

    def live_instances(self):
        return [i for i in self.instances if i.alive()]

    def deliver(self, delivery_id, event, body, budget=40):
        """Sends until an instance stores it (202) or says it has it (200); returns the last status."""
        deadline = time.time() + budget
        status = None
        while time.time() < deadline:
            candidates = self.live_instances() or self.instances
            instance = self.rng.choice(candidates)
            status, headers, _ = self.deliveries.send(instance.base, event, body, delivery_id)
            if status in (200, 202):
                return status
            if status is not None and status != 503:
                self.failures.append(f"delivery {delivery_id} got {status} from {instance.name}")
                return status
            if status == 503 and "Retry-After" not in headers:
                self.failures.append(f"a 503 from {instance.name} had no Retry-After header")
            time.sleep(0.3)
        return status

    def push(self, branch, deleted=False, files=None):
        if deleted:
            sha = self.fakes.control("GET", "/info")["initial_sha"]
        else:
            marker = f"{branch} change {len(self.sent) + 1} seed {self.seed}"
            sha = self.fakes.commit(branch, dict(files or {}, **{"index.html": f"<h1>{marker}</h1>\n"}))
            self.markers[sha] = marker
        body = self.fakes.push_payload(branch, sha, deleted)
        delivery_id = harness.new_delivery_id()
        self.sent[delivery_id] = ("push", body, "delete" if deleted else "push", branch, sha)
        status = self.deliver(delivery_id, "push", body)
        if status in (200, 202):
            self.accepted_order.append(delivery_id)
        return delivery_id, status, sha

    def pull_request(self, action, branch, sha):
        """Sends a pull_request delivery for `branch`'s pull request (opened, synchronize or closed)."""
        number = self.pull_requests[branch]
        body = self.fakes.pull_request_payload(action, number, branch, sha)
        delivery_id = harness.new_delivery_id()
        kind = "delete" if action == "closed" else "push"
        self.sent[delivery_id] = ("pull_request", body, kind, branch, None if action == "closed" else sha)
        status = self.deliver(delivery_id, "pull_request", body)
        if status in (200, 202):
            self.accepted_order.append(delivery_id)
        return delivery_id, status

    def command(self, branch, text, sha):
        """Comments `text` (a `/preview` command) on `branch`'s pull request. `/preview destroy` tears the preview down;
        `/preview run` brings it back at `sha`, its last commit."""
        body = self.fakes.comment_payload(self.pull_requests[branch], text)
        delivery_id = harness.new_delivery_id()
        destroy = text.strip() == "/preview destroy"
        self.sent[delivery_id] = ("issue_comment", body, "delete" if destroy else "push", branch, None if destroy else sha)
        status = self.deliver(delivery_id, "issue_comment", body)
        if status in (200, 202):
            self.accepted_order.append(delivery_id)
            self.commands[json.loads(body)["comment"]["id"]] = f"{text} on {branch}"
        return delivery_id, status

    def wait_until_destroyed(self, branch, budget=90):
        deadline = time.time() + budget
        while time.time() < deadline:
            try:
                if self.pg.scalar(f"SELECT state FROM setup_sessions WHERE branch = '{branch}'") == "destroyed":
                    return
            except Exception:  # PostgreSQL may be restarting
                pass
            time.sleep(0.5)
        self.failures.append(f"{branch}: /preview destroy did not tear the preview down within {budget} s")

    def send_duplicate(self):
        if not self.accepted_order:
            return
        delivery_id = self.rng.choice(self.accepted_order)
        event, body = self.sent[delivery_id][0], self.sent[delivery_id][1]
        self.duplicates_sent += 1
        status = self.deliver(delivery_id, event, body)
        self.duplicate_answers[status] = self.duplicate_answers.get(status, 0) + 1
        if status == 202:
            self.failures.append(f"duplicate delivery {delivery_id} was accepted a second time (202, expected 200)")

    def traffic(self):
        mode = self.mode
        branches = [f"feature-{i}" for i in range(mode["branches"])]
        plan = [("push", self.rng.choice(branches)) for _ in range(mode["pushes"])]
        # Two branches have pull requests (see below); deletions go to the others, as GitHub closes a pull request
        # whose branch is deleted.
        pull_branches = branches[1:3] if len(branches) > 3 else []
        plain = [b for b in branches if b not in pull_branches]
        for n in range(mode["deletions"]):
            position = int(len(plan) * (n + 1) / (mode["deletions"] + 1))
            plan.insert(position, ("delete", plain[n % len(plain)]))
        # Every branch gets at least one push first, so deletions have something to delete.
        plan = [("push", b) for b in branches] + plan
        # Two branches have pull requests: opened after their first push, told of every later push (`synchronize`,
        # as GitHub sends it next to the push), and the first is closed three quarters in, which tears its preview
        # down; its later pushes go to the other branches instead, so that the close is the branch's last word.
        self.pull_requests = {b: 10 + index for index, b in enumerate(pull_branches)}
        # The second gets `/preview destroy` at 85 % and `/preview run` at 92 %: its preview must be back at its last
        # commit at the end; in between, its pushes go elsewhere too.
        quiet = set()

        def quiet_from(fraction, branch, event):
            quiet.add(branch)
            position = int(len(plan) * fraction)
            others = [b for b in branches if b not in quiet]
            return plan[:position] + [(event, branch)] + [(k, self.rng.choice(others) if b in quiet else b)
                                                          for k, b in plan[position:]]
        if pull_branches:
            plan = quiet_from(0.75, pull_branches[0], "close")
            plan = quiet_from(0.85, pull_branches[1], "destroy")
            position = int(len(plan) * 0.92)
            plan = plan[:position] + [("run", pull_branches[1])] + plan[position:]
        opened = set()
        last_sha = {}
        interval = mode["traffic_seconds"] / len(plan)
        start = time.time()
        for index, (kind, branch) in enumerate(plan):
            target = start + index * interval
            time.sleep(max(0, target - time.time()))
            if kind in ("close", "destroy", "run"):
                if branch not in opened:
                    pass
                elif kind == "close":
                    self.pull_request("closed", branch, last_sha[branch])
                else:
                    if kind == "run":
                        # As a user would: `/preview run` once the destroy is done (🚀), since previewd answers it
                        # with 😕 and a reply while the teardown still runs.
                        self.wait_until_destroyed(branch)
                    self.command(branch, f"/preview {kind}", last_sha[branch])
            else:
                _, status, sha = self.push(branch, deleted=(kind == "delete"))
                if branch in self.pull_requests and kind == "push" and status in (200, 202):
                    last_sha[branch] = sha
                    self.pull_request("synchronize" if branch in opened else "opened", branch, sha)
                    opened.add(branch)
            if self.rng.random() < mode["duplicate_rate"]:
                self.send_duplicate()
        log(f"traffic done: {len(self.sent)} deliveries sent ({self.count_events('pull_request')} pull_request, "
            f"{self.count_events('issue_comment')} /preview commands), "
            f"{len(self.accepted_order)} accepted, {self.duplicates_sent} duplicates")

    def count_events(self, event):
        return sum(1 for sent in self.sent.values() if sent[0] == event)

    # MARK: Chaos

    def check_crashes(self):
        for instance in self.instances:
            if instance.process is not None and not instance.alive() and not getattr(instance, "expected_down", False):
                self.crashes += 1
                self.failures.append(f"{instance.name} exited by itself with status {instance.process.returncode}")
                instance.start()

    def chaos(self):
        mode, rng = self.mode, self.chaos_rng
        duration = mode["traffic_seconds"]
        events = [("kill", duration * (i + 0.5) / mode["kills"] + rng.uniform(-1, 1)) for i in range(mode["kills"])]
        events += [("pg", duration * (i + 1) / (mode["pg_restarts"] + 1) + 2.3) for i in range(mode["pg_restarts"])]
        events += [("fault", rng.uniform(1, duration)) for _ in range(mode["faults"])]
        if self.provider == "fly":
            events += [("fly-fault", rng.uniform(1, duration)) for _ in range(mode["faults"])]
        events.sort(key=lambda e: e[1])
        start = time.time()
        for kind, at in events:
            while time.time() < start + at:
                if self.stop_chaos.wait(0.2):
                    return
                self.check_crashes()
            if kind == "kill":
                instance = rng.choice(self.instances)
                if not instance.alive():
                    continue
                instance.expected_down = True
                instance.kill()
                self.kills += 1
                time.sleep(rng.uniform(0.2, 2.0))
                instance.start()
                instance.expected_down = False
                log(f"SIGKILL {self.kills}: {instance.name} killed and restarted")
            elif kind == "pg":
                self.pg.restart()
                self.pg_restarts += 1
                log(f"PostgreSQL restarted ({self.pg_restarts})")
            elif kind == "fly-fault":
                self.inject_fly_fault(rng)
            else:
                fault = rng.choice([
                    {"status": rng.choice([500, 502, 503]), "times": rng.randint(1, 3)},
                    {"rate_limited": 1, "times": rng.randint(1, 2)},
                    # The write happens but the answer is a 502 (GitHub's front end does this).
                    {"after_apply_status": 502, "times": 1, "matching": "POST /repos/octo/site/check-runs"},
                    {"after_apply_status": 502, "times": 1, "matching": "POST /repos/"},
                ])
                self.fakes.control("POST", "/faults", fault)
                self.faults_injected += 1
                kind = "5xx" if "status" in fault else "429" if "rate_limited" in fault else "5xx after the write"
                self.fault_kinds[kind] = self.fault_kinds.get(kind, 0) + 1

    def inject_fly_fault(self, rng):
        """A Fly Machines API fault: 5xx, 429 with Retry-After, or no answer (Fly's edge then says 502), on any call
        or on the calls that create or change what a preview runs on."""
        fault = rng.choice([
            {"status": rng.choice([500, 502, 503]), "times": rng.randint(1, 3)},
            {"rate_limited": 1, "times": rng.randint(1, 2)},
            {"connection_failure": True, "times": 1},
            {"status": 503, "times": rng.randint(1, 2), "matching": "POST /apps/{app_name}/machines"},
            {"status": 500, "times": 1, "matching": "POST /apps"},
            {"status": 502, "times": 1, "matching": "DELETE /apps"},
        ])
        self.fakes.control("POST", "/fly/faults", fault)
        self.fly_faults_injected += 1
        kind = "5xx" if "status" in fault else "429" if "rate_limited" in fault else "no answer"
        self.fly_fault_kinds[kind] = self.fly_fault_kinds.get(kind, 0) + 1

    # MARK: SIGTERM

    def sigterm_phase(self):
        if self.provider == "fly":
            self.sigterm_phase_fly()
        else:
            self.sigterm_phase_local()

    def sigterm_phase_fly(self):
        """SIGTERM the instance whose boot is health-checking a Fly preview that answers 502: the exit must be clean
        and quick, webhooks meanwhile refused with 503 + Retry-After or a closed port, and the boot handed back (the
        other instance takes it over before the lease could have expired) and finished once previews answer again."""
        for instance in self.instances:
            if not instance.alive():
                instance.start()
        branch = "slow-boot"
        self.fakes.control("POST", "/fly/preview-status", {"status": 502})
        try:
            _, status, sha = self.push(branch)
            if status not in (200, 202):
                self.failures.append(f"SIGTERM phase: the push to {branch} was not accepted ({status})")
                return
            owner, job_id, lease_owner = None, None, None
            deadline = time.time() + 120
            while time.time() < deadline and owner is None:
                rows = self.pg.query(
                    "SELECT j.id, j.lease_owner FROM jobs j JOIN session_steps s ON s.id = (j.payload->>'stepID')::bigint "
                    f"JOIN setup_sessions ss ON ss.id = s.session_id WHERE ss.branch = '{branch}' AND s.name = 'boot' "
                    "AND s.status = 'running' AND j.state = 'running' AND j.kind = 'session_step'")
                for row_id, row_owner in rows:
                    pid = int(row_owner.split(":")[-2]) if row_owner and row_owner.count(":") >= 2 else None
                    owner = next((i for i in self.instances if i.pid == pid and i.alive()), None)
                    job_id, lease_owner = row_id, row_owner
                time.sleep(0.3)
            if owner is None:
                self.failures.append("SIGTERM phase: no boot of a Fly preview was found running on a previewd instance")
                return
            other = next(i for i in self.instances if i is not owner)
            log(f"SIGTERM to {owner.name} while its boot of {branch} health-checks a preview answering 502 (job {job_id})")
            owner.expected_down = True
            signalled = time.time()
            outcome = self.terminate_with_traffic(owner, branch, sha)

            def taken_over():
                row = self.pg.query(f"SELECT state, lease_owner FROM jobs WHERE id = {job_id}")
                return bool(row) and row[0][0] == "running" and row[0][1] not in (None, lease_owner) and \
                    row[0][1].split(":")[-2] == str(other.pid)

            self.end_sigterm_phase(owner, outcome, self.wait_for_takeover(other, signalled, taken_over, "boot"))
        finally:
            self.fakes.control("POST", "/fly/preview-status", {"status": None})
        # Deleting the branch tears the preview down: its Fly app must go.
        self.push(branch, deleted=True)

    def wait_for_takeover(self, other, since, taken_over, what):
        """Seconds from `since` until `taken_over()` held, or None (a failure) if not within a few seconds less than a
        lease: a job handed back is taken over at once, one merely abandoned only when its lease expires."""
        deadline = time.time() + LEASE_SECONDS - 3
        while time.time() < deadline:
            if taken_over():
                return time.time() - since
            time.sleep(0.2)
        self.failures.append(f"SIGTERM phase: {other.name} did not take the {what} over within {LEASE_SECONDS - 3} s "
                             "(the job was not handed back)")
        return None

    def end_sigterm_phase(self, owner, outcome, takeover):
        """Restarts the instance that was stopped and records what the SIGTERM phase saw."""
        probes, code, exited_after, in_flight_status = outcome
        owner.start()
        owner.expected_down = False
        self.sigterm_report = {"exit_status": code, "exit_seconds": round(exited_after, 2), "in_flight": in_flight_status,
                               "later_probes": probes, "takeover_seconds": round(takeover, 2) if takeover else None}
        log(f"SIGTERM phase: {self.sigterm_report}")

    def terminate_with_traffic(self, owner, branch, sha):
        """SIGTERMs `owner` with a delivery in flight and sends a few more while it stops; returns the later probes'
        answers, the exit status, seconds until exit and the in-flight delivery's answer."""
        in_flight_id = harness.new_delivery_id()
        in_flight_body = self.fakes.push_payload(branch, sha)
        self.sent[in_flight_id] = ("push", in_flight_body, "push", branch, sha)
        in_flight = harness.start_delivery(owner.port, "push", in_flight_body, in_flight_id, SECRET)
        sent_at = time.time()
        owner.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        in_flight_status, in_flight_headers = harness.finish_delivery(in_flight)
        if in_flight_status != 503 or "retry-after" not in in_flight_headers:
            self.failures.append(f"SIGTERM phase: a delivery in flight got {in_flight_status} {in_flight_headers} "
                                 "(expected 503 with Retry-After)")
        probes = []
        for _ in range(5):
            delivery_id = harness.new_delivery_id()
            body = self.fakes.push_payload(branch, sha)
            self.sent[delivery_id] = ("push", body, "push", branch, sha)
            probe, headers, _ = self.deliveries.send(owner.base, "push", body, delivery_id, timeout=30)
            probes.append(probe)
            if probe in (200, 202):
                self.accepted_order.append(delivery_id)
            elif probe == 503 and "Retry-After" not in headers:
                self.failures.append("SIGTERM phase: a 503 during shutdown had no Retry-After header")
            elif probe not in (None, 503):
                self.failures.append(f"SIGTERM phase: a webhook during shutdown got {probe}")
            time.sleep(0.05)
        try:
            code = owner.process.wait(timeout=40)
        except Exception:
            self.failures.append("SIGTERM phase: previewd did not exit within 40 s of SIGTERM")
            owner.kill()
            code = None
        exited_after = time.time() - sent_at
        if code not in (0, None):
            self.failures.append(f"SIGTERM phase: previewd exited with status {code}")
        return probes, code, exited_after, in_flight_status

    def sigterm_phase_local(self):
        """SIGTERM an instance while a step's install command runs: the command must die with it, the step be
        handed back (another instance takes it over before the lease could have expired), the exit be clean and
        webhooks in the meantime be refused with 503 + Retry-After or a closed port."""
        for instance in self.instances:
            if not instance.alive():
                instance.start()
        branch = "slow-install"
        _, status, sha = self.push(branch, files={".github/preview.yml": "install: sleep 600\n"})
        if status not in (200, 202):
            self.failures.append(f"SIGTERM phase: the push to {branch} was not accepted ({status})")
            return
        session = None
        install = None
        owner = None
        deadline = time.time() + 120
        while time.time() < deadline and install is None:
            session = self.pg.scalar(f"SELECT id FROM setup_sessions WHERE branch = '{branch}'")
            if session:
                # `/bin/sh -c 'sleep 600'` is the command previewd started: its parent is a previewd instance.
                for pid, pgid, cmdline in harness.preview_processes(self.work).get(session, []):
                    parent = harness.parent_pid(pid)
                    owner = next((i for i in self.instances if i.pid == parent), None)
                    if "sleep 600" in cmdline and owner is not None:
                        install = (pid, pgid)
                        break
            time.sleep(0.3)
        if install is None:
            self.failures.append("SIGTERM phase: no install command started by a previewd instance was found")
            return
        other = next(i for i in self.instances if i is not owner)
        log(f"SIGTERM to {owner.name} while it runs 'sleep 600' (process group {install[1]}) for {branch}")
        owner.expected_down = True
        # A delivery in flight when SIGTERM arrives (headers and half the body sent) must be answered 503 with
        # Retry-After, not dropped and not stored.
        sent_at = time.time()
        outcome = self.terminate_with_traffic(owner, branch, sha)
        time.sleep(0.5)
        try:
            os.killpg(install[1], 0)
            survivors = [p for p, g, _ in harness.preview_processes(self.work).get(session, []) if g == install[1]]
            if survivors:
                self.failures.append(f"SIGTERM phase: the install command's process group {install[1]} outlived previewd: {survivors}")
        except ProcessLookupError:
            pass
        # Handed back: the other instance runs the install again well before a lease could have expired.
        def taken_over():
            return any("sleep 600" in cmdline and pgid != install[1]
                       for _, pgid, cmdline in harness.preview_processes(self.work).get(session, []))

        self.end_sigterm_phase(owner, outcome, self.wait_for_takeover(other, sent_at, taken_over, "step"))
        # Deleting the branch cancels the running boot and tears the preview down (its install included).
        self.push(branch, deleted=True)

    # MARK: Settling and checks

    def pending_work(self):
        return {
            "open jobs": int(self.pg.scalar("SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')")),
            "unprocessed deliveries": int(self.pg.scalar(
                "SELECT count(*) FROM webhook_deliveries WHERE status IN ('received', 'processing')")),
            "unreported steps": int(self.pg.scalar("SELECT count(*) FROM session_steps WHERE report_version > reported_version")),
            "sessions being destroyed": int(self.pg.scalar("SELECT count(*) FROM setup_sessions WHERE state = 'destroying'")),
        }

    def settle(self):
        for instance in self.instances:
            if not instance.alive():
                instance.start()
        deadline = time.time() + self.mode["settle_seconds"]
        started = time.time()
        pending = None
        while time.time() < deadline:
            self.check_crashes()
            try:
                pending = self.pending_work()
            except Exception as error:  # PostgreSQL may still be coming back
                pending = {"error": str(error)}
            if all(v == 0 for v in pending.values() if isinstance(v, int)) and "error" not in pending:
                log(f"settled after {time.time() - started:.0f} s")
                return True
            time.sleep(2)
        self.failures.append(f"did not settle within {self.mode['settle_seconds']} s: {pending}")
        for row in self.pg.query("SELECT id, kind, state, attempts, run_at, lease_owner, left(last_error, 200) FROM jobs "
                                 "WHERE state IN ('queued', 'running') ORDER BY id LIMIT 20"):
            log(f"  open job {row}")
        return False

    def check_deliveries(self):
        accepted = set(self.accepted_order)
        rows = {r[0]: r for r in self.pg.query(
            "SELECT d.delivery_id, d.status, d.status_reason, "
            "(SELECT count(*) FROM jobs j WHERE j.kind = 'process_delivery' AND j.dedupe_key = d.delivery_id), "
            "(SELECT count(*) FROM jobs j WHERE j.kind = 'process_delivery' AND j.dedupe_key = d.delivery_id AND j.state = 'succeeded') "
            "FROM webhook_deliveries d")}
        processed = 0
        for delivery_id in accepted:
            row = rows.get(delivery_id)
            if row is None:
                self.failures.append(f"accepted delivery {delivery_id} is not stored")
                continue
            _, status, reason, jobs, succeeded = row
            if status not in ("processed", "ignored"):
                self.failures.append(f"delivery {delivery_id} ended {status}: {reason}")
            elif status == "processed" and (jobs, succeeded) != ("1", "1"):
                self.failures.append(f"delivery {delivery_id} has {jobs} jobs, {succeeded} succeeded (expected exactly one)")
            elif status == "ignored" and (jobs not in ("0", "1") or (jobs == "1" and succeeded != "1")):
                self.failures.append(f"ignored delivery {delivery_id} has {jobs} jobs, {succeeded} succeeded")
            else:
                processed += 1
        unknown = set(rows) - set(self.sent)
        if unknown:
            self.failures.append(f"{len(unknown)} stored deliveries were never sent: {sorted(unknown)[:3]}")
        not_accepted_but_stored = (set(rows) & set(self.sent)) - accepted
        # A delivery whose 202 was lost (instance killed while answering) is stored yet never counted as
        # accepted; it must still have been processed exactly once.
        for delivery_id in not_accepted_but_stored:
            _, status, reason, jobs, succeeded = rows[delivery_id]
            if status not in ("processed", "ignored") or jobs != succeeded:
                self.failures.append(f"delivery {delivery_id} (answer lost) ended {status} with {jobs} jobs, {succeeded} succeeded")
        leftovers = self.pg.query("SELECT kind, state, count(*) FROM jobs WHERE state <> 'succeeded' GROUP BY 1, 2")
        for kind, state, count in leftovers:
            if state in ("queued", "running", "failed"):
                self.failures.append(f"{count} {kind} job(s) left {state}")
        return processed, len(not_accepted_but_stored)

    def expected_branches(self):
        """branch -> ('push', sha) or ('delete', None): the last accepted delivery of each branch."""
        expected = {}
        for delivery_id in self.accepted_order:
            _, _, kind, branch, sha = self.sent[delivery_id]
            expected[branch] = ("delete", None) if kind == "delete" else ("push", sha)
        return expected

    def check_sessions(self):
        check_runs = {run["id"]: run for run in self.fakes.control("GET", "/check-runs")}
        sessions = self.pg.query("SELECT id, branch, state, head_sha, preview_url FROM setup_sessions ORDER BY branch")
        expected = self.expected_branches()
        summary = {"live": 0, "destroyed": 0, "other": 0}
        for session_id, branch, state, head_sha, preview_url in sessions:
            want = expected.get(branch)
            if want is None:
                self.failures.append(f"session for {branch} exists but no delivery for it was accepted")
                continue
            if want[0] == "delete":
                if state != "destroyed":
                    self.failures.append(f"{branch}: deleted last, but its session is {state}")
            elif state != "active" or head_sha != want[1]:
                self.failures.append(f"{branch}: expected an active session at {want[1][:7]}, found {state} at {(head_sha or '')[:7]}")
            summary["live" if state == "active" else "destroyed" if state == "destroyed" else "other"] += 1
            run = self.pg.query(f"SELECT id, head_sha, state FROM session_runs WHERE session_id = '{session_id}' ORDER BY id DESC LIMIT 1")
            if not run:
                continue
            run_id, run_sha, run_state = run[0]
            steps = self.pg.query(f"SELECT name, status, check_run_id FROM session_steps WHERE run_id = {run_id} ORDER BY position")
            for name, status, check_run_id in steps:
                where = f"{branch} {run_sha[:7]} {name}"
                if status in ("queued", "running"):
                    self.failures.append(f"{where}: still {status} after settling")
                if check_run_id is None:
                    if status not in ("pending", "cancelled", "skipped"):
                        self.failures.append(f"{where}: {status} but GitHub has no check run for it")
                    continue
                run_json = check_runs.get(int(check_run_id))
                if run_json is None:
                    self.failures.append(f"{where}: check run {check_run_id} is unknown to GitHub")
                    continue
                if run_json["name"] != f"previewd/{name}" or run_json["head_sha"] != run_sha:
                    self.failures.append(f"{where}: check run {check_run_id} is {run_json['name']} on {run_json['head_sha'][:7]}")
                if run_json["status"] != "completed" or run_json["conclusion"] != CONCLUSIONS.get(status):
                    self.failures.append(f"{where}: step is {status} but its check run is {run_json['status']}/{run_json['conclusion']}")
            if state == "active" and want[0] == "push":
                boot = dict((n, s) for n, s, _ in steps).get("boot")
                if boot != "succeeded":
                    self.failures.append(f"{branch}: boot of the latest push ended {boot}")
                elif preview_url:
                    # The local provider serves the pushed site itself; the fake Fly's preview apps only say they
                    # are up (check_fly compares their machines' commit with the push).
                    marker = self.markers.get(want[1], "") if self.provider == "local" else ""
                    try:
                        status, _, body = harness.http("GET", preview_url, timeout=5)
                        if status != 200 or marker.encode() not in body:
                            self.failures.append(f"{branch}: {preview_url} answered {status} without '{marker}'")
                    except OSError as error:
                        self.failures.append(f"{branch}: {preview_url} does not answer: {error}")
        # Every step has at most one check run, and none is left spinning.
        by_step = {}
        for run in check_runs.values():
            by_step.setdefault((run["name"], run["head_sha"], run.get("external_id")), []).append(run["id"])
            if run["status"] != "completed":
                self.failures.append(f"check run {run['id']} ({run['name']} on {run['head_sha'][:7]}) is left {run['status']}")
        for key, ids in by_step.items():
            if len(ids) > 1:
                self.failures.append(f"step {key[2]} ({key[0]} on {key[1][:7]}) has {len(ids)} check runs: {ids}")
        return summary, len(check_runs)

    def check_processes(self):
        sessions = {r[0]: (r[1], r[2]) for r in self.pg.query("SELECT id, branch, state FROM setup_sessions")}
        running = harness.preview_processes(self.work)
        previews = os.path.join(self.data_dir, "previews")
        directories = set(os.listdir(previews)) if os.path.isdir(previews) else set()
        for session_id, (branch, state) in sessions.items():
            groups = {pgid for _, pgid, _ in running.get(session_id, [])}
            if state == "destroyed":
                if groups:
                    self.failures.append(f"{branch}: destroyed, yet process groups {sorted(groups)} still run")
                if session_id in directories:
                    self.failures.append(f"{branch}: destroyed, yet its work directory is still there")
            elif state == "active":
                boot = self.pg.scalar(
                    f"SELECT s.status FROM session_steps s JOIN session_runs r ON r.id = s.run_id "
                    f"WHERE r.session_id = '{session_id}' AND s.name = 'boot' ORDER BY r.id DESC LIMIT 1")
                if boot == "succeeded" and len(groups) != 1:
                    self.failures.append(f"{branch}: live preview has {len(groups)} process groups {sorted(groups)} (expected 1)")
                elif boot != "succeeded" and len(groups) > 1:
                    self.failures.append(f"{branch}: {len(groups)} process groups for a preview whose boot is {boot}")
                if boot == "succeeded":
                    state_file = os.path.join(previews, session_id, "state.json")
                    try:
                        with open(state_file) as f:
                            recorded = json.load(f).get("pgid")
                        if groups and recorded not in groups:
                            self.failures.append(f"{branch}: state.json names process group {recorded}, running: {sorted(groups)}")
                    except OSError:
                        self.failures.append(f"{branch}: live preview without {state_file}")
        for session_id in set(running) - set(sessions):
            self.failures.append(f"processes {running[session_id]} belong to no session ({session_id})")
        for name in directories - set(sessions):
            self.failures.append(f"work directory {name} belongs to no session")

    def check_comments(self):
        """Each pull request's session keeps one sticky comment on GitHub: the one it records exists, carries its
        marker and tells the truth (the preview URL while live, the teardown once destroyed). Returns how many more
        comments carry a session's marker: GitHub made them but answered 502, and the API previewd may use has no call
        to list comments and adopt them (a known limit)."""
        comments = {c["id"]: c for c in self.fakes.control("GET", "/comments")}
        extra = 0
        for branch, number in self.pull_requests.items():
            rows = self.pg.query(f"SELECT id, state, preview_url, comment_id FROM setup_sessions WHERE branch = '{branch}'")
            if not rows:
                continue
            session_id, state, preview_url, comment_id = rows[0]
            marker = f"<!-- previewd:session:{session_id} -->"
            ours = [c for c in comments.values() if c["issue_number"] == number and marker in (c["body"] or "")]
            extra += max(0, len(ours) - 1)
            comment = comments.get(int(comment_id)) if comment_id else None
            if comment is None or marker not in (comment["body"] or ""):
                self.failures.append(f"{branch}: pull request #{number} has no sticky comment of its session (recorded: {comment_id})")
            elif state == "active" and preview_url and preview_url not in comment["body"]:
                self.failures.append(f"{branch}: the sticky comment on #{number} does not show the live preview {preview_url}")
            elif state == "destroyed" and "torn down" not in comment["body"]:
                self.failures.append(f"{branch}: the sticky comment on #{number} does not say the preview was torn down")
        # Every accepted command was carried out: 🚀 on its comment (for `/preview destroy` once the teardown is
        # done), never 😕 (refused or failed).
        reactions = {}
        for reaction in self.fakes.control("GET", "/reactions"):
            reactions.setdefault(reaction["comment_id"], set()).add(reaction["content"])
        for comment_id, command in self.commands.items():
            got = reactions.get(comment_id, set())
            if "rocket" not in got or "confused" in got:
                self.failures.append(f"{command}: its comment got reactions {sorted(got)} (expected rocket, not confused)")
        return extra

    def check_fly(self):
        """Fly holds exactly what the sessions say: one started machine at the pushed commit per live preview, no app
        of a destroyed session and no app nobody owns. Returns (apps, machines) on Fly."""
        apps = {app["name"]: app for app in self.fakes.control("GET", "/fly/apps")}
        owned = {}
        for session_id, branch, state, head_sha, allocation in self.pg.query(
                "SELECT id, branch, state, head_sha, provider_state::text FROM setup_sessions"):
            app_name = json.loads(allocation)["values"].get("app") if allocation else None
            boot = self.pg.scalar(
                f"SELECT s.status FROM session_steps s JOIN session_runs r ON r.id = s.run_id "
                f"WHERE r.session_id = '{session_id}' AND s.name = 'boot' ORDER BY r.id DESC LIMIT 1")
            if state == "destroyed":
                if app_name:
                    self.failures.append(f"{branch}: destroyed, yet it still records Fly app {app_name}")
                continue
            if app_name:
                owned[app_name] = branch
            if state != "active" or boot != "succeeded":
                continue
            app = apps.get(app_name)
            if app is None:
                self.failures.append(f"{branch}: live preview on Fly app {app_name}, which Fly does not have")
                continue
            machines = app["machines"]
            if len(machines) != 1 or machines[0]["state"] != "started":
                self.failures.append(f"{branch}: Fly app {app_name} has machines {[(m['id'], m['state']) for m in machines]} "
                                     "(expected one, started)")
            elif machines[0]["env"].get("SHA") != head_sha:
                self.failures.append(f"{branch}: the machine of {app_name} runs {machines[0]['env'].get('SHA')}, not {head_sha}")
        for name in set(apps) - set(owned):
            self.failures.append(f"Fly app {name} (machines {[m['id'] for m in apps[name]['machines']]}) belongs to no session")
        violations = self.fakes.control("GET", "/fly/violations")
        for violation in violations[:10]:
            self.failures.append(f"Fly contract violation: {violation}")
        summary = self.fakes.control("GET", "/fly/summary")
        if summary["unauthorized"]:
            self.failures.append(f"{summary['unauthorized']} Fly requests carried no or a wrong token")
        if harness.preview_processes(self.work):
            self.failures.append(f"with the Fly provider, preview processes run locally: {harness.preview_processes(self.work)}")
        return len(apps), sum(len(app["machines"]) for app in apps.values()), summary

    def check_contract(self):
        violations = self.fakes.control("GET", "/violations")
        for violation in violations[:10]:
            self.failures.append(f"contract violation: {violation}")
        return len(violations)

    # MARK: Run

    def run(self):
        self.setup()
        chaos = threading.Thread(target=self.chaos_guarded, daemon=True)
        chaos.start()
        self.traffic()
        chaos.join(timeout=self.mode["traffic_seconds"] + 120)
        self.stop_chaos.set()
        self.sigterm_phase()
        self.settle()
        processed, lost_answers = self.check_deliveries()
        sessions, check_runs = self.check_sessions()
        extra_comments = self.check_comments()
        fly = self.check_fly() if self.provider == "fly" else None
        if self.provider == "local":
            self.check_processes()
        violations = self.check_contract()
        summary = self.fakes.control("GET", "/summary")
        print()
        print(f"fault suite ({self.mode_name}, {self.provider} provider, seed {self.seed})")
        print(f"  deliveries sent       {len(self.sent)} (+{self.duplicates_sent} duplicate sends; answers {self.duplicate_answers})")
        print(f"  accepted (202/200)    {len(self.accepted_order)}")
        print(f"  processed exactly once {processed} (+{lost_answers} stored whose answer was lost)")
        print(f"  SIGKILLs survived     {self.kills}")
        print(f"  PostgreSQL restarts   {self.pg_restarts}")
        print(f"  GitHub faults         {self.faults_injected} injected {self.fault_kinds}; GitHub answered {summary['requests']} requests {summary['by_status']}")
        if fly:
            apps, machines, fly_summary = fly
            print(f"  Fly faults            {self.fly_faults_injected} injected {self.fly_fault_kinds}; Fly answered "
                  f"{fly_summary['requests']} requests {fly_summary['by_status']}; {apps} apps, {machines} machines left")
        print(f"  SIGTERM               {self.sigterm_report}")
        print(f"  sessions              {sessions}; check runs {check_runs}; contract violations {violations}")
        print(f"  pull requests         {len(self.pull_requests)} ({self.count_events('pull_request')} deliveries, "
              f"{self.count_events('issue_comment')} /preview commands); "
              f"extra sticky comments (502 after the write, cannot be adopted) {extra_comments}")
        print(f"  instance starts       " + ", ".join(f"{i.name} {i.starts}" for i in self.instances))
        return not self.failures

    def chaos_guarded(self):
        try:
            self.chaos()
        except Exception as error:  # a failed restart must fail the suite, not hang it
            self.failures.append(f"chaos thread: {error}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the short run CI uses (about 2-3 minutes)")
    parser.add_argument("--seed", type=int, help="random seed (printed; pass it again to replay the same plan)")
    parser.add_argument("--provider", choices=["local", "fly"], default="local",
                        help="where previews run: local processes, or the fake Fly Machines API (with Fly faults)")
    parser.add_argument("--bin", required=True, help="directory with the built previewd and previewd-fakes")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs) even when passing")
    parser.add_argument("--work", help="work directory (default: a new one under /tmp)")
    args = parser.parse_args()
    suite = Suite(args)

    def interrupted(number, _frame):
        raise KeyboardInterrupt(f"signal {number}")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    ok = False
    try:
        ok = suite.run()
    except KeyboardInterrupt as error:
        suite.failures.append(f"interrupted ({error})")
    except Exception as error:
        suite.failures.append(f"the suite itself failed: {error!r}")
        import traceback
        traceback.print_exc()
    finally:
        suite.cleanup()
    for failure in suite.failures:
        harness.fail(failure)
    print("faults: " + ("1 passed, 0 failed" if ok and not suite.failures else "0 passed, 1 failed"), flush=True)
    sys.exit(0 if ok and not suite.failures else 1)


if __name__ == "__main__":
    main()
