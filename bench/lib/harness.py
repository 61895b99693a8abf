"""Shared pieces of the scripts that run real previewd processes: a private PostgreSQL, the fakes process
(`previewd-fakes`), previewd instances, signed webhook deliveries, and a /proc scan for preview processes.

Every process is started in a session of its own and recorded in a `Processes` registry, so `cleanup()` can
end each one (and its process group) even when the script fails half-way.
"""

import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

PGBIN = sorted(
    (os.path.join("/usr/lib/postgresql", v, "bin") for v in os.listdir("/usr/lib/postgresql")),
    key=lambda p: [int(x) for x in p.split("/")[-2].split(".") if x.isdigit()],
)[-1] if os.path.isdir("/usr/lib/postgresql") else ""
MARKER = "PREVIEWD_PREVIEW_ID"


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=10):
    """Returns (status, headers, body bytes); raises OSError (URLError) when nothing answered."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def http_json(method, url, body=None, timeout=10):
    status, _, data = http(method, url, body, {"Content-Type": "application/json"}, timeout)
    if status >= 300:
        raise RuntimeError(f"{method} {url} answered {status}: {data[:300]!r}")
    return json.loads(data)


# Nothing here may reach a proxy: everything is on loopback.
os.environ["no_proxy"] = os.environ["NO_PROXY"] = "127.0.0.1,localhost"
for _name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
    os.environ.pop(_name, None)
urllib.request.install_opener(urllib.request.build_opener(urllib.request.ProxyHandler({})))


class Processes:
    """Every process this script started; `cleanup` ends them all, process group first."""

    def __init__(self, work):
        self.children = []
        self.work = work
        self.pidfile = os.path.join(work, "pids")

    def start(self, args, log_path, env=None, cwd=None):
        out = open(log_path, "ab")
        child = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env=env, cwd=cwd, start_new_session=True)
        out.close()
        self.children.append(child)
        # For the run script's backstop, should this script die before `cleanup`.
        with open(self.pidfile, "a") as f:
            f.write(f"{child.pid}\n")
        return child

    def mark_cleaned(self):
        """Tells the run script's backstop that everything was ended."""
        if os.path.isdir(self.work):
            open(os.path.join(self.work, ".cleaned"), "w").close()

    def cleanup(self):
        for child in self.children:
            if child.poll() is None:
                try:
                    os.killpg(child.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for child in self.children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


class Postgres:
    """A private cluster under `work/pg`, reached through a Unix socket in `work/pgsock`."""

    def __init__(self, work, database="previewd", statements=False):
        self.dir = os.path.join(work, "pg")
        self.socket_dir = os.path.join(work, "pgsock")
        self.log = os.path.join(work, "pg.log")
        self.database = database
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.options = f"-k {self.socket_dir} -c listen_addresses='' -c max_connections=200 -c fsync=off"
        if statements:
            # pg_stat_statements (from PostgreSQL's own contrib): what previewd asks of the server, statement by statement.
            self.options += " -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all -c pg_stat_statements.track_planning=on"
        self.running = False

    @property
    def url(self):
        return f"postgres://previewd@/{self.database}?host={self.socket_dir}"

    def _pg(self, *args, check=True):
        return subprocess.run(self.as_postgres + list(args), check=check, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self):
        for path in (self.dir, self.socket_dir):
            os.makedirs(path, exist_ok=True)
            if self.as_postgres:
                shutil.chown(path, "postgres")
        open(self.log, "a").close()
        if self.as_postgres:
            shutil.chown(self.log, "postgres")
        self._pg(f"{PGBIN}/initdb", "-D", self.dir, "-U", "previewd", "--auth=trust", "-E", "UTF8", "--locale=C")
        self._pg(f"{PGBIN}/pg_ctl", "-D", self.dir, "-l", self.log, "-w", "-o", self.options, "start")
        self.running = True
        self._pg(f"{PGBIN}/createdb", "-h", self.socket_dir, "-U", "previewd", self.database)

    def restart(self):
        self._pg(f"{PGBIN}/pg_ctl", "-D", self.dir, "-l", self.log, "-w", "-m", "fast", "-o", self.options, "restart")

    def stop(self):
        if self.running:
            self._pg(f"{PGBIN}/pg_ctl", "-D", self.dir, "-w", "-m", "immediate", "stop", check=False)
            self.running = False

    def query(self, sql):
        """Rows as lists of strings (NULL as None), through psql."""
        result = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-F", "\x1f", "-R", "\x1e", "-P", "null=\x1d",
             "-h", self.socket_dir, "-U", "previewd", "-d", self.database, "-v", "ON_ERROR_STOP=1", "-c", sql],
            check=True, capture_output=True)
        text = result.stdout.decode()
        rows = []
        for line in text.split("\x1e"):
            line = line.strip("\n")
            if not line:
                continue
            rows.append([None if v == "\x1d" else v for v in line.split("\x1f")])
        return rows

    def scalar(self, sql):
        rows = self.query(sql)
        return rows[0][0] if rows else None


