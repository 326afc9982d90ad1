#!/usr/bin/env python3
"""Fault soak (issue 16): a fifth of the daemon's requests fail for a while, then the faults stop
and the daemon must catch up within a bound, with nothing lost, duplicated or corrupt.

`notion-syncd run` syncs a Tasks data source (30 pages) into a two-way sqlite target (creates
on, settle 0s) and a jsonl file, against notion-emulator with Notion's budget (180 requests per
60 s, the daemon configured the same). During the storm every request of the daemon's connection
(connection-1; the person's owner token is never faulted) is faulted with chance ~20 %: 429 and
529 with Retry-After (and a 3 s storm of 429s every 30 s), 500/502/503/504, connection resets,
truncated bodies, latency spikes of 1-5 s (rarely 30 s, none in the last 35 s), and on writes
409 and 503-after-commit. Meanwhile a person edits, creates, trashes and restores pages in Notion
every 0.5 s, and another program edits rows of the sqlite table (a third of the pages, which the
person leaves alone, so every such edit must reach Notion) and inserts new rows (each must
become exactly one page).

Then the faults are cleared and the editing stops; the checks are:
- the daemon converges (sqlite and the jsonl file replayed equal Notion's live pages, every table
  edit is in Notion, every inserted row has its one page) within the bound printed,
- no page was created twice, no conflict was recorded (nobody edited a page on both sides),
- the jsonl file holds every event of the mirror's outbox, no dead letters, nothing held,
- `PRAGMA integrity_check` is ok for the sqlite target and the mirror,
- the daemon's RSS at the end is within start x 1.5 + 10 MB (start: after the first full sync),
- no 429 but the injected ones during the storm, none after it (the daemon's own pacing stays
  within the budget),
- the daemon ran throughout and stops cleanly on SIGTERM.

Usage: soak.py [--seconds 60] [--seed N] [--json] [--keep]   (CI: 60 s; long mode: --seconds 600)
Prints one JSON line of figures, one line per check (ok: / FAIL:) and "N passed, M failed". On a
failure (or with --keep) the work directory stays: syncd.log, the config, the targets, the mirror
and requests.json (the daemon's requests as the emulator saw them: time, route, status).
"""
import argparse
import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402

PAGES = 30
EXTERNAL_PAGES = 10  # the first pages: edited in the table only, never by the person in Notion
EVERY = 5  # s: the sync's every and min_every (fixed intervals), two_way.every, reconcile_every
BUDGET = 180  # requests per 60 s: the emulator's limit and the daemon's notion.budget.per_minute
# How long after the faults stop the daemon may take to converge. Two poll intervals, plus what
# a request caught by the storm's end may still wait: the client's retry backoff (full jitter,
# at most 500 ms << 5 = 16 s before the 6th attempt, RetryPolicy in notion_client.hpp), a
# delayed answer still on its way (5 s: 30 s spikes stop SPIKE_MARGIN s before the end) and a
# Retry-After (2 s).
BOUND = 2 * EVERY + 16 + 5 + 2
CONNECTION = "connection-1"
# The faults each request of the daemon may get, as shares of the matching requests: 14 % in
# all, the 429 storms add about 5 %, the 30 s spikes (SPIKE) a few. One fault per request at most.
GENERIC_FAULTS = [
    (0.005, {"status": 429, "retry_after": 1}),
    (0.010, {"status": 529, "retry_after": 1}),
    (0.015, {"status": 500}),
    (0.015, {"status": 502}),
    (0.015, {"status": 503}),
    (0.015, {"status": 504}),
    (0.020, {"reset_connection": True}),
    (0.020, {"truncate_body": True}),
    (0.010, {"delay_ms": 1000}),
    (0.005, {"delay_ms": 2000}),
    (0.005, {"delay_ms": 3000}),
    (0.005, {"delay_ms": 5000}),
]
# 30 s latency spikes: a share of the requests, at most one between two storms (the job waits
# for such an answer: the client's request timeout is 60 s).
SPIKE = (0.005, {"delay_ms": 30000})
SPIKE_MARGIN = 35  # s: no 30 s spike starts this close to the end of the storm
# Writes (PATCH, page creation): 409 and 503-after-commit first, then the others scaled down
# (17 % in all). A reset or a truncated body on a write lands the write and loses the answer.
WRITE_SHARE = 0.6
WRITE_FAULTS = [(0.04, {"status": 409}), (0.04, {"commit_then_status": 503})]
READS = [{"method": "GET"}, {"method": "POST", "path_prefix": "/v1/data_sources/"},
         {"method": "POST", "path_prefix": "/v1/search"}]
