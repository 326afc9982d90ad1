"""What the reliability drivers (crash.py, soak.py) share: notion-emulator with a Tasks data
source, notion-syncd as a process to start, kill and measure, and readers that turn Notion and
each target into one comparable shape: {page_id: {"Name": …, "Status": …, "Estimate": …,
"Done": …}}.

Binaries come from NOTION_SYNCD and NOTION_EMULATOR (the ctest registration sets them) or the
dev build.
"""
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
OWNER = "test-owner-token"
CONNECTION = "test-connection-token"
VERSION = "2026-03-11"
STATUSES = ["Todo", "Doing", "Done"]
# The properties the workloads write and the comparisons read (the title, a select, a number
# and a checkbox); the formula and the times are Notion's own.
PROPERTIES = ["Name", "Status", "Estimate", "Done"]


def binary(variable, default):
    path = os.environ.get(variable) or str(ROOT / default)
    if not Path(path).exists():
        raise SystemExit(f"{path} does not exist: build it (scripts/build dev) or set {variable}")
    return path


class Emulator:
    """notion-emulator on a free port, unlimited budget unless told otherwise."""

    def __init__(self, workdir, extra=()):
        self.log = open(Path(workdir) / "emulator.log", "w")
        self.process = subprocess.Popen(
            [binary("NOTION_EMULATOR", "build/dev/emulator/notion-emulator"), "--port", "0",
             "--owner-token", OWNER, "--connection-token", CONNECTION, *extra],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.port = json.loads(self.process.stdout.readline())["port"]
        self.url = f"http://127.0.0.1:{self.port}"

    def _call(self, method, path, body=None, headers=None, timeout=30):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers=headers or {})
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} {path}: {e.code} {e.read()[:300]!r}") from None

    def api(self, method, path, body=None, token=OWNER):
        return self._call(method, path, body, {"Authorization": f"Bearer {token}",
                                               "Notion-Version": VERSION})

    def control(self, what, body=None):
        return self._call("POST", f"/__emulator/{what}", body if body is not None else {})

    def get(self, what):
        return self._call("GET", f"/__emulator/{what}")

    def requests_by_status(self, connection="connection-1"):
        counts = {}
        for c in self.get("requests")["counters"]:
            if c["connection"] == connection:
                counts[c["status"]] = counts.get(c["status"], 0) + c["count"]
        return counts

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def title(text):
    return {"title": [{"text": {"content": text}}]}


def properties(name, status, estimate, done):
    return {"Name": title(name), "Status": {"select": {"name": status}},
            "Estimate": {"number": estimate}, "Done": {"checkbox": done}}


class Workspace:
    """A Home page shared with the connection, holding a Tasks database of `pages` pages."""

    def __init__(self, emulator, pages):
        self.emulator = emulator
        home = emulator.api("POST", "/v1/pages",
                            {"parent": {"workspace": True}, "properties": {"title": title("Home")}})
        db = emulator.api("POST", "/v1/databases", {
            "parent": {"page_id": home["id"]}, "title": [{"text": {"content": "Tasks"}}],
            "initial_data_source": {"properties": {
                "Name": {"title": {}},
                "Status": {"select": {"options": [{"name": s} for s in STATUSES]}},
                "Estimate": {"number": {}}, "Done": {"checkbox": {}}}}})
        self.data_source = db["data_sources"][0]["id"]
        self.pages = []
        for i in range(pages):
            self.create(f"Task {i}", STATUSES[i % 3], i + 1, False)
        emulator.control("share", {"token": "connection-1", "object_id": home["id"]})

    def create(self, name, status, estimate, done):
        page = self.emulator.api("POST", "/v1/pages", {
            "parent": {"data_source_id": self.data_source},
            "properties": properties(name, status, estimate, done)})
        self.pages.append(page["id"])
        return page["id"]

    def state(self):
        """The live pages as Notion has them (owner token, every page of the data source)."""
        out, cursor = {}, None
        while True:
            body = {"page_size": 100}
            if cursor:
                body["start_cursor"] = cursor
            answer = self.emulator.api("POST", f"/v1/data_sources/{self.data_source}/query", body)
            for page in answer["results"]:
                if not page.get("in_trash"):
                    out[page["id"]] = canonical_page(page["properties"])
            if not answer.get("has_more"):
                return out
            cursor = answer["next_cursor"]


def canonical_page(props):
    def plain(rich):
        return "".join(part.get("plain_text", "") for part in rich)
    status = props["Status"]["select"]
    return {"Name": plain(props["Name"]["title"]), "Status": status["name"] if status else None,
            "Estimate": props["Estimate"]["number"], "Done": props["Done"]["checkbox"]}


