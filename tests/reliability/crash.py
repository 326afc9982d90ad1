#!/usr/bin/env python3
"""Crash loop (issue 16): `notion-syncd run` is SIGKILLed again and again while people work, and
at the end nothing is lost, duplicated or corrupt.

One sync with content reads feeds four targets: sqlite (two-way, creates on), postgres (two-way,
creates on), jsonl and markdown; halfway a fifth (jsonl) is added, so its snapshot is killed too. Meanwhile a seeded workload edits, creates, trashes and restores
pages in Notion, and other programs edit the sqlite and postgres tables (estimates of pages left
to each, and new rows that two-way turns into pages). Each cycle starts the daemon and kills it:
either at a random moment (0.2–3 s after start: during a poll, a mirror transaction, a delivery
or a write-back, wherever it is), or at a named crash point (a build with SYNCD_CRASH_POINTS,
the dev and asan presets) reached 1–3 times (after a mirror commit, after a target's write,
before a cursor moves, before or after a create, after a PATCH…).

Then, with the workload stopped, `sync-once --reconcile` runs until the targets stop changing
(at most 4 cycles), and the checks are:
- every target equals Notion's live pages (sqlite, postgres, the jsonl file replayed, the
  markdown files, one file per page),
- every estimate set in a table reached Notion, every inserted row became exactly one page,
- the jsonl file holds every event of the mirror's outbox (at least once),
- `PRAGMA integrity_check` is ok for the mirror and the sqlite target, no dead letters,
- the daemon never ended on its own (every end was our SIGKILL or a crash point's).

Usage: crash.py [--kills 20] [--seed N] [--json]   (CI: 20 kills; long mode: --kills 200)
"""
import argparse
import json
import random
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402

CRASH_POINTS = [
    "poll.after_mirror_commit", "reconcile.after_delete", "target.after_write",
    "deliver.before_cursor", "deliver.before_snapshot_progress", "writeback.after_patch",
    "writeback.after_page", "writeback.after_acknowledge", "writeback.before_create",
    "writeback.after_create",
]


class External:
    """Another program's edits of one two-way table: estimates of its own pages (each must reach
    Notion: nobody else edits them) and new rows without a page (each must become one page)."""

    def __init__(self, label, pages, execute, seed):
        self.label, self.pages, self.execute = label, list(pages), execute
        self.random = random.Random(seed)
        self.estimates = {}  # page -> the last estimate written
        self.inserted = []  # names of the rows inserted
        self.errors = 0

    def step(self):
        r = self.random
        try:
            if r.random() < 0.15:
                name = f"{self.label}-new-{len(self.inserted)}"
                self.execute(f"INSERT INTO tasks (name, status, estimate, done) "
                             f"VALUES ('{name}', 'Todo', {r.randint(1, 9)}, false)")
                self.inserted.append(name)
            else:
                page, estimate = r.choice(self.pages), r.randint(100, 999)
                self.execute(f"UPDATE tasks SET estimate = {estimate} WHERE page_id = '{page}'")
                self.estimates[page] = estimate
        except Exception as e:  # a locked database: counted, the edit was not made
            self.errors += 1
            if self.errors < 4:
                print(f"note: {self.label} edit failed: {e}", file=sys.stderr)


def sqlite_executor(path):
    def execute(statement):
        db = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            db.execute(statement.replace("false", "0"))
        finally:
            db.close()
    return execute


def write_config(work, emulator, postgres, data_source, late=False):
    config = work / "config.yaml"
    config.write_text(f"""notion:
  token: {h.CONNECTION}
  base_url: {emulator.url}
  budget: {{ per_minute: 2000 }}
state:
  dir: {work}/state
connectors:
  db: {{ type: sqlite, path: {work}/tasks.sqlite }}
  pg: {{ type: postgres, dsn: "{postgres.dsn}" }}
  log: {{ type: jsonl, path: {work}/events.jsonl }}
  md: {{ type: markdown, dir: {work}/md }}
  late: {{ type: jsonl, path: {work}/late.jsonl }}
syncs:
  - name: tasks
    source: {{ data_source: {data_source} }}
    every: 1s
    min_every: 1s
    reconcile_every: 3s
    content: true
    targets:
      - connector: db
        table: tasks
        two_way: {{ every: 1s, settle: 0s, create: true, max_write_ratio: 1 }}
      - connector: pg
        table: tasks
        two_way: {{ every: 1s, settle: 0s, create: true, max_write_ratio: 1 }}
      - connector: log
      - connector: md
""" + ("      - connector: late\n" if late else ""))
    config.chmod(0o600)  # it holds the token
    return config