WRITES = [{"method": "PATCH"}, {"method": "DELETE"}, {"method": "POST", "path_prefix": "/v1/pages"}]
# A storm: for STORM_SECONDS every request is answered 429 with Retry-After 2 s, every
# STORM_EVERY s from 10 s into the storm.
STORM_EVERY, STORM_SECONDS = 30, 3


class PatientEmulator(h.Emulator):
    """The emulator, whose API calls with the owner token (the person, the checks) wait out a
    429: the owner has the same 180-per-minute budget as the daemon and is not under test."""

    def api(self, method, path, body=None, token=h.OWNER):
        for _ in range(60):
            try:
                return super().api(method, path, body, token)
            except RuntimeError as e:
                if ": 429 " not in str(e):
                    raise
                time.sleep(1)
        return super().api(method, path, body, token)


class TableEdits:
    """Another program's edits of the sqlite table: any property of the pages left to it (the
    last value of each must end in Notion) and new rows without a page (each must become exactly
    one page with the row's values)."""

    def __init__(self, path, pages, notion, seed):
        self.path = path
        self.pages = list(pages)
        self.random = random.Random(seed)
        self.expected = {p: dict(notion[p]) for p in self.pages}  # page -> values Notion must get
        self.inserted = {}  # name -> values
        self.edits = 0
        self.tag = seed

    def _execute(self, statement, values):
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute(statement, values)
        finally:
            db.close()

    def edit(self):
        r = self.random
        page = r.choice(self.pages)
        prop = r.choice(h.PROPERTIES)
        value = {"Name": f"Table edit {self.tag}-{self.edits}",
                 "Status": r.choice(h.STATUSES), "Estimate": r.randint(0, 100),
                 "Done": r.random() < 0.5}[prop]
        column = prop.lower()
        self._execute(f'UPDATE tasks SET "{column}" = ? WHERE page_id = ?',
                      (int(value) if prop == "Done" else value, page))
        self.expected[page][prop] = value
        self.edits += 1

    def insert(self):
        r = self.random
        name = f"Table row {self.tag}-{len(self.inserted)}"
        values = {"Name": name, "Status": r.choice(h.STATUSES), "Estimate": r.randint(1, 50),
                  "Done": r.random() < 0.3}
        self._execute("INSERT INTO tasks (name, status, estimate, done) VALUES (?, ?, ?, ?)",
                      (name, values["Status"], values["Estimate"], int(values["Done"])))
        self.inserted[name] = values

    def rows_without_page(self):
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            return [r[0] for r in db.execute("SELECT name FROM tasks WHERE page_id IS NULL")]
        finally:
            db.close()


def conditional(shares):
    """[(share, fault)] -> [(probability, fault)]: the emulator tries faults in order and each
    draws its own chance, so each needs share / (what the earlier ones left) to get its share."""
    left, out = 1.0, []
    for share, fault in shares:
        out.append((share / left, fault))
        left -= share
    return out


def install_faults(emulator, plan):
    """Replaces the faults on the daemon's connection by those of `plan`: "storm" (every request
    429), "mix" (GENERIC_FAULTS, and on writes WRITE_FAULTS first) or "spiky" (the mix, and at
    most one 30 s latency spike, each request drawing it with SPIKE's share)."""
    emulator.control("faults", {"clear": True})
    if plan == "storm":
        emulator.control("faults", {"match": {"token": CONNECTION}, "count": 10**6,
                                    "fault": {"status": 429, "retry_after": 2}})
        return
    if plan == "spiky":
        emulator.control("faults", {"match": {"token": CONNECTION}, "count": 1,
                                    "probability": SPIKE[0], "fault": SPIKE[1]})
    writes = WRITE_FAULTS + [(share * WRITE_SHARE, fault) for share, fault in GENERIC_FAULTS]
    for matches, shares in ((READS, GENERIC_FAULTS), (WRITES, writes)):
        for match in matches:
            for probability, fault in conditional(shares):
                emulator.control("faults", {"match": dict(match, token=CONNECTION),
                                            "count": 10**6, "probability": probability,
                                            "fault": fault})