def number(value):
    """A number as the targets hold it (an integral double is the integer)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def sqlite_state(path, table):
    """The rows of a sqlite target's table that have a page, by page id."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        rows = db.execute(
            f'SELECT page_id, name, status, estimate, done FROM "{table}" '
            "WHERE page_id IS NOT NULL AND deleted_at IS NULL").fetchall()
    finally:
        db.close()
    return {r[0]: {"Name": r[1], "Status": r[2], "Estimate": number(r[3]),
                   "Done": bool(r[4]) if r[4] is not None else None} for r in rows}


def integrity(path):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


def jsonl_events(path):
    events = []
    if Path(path).exists():
        with open(path) as f:
            for line in f:
                if line.strip():
                    events.append(json.loads(line))
    return events


def jsonl_state(events):
    """The pages a consumer replaying the events holds at the end."""
    out = {}
    for e in events:
        if e["event"] in ("created", "updated", "restored"):
            p = e["properties"]
            out[e["page_id"]] = {"Name": p.get("Name"), "Status": p.get("Status"),
                                 "Estimate": number(p.get("Estimate")), "Done": p.get("Done")}
        elif e["event"] in ("deleted", "access_lost"):
            out.pop(e["page_id"], None)
    return out


def markdown_state(directory):
    """The pages of a markdown target (not .trash/), from each file's front matter, by id."""
    def scalar(text):
        text = text.strip()
        if text in ("", "null", "~"):
            return None
        if text.startswith('"'):
            return json.loads(text)
        return text

    out, seen = {}, {}
    for path in Path(directory).glob("*.md"):
        lines = path.read_text().split("\n")
        if not lines or lines[0] != "---":
            continue
        front = {}
        for line in lines[1:]:
            if line == "---":
                break
            if line.startswith(" "):
                continue  # the nested notion: block
            key, _, value = line.partition(":")
            front[key] = scalar(value)
        if "notion_id" not in front:
            continue
        estimate = front.get("Estimate")
        seen.setdefault(front["notion_id"], []).append(path.name)
        out[front["notion_id"]] = {
            "Name": front.get("title") or "", "Status": front.get("Status"),
            "Estimate": None if estimate is None else number(float(estimate)),
            "Done": {"true": True, "false": False}.get(front.get("Done"))}
    duplicated = {page: names for page, names in seen.items() if len(names) > 1}
    if duplicated:  # two files for one page: a rename half done
        for page, names in duplicated.items():
            out[page] = {"files": sorted(names)}
    return out


class Postgres:
    """A throwaway PostgreSQL cluster on a free loopback port (as the postgres OS user when we
    are root: the server refuses root), stopped and removed by stop()."""

    def __init__(self, workdir):
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                          key=lambda p: int(p.parent.parent.name))
        if not versions:
            raise SystemExit("no /usr/lib/postgresql/*/bin/initdb: scripts/install-deps installs it")
        self.bin = versions[-1].parent
        # A directory of its own: the postgres user cannot enter a private (0700) work dir.
        self.dir = Path(tempfile.mkdtemp(prefix="syncd-pg-"))
        self.log = Path(workdir) / "postgres.log"
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            subprocess.run(["chown", "-R", "postgres", str(self.dir)], check=True)
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._run([self.bin / "initdb", "-D", self.dir / "data", "-U", "postgres",
                   "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"])
        self._run([self.bin / "pg_ctl", "-D", self.dir / "data", "-l", self.dir / "log", "-w",
                   "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off", "start"])
        self.dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def _run(self, argv):
        done = subprocess.run(self.as_user + [str(a) for a in argv], cwd=self.dir, text=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} failed ({done.returncode}): {done.stderr}")

    def query(self, sql):
        answer = subprocess.run(
            [str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
             "-d", "postgres", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
            check=True, capture_output=True, text=True)
        return [line.split("\t") for line in answer.stdout.splitlines()]

    def state(self, table, schema="public"):
        rows = self.query(f'SELECT page_id, name, status, estimate, done FROM "{schema}"."{table}" '
                          "WHERE page_id IS NOT NULL")
        def value(text):
            return None if text == "" else text
        return {r[0]: {"Name": r[1], "Status": value(r[2]),
                       "Estimate": None if r[3] == "" else number(float(r[3])),
                       "Done": {"t": True, "f": False}.get(r[4])} for r in rows}

    def stop(self):
        try:
            self._run([self.bin / "pg_ctl", "-D", self.dir / "data", "-m", "immediate", "stop"])
        except RuntimeError:
            pass
        try:
            self.log.write_bytes((self.dir / "log").read_bytes())
        except OSError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def outbox_figures(state_dir):
    """The last event number the mirror handed out (delivered events leave the outbox, the
    counter stays) and the number of dead letters."""
    db = sqlite3.connect(f"file:{state_dir}/mirror.sqlite3?mode=ro", uri=True, timeout=30)
    try:
        last = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        dead = db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0]
    finally:
        db.close()
    return (last[0] if last else 0), dead