def conflict_values(state_dir, target):
    """(page, the table's value) of every conflict recorded for `target`."""
    db = sqlite3.connect(f"file:{state_dir}/mirror.sqlite3?mode=ro", uri=True, timeout=30)
    try:
        rows = db.execute("SELECT page_id, external FROM conflicts WHERE target = ?",
                          (target,)).fetchall()
    finally:
        db.close()
    return {(page, h.number(json.loads(value))) for page, value in rows}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--points", default=",".join(CRASH_POINTS),
                        help="the crash points to choose from, comma-separated")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1, 10**6)
    print(f"crash: seed {seed} (replay: crash.py --seed {seed} --kills {args.kills})")
    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="syncd-crash-"))
    started = time.monotonic()
    emulator = h.Emulator(work, ["--rate-limit", "0"])
    postgres = h.Postgres(work)
    checks = []

    def check(ok, what):
        checks.append(ok)
        print(("ok: " if ok else "FAIL: ") + what)

    try:
        ws = h.Workspace(emulator, 24)
        config = write_config(work, emulator, postgres, ws.data_source)
        log = work / "syncd.log"
        check(h.sync_once(config, log) == 0, "the first sync-once fills every target")
        sqlite_edits = External("sqlite", ws.pages[0:6], sqlite_executor(work / "tasks.sqlite"),
                                seed + 1)
        pg_edits = External("pg", ws.pages[6:12], postgres.query, seed + 2)
        people = h.Workload(ws, seed, exclude=ws.pages[0:12])

        stop = threading.Event()
        workload_errors = []

        def work_loop():
            i = 0
            while not stop.is_set():
                try:
                    people.step()
                except Exception as e:  # noqa: BLE001 (reported, the loop keeps going)
                    workload_errors.append(str(e))
                if i % 3 == 1:
                    sqlite_edits.step()
                if i % 3 == 2:
                    pg_edits.step()
                i += 1
                time.sleep(0.1)

        worker = threading.Thread(target=work_loop)
        worker.start()
        reached, missed, timed, unexpected = {}, {}, 0, []
        try:
            for kill in range(args.kills):
                if kill == args.kills // 2:
                    # A target added while the daemon keeps being killed: its snapshot too.
                    write_config(work, emulator, postgres, ws.data_source, late=True)
                environment = {}
                point = None
                if rng.random() < 0.5:
                    point = rng.choice(args.points.split(","))
                    environment["NOTION_SYNCD_CRASH_AT"] = f"{point}:{rng.randint(1, 3)}"
                before = log.stat().st_size if log.exists() else 0
                daemon = h.Daemon(config, log, environment)
                if point:
                    h.wait_until(6, lambda: not daemon.alive(), step=0.05)
                else:
                    time.sleep(rng.uniform(0.2, 3.0))
                if daemon.alive():
                    daemon.kill()
                    timed += 1
                    if point:  # not reached in 6 s (no create or trash came, say)
                        missed[point] = missed.get(point, 0) + 1
                else:
                    status = daemon.process.returncode
                    daemon.kill()
                    text = log.read_text(errors="replace")[before:]
                    if status == -9 and "crash point" in text:
                        reached[point] = reached.get(point, 0) + 1
                    else:
                        unexpected.append(f"cycle {kill}: the daemon ended with status {status}:"
                                          f" {text[-800:]}")
        finally:
            stop.set()
            worker.join()

        # The killed daemons wrote table edits back themselves (not only the final cycles).
        import re
        written_by_run = len(re.findall(r"wrote \d+ properties to Notion",
                                        log.read_text(errors="replace")))
        check(written_by_run > 0, f"the killed daemons wrote {written_by_run} table edits back to "
                                  "Notion before the final cycles")

        # One more cycle with nobody editing, then as many as it takes to be idle (at most 4).
        final_cycles, results = 0, []
        expected = {}
        # A row killed mid-POST waits until its page shows or the lookup gives up (10 min; 3 s
        # here: the emulator lists a page at once), then is created: once.
        time.sleep(3)
        for final_cycles in range(1, 5):
            results.append(h.sync_once(config, log, timeout=300,
                                       environment={"NOTION_SYNCD_CREATE_LOOKUP_MS": "3000"}))
            expected = ws.state()
            states = {
                "sqlite": h.sqlite_state(work / "tasks.sqlite", "tasks"),
                "postgres": postgres.state("tasks"),
                "jsonl": h.jsonl_state(h.jsonl_events(work / "events.jsonl")),
                "markdown": h.markdown_state(work / "md"),
                "late jsonl": h.jsonl_state(h.jsonl_events(work / "late.jsonl")),
            }
            if all(not h.differences(expected, s, n) for n, s in states.items()):
                break
        check(all(r == 0 for r in results),
              f"the final sync-once cycles succeeded (exit statuses {results})")
        for name, state in states.items():
            diff = h.differences(expected, state, name)
            check(not diff, f"{name} equals Notion's {len(expected)} live pages after "
                            f"{final_cycles} final cycle(s)" + "".join("\n  " + d for d in diff))

        kept_in_conflicts = 0
        for edits, target in ((sqlite_edits, "tasks/db"), (pg_edits, "tasks/pg")):
            # Nobody edits these pages in Notion, so a conflict on one is spurious: the last
            # table value lost to the target's own earlier write. KNOWN DEFECT (the closing note
            # of issue 16): a poll's answer read before a write-back's PATCH and committed after
            # it takes the mirror back to the older value. The value is kept in the conflict
            # (`conflicts resolve --take external` restores it): counted, not a failure here;
            # a value neither in Notion nor in a conflict is lost and fails.
            conflicts = conflict_values(work / "state", target)
            lost, kept = [], 0
            for p, v in edits.estimates.items():
                if expected.get(p, {}).get("Estimate") == v:
                    continue
                if (p, v) in conflicts:
                    kept += 1
                else:
                    lost.append(f"{p}: {v} in the table, "
                                f"{expected.get(p, {}).get('Estimate')} in Notion, no conflict")
            kept_in_conflicts += kept
            check(not lost, f"all {len(edits.estimates)} estimates set in {edits.label} reached "
                            f"Notion ({kept} only as a recorded conflict)"
                  + "".join("\n  " + w for w in lost[:5]))
            names = [p["Name"] for p in expected.values()]
            counts = {n: names.count(n) for n in edits.inserted}
            bad = {n: c for n, c in counts.items() if c != 1}
            check(not bad, f"each of the {len(edits.inserted)} rows inserted in {edits.label} is "
                           f"exactly one page" + (f": {bad}" if bad else ""))

        events = h.jsonl_events(work / "events.jsonl")
        delivered = [e["seq"] for e in events]
        last, dead = h.outbox_figures(work / "state")
        # One sync, the jsonl target there from the first event: it must hold seq 1..last.
        missing = sorted(set(range(1, last + 1)) - set(delivered))
        check(last > 0 and not missing and max(delivered, default=0) == last,
              f"the jsonl file holds every one of the {last} events, at least once"
              + (f" (missing seq {missing[:10]})" if missing else ""))
        check(dead == 0, f"no dead letters ({dead})")
        for path in (work / "state" / "mirror.sqlite3", work / "tasks.sqlite"):
            result = h.integrity(path)
            check(result == "ok", f"PRAGMA integrity_check of {path.name}: {result}")
        check(not unexpected, "the daemon ended only when killed"
                              + "".join("\n  " + u for u in unexpected[:3]))
        check(not workload_errors, f"the workload's {sum(people.done.values())} Notion calls "
                                   f"succeeded ({len(workload_errors)} failed)")

        figures = {
            "kills": args.kills, "timed_kills": timed,
            "crash_points_reached": dict(sorted(reached.items())),
            "crash_points_not_reached": dict(sorted(missed.items())),
            "events": last, "jsonl_lines": len(delivered),
            "redelivered": len(delivered) - len(set(delivered)),
            "notion_operations": people.done,
            "table_edits": {"sqlite": len(sqlite_edits.estimates) + len(sqlite_edits.inserted),
                            "postgres": len(pg_edits.estimates) + len(pg_edits.inserted)},
            "rows_inserted": len(sqlite_edits.inserted) + len(pg_edits.inserted),
            "pages_written_before_final_cycles": written_by_run,
            "table_edits_only_in_conflicts": kept_in_conflicts,
            "final_cycles": final_cycles, "live_pages": len(expected),
            "duration_s": round(time.monotonic() - started, 1), "seed": seed,
        }
        print(json.dumps({"crash_loop": figures}))
        if not all(checks):
            print("the daemon's log ends with:\n" + log.read_text(errors="replace")[-3000:])
    finally:
        postgres.stop()
        emulator.stop()
        if all(checks) and not args.keep:
            import shutil
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"crash: the work directory is {work}")
    failed = checks.count(False)
    print(f"{len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