def fault_plan(elapsed, seconds):
    """Which faults apply `elapsed` s into a storm of `seconds` s (install_faults)."""
    if elapsed >= 10 and (elapsed - 10) % STORM_EVERY < STORM_SECONDS:
        return "storm"
    return "spiky" if seconds - elapsed > SPIKE_MARGIN else "mix"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(work, emulator, data_source):
    config = work / "config.yaml"
    config.write_text(f"""notion:
  token: ${{NOTION_TOKEN}}
  base_url: {emulator.url}
  budget: {{ per_minute: {BUDGET} }}
state:
  dir: {work}/state
control:
  listen: 127.0.0.1:{free_port()}
connectors:
  db: {{ type: sqlite, path: {work}/tasks.sqlite }}
  log: {{ type: jsonl, path: {work}/events.jsonl }}
syncs:
  - name: tasks
    source: {{ data_source: {data_source} }}
    every: {EVERY}s
    min_every: {EVERY}s
    reconcile_every: {EVERY}s
    targets:
      - connector: db
        table: tasks
        # max_write_ratio 1: a cycle the storm delayed may hold edits of all ten pages left to
        # the table, more than the default brake's 20 % of the data source (not under test).
        two_way: {{ every: {EVERY}s, settle: 0s, create: true, max_write_ratio: 1 }}
      - connector: log
""")
    return config


def notion_pages(ws):
    """Every live page of the data source as Notion returns it (owner token)."""
    out, cursor = [], None
    while True:
        body = {"page_size": 100, **({"start_cursor": cursor} if cursor else {})}
        answer = ws.emulator.api("POST", f"/v1/data_sources/{ws.data_source}/query", body)
        out += [p for p in answer["results"] if not p.get("in_trash")]
        if not answer.get("has_more"):
            return out
        cursor = answer["next_cursor"]


def syncd(config, *argv):
    """A notion-syncd command beside the daemon, its stdout parsed as JSON."""
    done = subprocess.run(
        [h.binary("NOTION_SYNCD", "build/dev/daemon/notion-syncd"), "-c", str(config), *argv],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env=dict(os.environ, NOTION_TOKEN=h.CONNECTION))
    if done.returncode != 0:
        raise RuntimeError(f"notion-syncd {' '.join(argv)}: {done.returncode} {done.stderr}")
    return json.loads(done.stdout)


class RssSampler(threading.Thread):
    """The daemon's RSS (KiB) once a second, until stopped."""

    def __init__(self, daemon):
        super().__init__(daemon=True)
        self.process, self.samples, self.halt = daemon, [], threading.Event()

    def run(self):
        while not self.halt.wait(1.0):
            rss = self.process.rss_kib()
            if rss is not None:
                self.samples.append(rss)


def convergence(ws, work, table=None):
    """What still keeps each part from Notion, by part: `sqlite` and `jsonl` (the file replayed)
    until they hold Notion's live pages, `writes` until every table edit is in Notion and every
    inserted row has its one page (with `table`). All lists empty: converged."""
    notion = ws.state()
    try:
        rows = h.sqlite_state(work / "tasks.sqlite", "tasks")
    except sqlite3.OperationalError as e:  # before the first delivery made the table
        return {"sqlite": [f"sqlite: {e}"]}
    parts = {"sqlite": h.differences(notion, rows, "sqlite"),
             "jsonl": h.differences(notion, h.jsonl_state(h.jsonl_events(work / "events.jsonl")),
                                    "jsonl")}
    if table is None:
        return parts
    lines = [f"table edit of {p} not in Notion: {v}, Notion has {notion.get(p)}"
             for p, v in table.expected.items() if notion.get(p) != v][:5]
    by_name = {}
    for page, values in notion.items():
        by_name.setdefault(values["Name"], []).append(values)
    lines += [f"inserted row {n!r}: {len(by_name.get(n, []))} pages {by_name.get(n)}, want 1 {v}"
              for n, v in table.inserted.items() if by_name.get(n) != [v]][:5]
    lines += [f"row {n!r} has no page_id" for n in table.rows_without_page()][:5]
    parts["writes"] = lines
    return parts