class Fakes:
    """The `previewd-fakes` process: fake GitHub, fake Fly and the control API."""

    def __init__(self, processes, binary, work):
        self.processes, self.binary, self.dir = processes, binary, os.path.join(work, "fakes")
        self.process = None
        self.info = None

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        path = os.path.join(self.dir, "fakes.json")
        self.process = self.processes.start([self.binary, "--dir", self.dir], os.path.join(self.dir, "fakes.log"))
        deadline = time.time() + 60
        while not os.path.exists(path):
            if self.process.poll() is not None:
                raise RuntimeError(f"previewd-fakes exited with {self.process.returncode}; see {self.dir}/fakes.log")
            if time.time() > deadline:
                raise RuntimeError("previewd-fakes did not start within 60 s")
            time.sleep(0.05)
        with open(path) as f:
            self.info = json.load(f)
        return self.info

    def control(self, method, path, body=None):
        return http_json(method, self.info["control_url"] + path, body, timeout=30)

    def commit(self, branch, files):
        return self.control("POST", "/commit", {"branch": branch, "files": files})["sha"]

    def payload(self, event, fields):
        """A webhook payload for `event` made by the fakes' control API (`/payloads/<event>`) from `fields`."""
        status, _, body = http("POST", self.info["control_url"] + f"/payloads/{event}", json.dumps(fields).encode(),
                               {"Content-Type": "application/json"}, timeout=30)
        if status != 200:
            raise RuntimeError(f"{event} payload: {status} {body[:200]!r}")
        return body

    def push_payload(self, branch, sha, deleted=False):
        return self.payload("push", {"branch": branch, "sha": sha, "deleted": deleted})

    def pull_request_payload(self, action, number, branch, sha):
        """A pull_request webhook (`opened`, `synchronize` or `closed`); the fake's pull request follows it."""
        return self.payload("pull_request", {"action": action, "number": number, "branch": branch, "sha": sha})

    def comment_payload(self, number, body, login="collaborator"):
        """An issue_comment webhook: `login`, a collaborator with write access, comments `body` on pull request `number`."""
        return self.payload("issue_comment", {"number": number, "body": body, "login": login})

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


class Previewd:
    """One `previewd serve` process; `start` waits until /healthz answers."""

    def __init__(self, processes, binary, name, env, work):
        self.processes, self.binary, self.name = processes, binary, name
        self.port = int(env["PORT"])
        self.env = env
        self.log_path = os.path.join(work, f"{name}.log")
        self.process = None
        self.starts = 0

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.process.pid if self.process else None

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def start(self, timeout=90):
        """Starts the process (again while it exits early, e.g. during a PostgreSQL restart) until healthy."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(self.log_path, "ab") as f:
                f.write(f"\n==== start {self.starts + 1} at {time.strftime('%H:%M:%S')} ====\n".encode())
            self.process = self.processes.start([self.binary, "serve"], self.log_path, env=self.env)
            self.starts += 1
            while time.time() < deadline:
                if self.process.poll() is not None:
                    break
                try:
                    if http("GET", self.base + "/healthz", timeout=2)[0] == 200:
                        return
                except OSError:
                    pass
                time.sleep(0.1)
            time.sleep(0.5)
        raise RuntimeError(f"{self.name} did not become healthy within {timeout} s; see {self.log_path}")

    def kill(self):
        if self.alive():
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()


class Deliveries:
    """Signs and sends webhook deliveries, recording every answer."""

    def __init__(self, secret):
        self.secret = secret.encode()
        self.answers = {}   # delivery id -> [status or 'refused', ...]
        self.accepted = {}  # delivery id -> (event kind, branch, sha)

    def send(self, base, event, body, delivery_id, timeout=15):
        signature = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-GitHub-Event": event, "X-GitHub-Delivery": delivery_id,
                   "X-Hub-Signature-256": signature, "User-Agent": "GitHub-Hookshot/previewd-bench"}
        try:
            status, response_headers, _ = http("POST", base + "/webhooks/github", body, headers, timeout=timeout)
        except (OSError, ConnectionError) as error:
            self.answers.setdefault(delivery_id, []).append("refused")
            return None, {}, error
        self.answers.setdefault(delivery_id, []).append(status)
        return status, response_headers, None


def delivery_head(port, event, body, delivery_id, secret):
    """The request line and headers of a signed delivery of `body` (sent with `Connection: close`)."""
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return (f"POST /webhooks/github HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"X-GitHub-Event: {event}\r\nX-GitHub-Delivery: {delivery_id}\r\nX-Hub-Signature-256: {signature}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()


def start_delivery(port, event, body, delivery_id, secret):
    """Opens a connection and sends a signed delivery's headers and half its body; `finish_delivery` sends the rest."""
    head = delivery_head(port, event, body, delivery_id, secret)
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    half = len(body) // 2
    connection.sendall(head + body[:half])
    return connection, body[half:]