def differences(expected, actual, label, limit=5):
    """What `actual` gets wrong about `expected`, as lines (at most `limit` of each kind)."""
    lines = []
    missing = [p for p in expected if p not in actual]
    extra = [p for p in actual if p not in expected]
    wrong = [p for p in expected if p in actual and expected[p] != actual[p]]
    for p in missing[:limit]:
        lines.append(f"{label}: page {p} missing (Notion: {expected[p]})")
    for p in extra[:limit]:
        lines.append(f"{label}: page {p} present but not live in Notion ({actual[p]})")
    for p in wrong[:limit]:
        lines.append(f"{label}: page {p} is {actual[p]}, Notion has {expected[p]}")
    if len(missing) + len(extra) + len(wrong) > 3 * limit:
        lines.append(f"{label}: {len(missing)} missing, {len(extra)} extra, {len(wrong)} differ")
    return lines


class Daemon:
    """`notion-syncd -c CONFIG run` in the background, stderr appended to `log`."""

    def __init__(self, config, log, environment=None):
        self.log = open(log, "a")
        env = dict(os.environ)
        env.update(environment or {})
        self.process = subprocess.Popen(
            [binary("NOTION_SYNCD", "build/dev/daemon/notion-syncd"), "-c", str(config), "run",
             "--log-level", "info"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, env=env)

    def alive(self):
        return self.process.poll() is None

    def kill(self):
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.log.close()

    def stop(self, timeout=30):
        """SIGTERM, then its exit status (SIGKILL after `timeout`)."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            status = self.process.wait()
        self.log.close()
        return status

    def rss_kib(self):
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return None


def sync_once(config, log, timeout=120, environment=None):
    env = dict(os.environ)
    env.update(environment or {})
    with open(log, "a") as out:
        return subprocess.run(
            [binary("NOTION_SYNCD", "build/dev/daemon/notion-syncd"), "-c", str(config),
             "sync-once"], stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env,
            timeout=timeout).returncode


def wait_until(seconds, done, step=0.2):
    deadline = time.monotonic() + seconds
    while True:
        if done():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(step)


class Workload:
    """A person's steady edits in Notion: renames, status and estimate changes, creates,
    trashes and restores, chosen from a seeded generator."""

    def __init__(self, workspace, seed, exclude=()):
        self.workspace = workspace
        self.exclude = set(exclude)  # pages left to others (external edits in a target)
        self.random = random.Random(seed)
        self.trashed = []
        self.done = {"edit": 0, "create": 0, "trash": 0, "restore": 0}

    def step(self):
        ws, r = self.workspace, self.random
        live = [p for p in ws.pages if p not in self.trashed and p not in self.exclude]
        roll = r.random()
        if roll < 0.08 or not live:
            ws.create(f"New {len(ws.pages)}", r.choice(STATUSES), r.randint(1, 20), False)
            self.done["create"] += 1
        elif roll < 0.13 and len(live) > 3:
            page = r.choice(live)
            ws.emulator.api("PATCH", f"/v1/pages/{page}", {"in_trash": True})
            self.trashed.append(page)
            self.done["trash"] += 1
        elif roll < 0.18 and self.trashed:
            page = self.trashed.pop(r.randrange(len(self.trashed)))
            ws.emulator.api("PATCH", f"/v1/pages/{page}", {"in_trash": False})
            self.done["restore"] += 1
        else:
            page = r.choice(live)
            field = r.choice(["Name", "Status", "Estimate", "Done"])
            value = {"Name": title(f"Renamed {r.randint(0, 10**6)}"),
                     "Status": {"select": {"name": r.choice(STATUSES)}},
                     "Estimate": {"number": r.randint(0, 100)},
                     "Done": {"checkbox": r.random() < 0.5}}[field]
            ws.emulator.api("PATCH", f"/v1/pages/{page}", {"properties": {field: value}})
            self.done["edit"] += 1