def sanitized():
    """Whether the daemon under test is an AddressSanitizer build."""
    with open(h.binary("NOTION_SYNCD", "build/dev/daemon/notion-syncd"), "rb") as f:
        return b"__asan_init" in f.read()

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="the storm (long mode: 600)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="only the JSON line and the count")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1, 10**6)
    say = (lambda *a: None) if args.json else print
    say(f"soak: seed {seed}, {args.seconds} s of faults (replay: soak.py --seed {seed} "
        f"--seconds {args.seconds})")
    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="syncd-soak-"))
    log = work / "syncd.log"
    emulator = PatientEmulator(work, ["--rate-limit", str(BUDGET), "--rate-window-ms", "60000",
                                      "--seed", str(seed)])
    checks, daemon, sampler, figures = [], None, None, {}

    def check(ok, what):
        checks.append((bool(ok), what))

    try:
        ws = h.Workspace(emulator, PAGES)
        config = write_config(work, emulator, ws.data_source)
        # A create whose answer was an error is looked up (never made twice) and made again only
        # once the page has stayed unlisted this long (10 min by default, for Notion's listing
        # lag); the emulator lists a page at once, so 10 s keeps such a row within the bound.
        daemon = h.Daemon(config, log, {"NOTION_TOKEN": h.CONNECTION,
                                        "NOTION_SYNCD_CREATE_LOOKUP_MS": "10000"})
        sampler = RssSampler(daemon)
        sampler.start()
        if not h.wait_until(60, lambda: not any(convergence(ws, work).values()), step=0.5):
            raise RuntimeError("the first full sync did not finish within 60 s")
        rss_start = daemon.rss_kib()
        sampled_from = len(sampler.samples)

        # The storm: faults on, the person and the other program at work.
        notion = ws.state()
        table = TableEdits(work / "tasks.sqlite", ws.pages[:EXTERNAL_PAGES], notion, seed)
        person = h.Workload(ws, seed, exclude=ws.pages[:EXTERNAL_PAGES])
        before_storm = emulator.requests_by_status()
        storm_start, storm_wall = time.monotonic(), time.time()
        end = storm_start + args.seconds
        next_person = next_edit = storm_start
        next_insert = storm_start + rng.uniform(2, 8)
        plan, plans, workload_errors = None, {}, []
        while (now := time.monotonic()) < end:
            wanted = fault_plan(now - storm_start, args.seconds)
            if wanted != plan:
                install_faults(emulator, wanted)
                plan, plans[wanted] = wanted, plans.get(wanted, 0) + 1
            if now >= next_person:
                try:
                    person.step()
                except RuntimeError as e:
                    workload_errors.append(str(e))
                next_person += 0.5
            if now >= next_edit:
                table.edit()
                next_edit += rng.uniform(1, 3)
            if now >= next_insert:
                table.insert()
                next_insert += rng.uniform(5, 12)
            time.sleep(min(0.1, max(0.0, min(next_person, next_edit, next_insert, end)
                                    - time.monotonic())))

        # Faults off, nobody edits: the daemon must catch up within BOUND.
        emulator.control("faults", {"clear": True})
        cleared, cleared_wall = time.monotonic(), time.time()
        at_clear = emulator.requests_by_status()
        faults = emulator.get("faults")
        status_at_clear = syncd(config, "status", "--json")
        # What was still missing at the last look; since when (s after the clear) each part has
        # been caught up.
        left, done_at = [], {}

        def caught_up():
            parts = convergence(ws, work, table)
            now = round(time.monotonic() - cleared, 1)
            for part, lines in parts.items():
                if lines:
                    done_at.pop(part, None)
                else:
                    done_at.setdefault(part, now)
            left[:] = [line for lines in parts.values() for line in lines]
            return not left
        converged = h.wait_until(BOUND + 90, caught_up, step=0.5)
        converge_s = round(time.monotonic() - cleared, 1)
        # Stay idle for two more intervals: any 429 now would come from the daemon's own pacing.
        time.sleep(2 * EVERY)
        at_end = emulator.requests_by_status()
        status = syncd(config, "status", "--json")
        rss_end = daemon.rss_kib()
        sampler.halt.set()
        peak = max(sampler.samples[sampled_from:] + [rss_start, rss_end or 0])
        alive = daemon.alive()
        stopped = daemon.stop()
        # The daemon's requests with their times and statuses, for a failure's analysis.
        timeline = [r for r in emulator.get("requests")["requests"]
                    if r["connection"] == CONNECTION]
        (work / "requests.json").write_text(json.dumps(
            {"storm_wall": [storm_wall, cleared_wall],
             "requests": timeline}, indent=0))

        storm_requests = sum(at_clear.values()) - sum(before_storm.values())
        own_429 = at_end.get(429, 0) - at_clear.get(429, 0)
        # During the storm the emulator's 429s are the injected ones, unless the daemon overran
        # the budget itself.
        budget_429 = at_clear.get(429, 0) - faults["applied"].get("429", 0)
        pages = notion_pages(ws)
        owner = emulator.api("GET", "/v1/users/me")["id"]
        created = sorted(h.canonical_page(p["properties"])["Name"] for p in pages
                         if p["created_by"]["id"] != owner)
        conflicts = syncd(config, "conflicts", "list", "--all", "--json")
        last_seq, dead = h.outbox_figures(work / "state")
        events = h.jsonl_events(work / "events.jsonl")
        delivered = {e["seq"] for e in events}
        job = status["jobs"][0]
        targets = {t["target"]: t for t in job["targets"]}
        two_way = next((t["two_way"] for t in job["targets"] if t["two_way"]), {})

        figures = {
            "seed": seed, "seconds": args.seconds, "every_s": EVERY,
            "requests_by_status": {str(k): v for k, v in sorted(at_end.items())},
            "storm_requests": storm_requests,
            "faults_applied": faults["applied"], "faults_total": faults["total"],
            "storms": plans.get("storm", 0),
            "fault_share": round(faults["total"] / max(storm_requests, 1), 3),
            "rate_factor_at_clear": status_at_clear["budget"]["rate_factor"],
            "converge_s": converge_s, "bound_s": BOUND, "converge_s_by_part": done_at,
            "rss_kib": {"start": rss_start, "peak": peak, "end": rss_end},
            "own_429_after_storm": own_429, "own_429_in_storm": budget_429, "pages": len(pages),
            "person": person.done, "external_edits": table.edits,
            "creates": len(table.inserted), "pages_written": two_way.get("pages_written"),
            "conflicts": len(conflicts), "events": last_seq, "jsonl_lines": len(events),
        }
        factor = status_at_clear["budget"]["rate_factor"]
        check(converged and converge_s <= BOUND,
              f"converged {converge_s} s after the faults stopped (by part: {done_at}; bound "
              f"{BOUND} s: 2 x {EVERY} s + a retry backoff 16 s + a delayed answer 5 s + a "
              f"Retry-After 2 s; the budget's rate was at {factor:.0%} when the faults stopped)"
              + "".join("\n  " + line for line in left))
        check(created == sorted(table.inserted),
              f"the daemon created exactly the {len(table.inserted)} pages of the inserted rows, "
              f"each once" + ("" if created == sorted(table.inserted) else f": {created}"))
        check(not conflicts, f"no conflict recorded ({len(conflicts)}): nobody edited a page on "
                             "both sides" + "".join(f"\n  {c}" for c in conflicts[:3]))
        missing = sorted(set(range(1, last_seq + 1)) - delivered)
        check(last_seq > 0 and not missing and max(delivered, default=0) == last_seq,
              f"the jsonl file holds every one of the {last_seq} events"
              + (f" (missing seq {missing[:10]})" if missing else ""))
        held = (job["held_deletes"], two_way.get("held_writes"))
        check(dead == 0 and all(t["dead_letters"] == 0 for t in targets.values())
              and held == (0, 0),
              f"no dead letters ({dead}), no held deletes or writes {held}")
        for path in (work / "tasks.sqlite", work / "state" / "mirror.sqlite3"):
            result = h.integrity(path)
            check(result == "ok", f"PRAGMA integrity_check of {path.name}: {result}")
        limit = int(rss_start * 1.5) + 10240
        if sanitized():
            # ASan keeps freed memory in quarantine and grows its shadow: RSS says nothing there.
            print(f"ok: RSS start {rss_start} KiB, peak {peak} KiB, end {rss_end} KiB "
                  "(not bounded: an AddressSanitizer build)")
        else:
            check(rss_end is not None and rss_end <= limit,
                  f"RSS start {rss_start} KiB, peak {peak} KiB, end {rss_end} KiB (limit {limit})")
        check(own_429 == 0 and budget_429 == 0,
              f"no 429 of the daemon's own pacing: {own_429} after the faults stopped, "
              f"{budget_429} during the storm (of {at_clear.get(429, 0)} 429s, the rest injected)")
        check(alive and stopped == 0,
              f"the daemon ran throughout and stopped cleanly (exit status {stopped})")
        check(not workload_errors, f"the person's {sum(person.done.values())} Notion calls "
                                   f"succeeded ({len(workload_errors)} failed)"
              + "".join("\n  " + e for e in workload_errors[:3]))
    except Exception as e:  # noqa: BLE001 (a failure of the run itself is one more FAIL)
        check(False, f"the soak ran to the end: {type(e).__name__}: {e}")
    finally:
        if sampler:
            sampler.halt.set()
        if daemon and daemon.alive():
            daemon.stop()
        emulator.stop()

    print(json.dumps({"soak": figures}))
    for ok, what in checks:
        if not args.json or not ok:
            print(("ok: " if ok else "FAIL: ") + what)
    failed = sum(not ok for ok, _ in checks)
    if failed:
        print("the daemon's log ends with:\n" + (log.read_text(errors="replace")[-4000:]
                                                 if log.exists() else "(no log)"))
    if failed or args.keep:
        print(f"soak: the work directory is {work}")
    else:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