def send_prepared(port, request, timeout=30):
    """Sends a whole request made beforehand (`delivery_head` + body) on a new connection; returns (status or None,
    lower-cased headers). Nothing but the connection and the bytes on it is left for the moment of sending."""
    try:
        connection = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError:
        return None, {}
    return finish_delivery((connection, request))


def finish_delivery(started):
    """Sends the rest of a delivery begun by `start_delivery`; returns (status or None, lower-cased headers)."""
    connection, rest = started
    try:
        connection.sendall(rest)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = connection.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        return None, {}
    finally:
        connection.close()
    lines = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace").split("\r\n")
    if not lines or not lines[0].startswith("HTTP/"):
        return None, {}
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers


def new_delivery_id():
    return str(uuid.uuid4())


def preview_processes(root):
    """{session id (lower-case): [(pid, pgid, cmdline)]} for every live process carrying the preview marker whose
    working directory is under `root` (other previewd processes on the machine have previews of their own)."""
    found = {}
    root = os.path.realpath(root)
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{name}/cwd")
            if cwd != root and not cwd.startswith(root + "/"):
                continue
            with open(f"/proc/{name}/environ", "rb") as f:
                environ = f.read().split(b"\0")
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, PermissionError):
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if fields[0] in ("Z", "X"):
            continue
        for entry in environ:
            if entry.startswith(MARKER.encode() + b"="):
                session = entry.split(b"=", 1)[1].decode().lower()
                found.setdefault(session, []).append((int(name), int(fields[2]), cmdline))
    return found


def parent_pid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        return int(stat[stat.rfind(")") + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def kill_processes_under(directory):
    """SIGKILLs every process whose working directory is `directory` or below (previews we started)."""
    root = os.path.realpath(directory)
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            cwd = os.readlink(f"/proc/{name}/cwd")
        except OSError:
            continue
        if cwd == root or cwd.startswith(root + "/"):
            try:
                os.kill(int(name), signal.SIGKILL)
            except ProcessLookupError:
                pass


def percentile(values, fraction):
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(fraction * (len(ordered) - 1)))))
    return ordered[index]


def peak_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def previewd_environment(pg, fakes_info, port, data_dir, secret, config_path, extra=None):
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": pg.url, "PORT": str(port), "HOST": "127.0.0.1", "PREVIEWD_DATA_DIR": data_dir,
        "GITHUB_WEBHOOK_SECRET": secret, "GITHUB_APP_ID": str(fakes_info["app_id"]),
        "GITHUB_PRIVATE_KEY_PATH": fakes_info["key_path"], "GITHUB_API_URL": fakes_info["github_url"],
        "PREVIEWD_ALLOW_LOCAL_CLONE": "1", "PREVIEWD_LOG_LEVEL": "info", "PREVIEWD_REDELIVERY_INTERVAL": "0",
        "PREVIEWD_CONFIG": config_path, "PREVIEWD_PUBLIC_URL": f"http://127.0.0.1:{port}",
    })
    env.pop("PREVIEWD_WORKERS", None)
    env.update(extra or {})
    return env


def write_config(repo_root, path, lease_seconds=None, boot_timeout=None):
    with open(os.path.join(repo_root, "config", "previewd.json")) as f:
        config = json.load(f)
    if lease_seconds:
        config["jobs"]["leaseSeconds"] = lease_seconds
    if boot_timeout:
        config["steps"]["timeouts"]["boot"] = boot_timeout
    with open(path, "w") as f:
        json.dump(config, f, indent=2)


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr, flush=True)
