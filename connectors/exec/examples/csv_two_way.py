#!/usr/bin/env python3
"""A two-way exec connector for notion-syncd, in Python: a CSV file people edit.

Speaks protocol 2 of connectors/exec/PROTOCOL.md (the target has `two_way:`). The CSV has a
`page_id` column and one column per property (title, text, number, select, status, checkbox,
url, email, phone and date properties; a date column holds its start). Notion's changes arrive
as batches and are written into the file; when the daemon asks (`collect`), the rows people
changed since are sent back as `changes`, and each change's `result` says whether it reached
Notion. A row added without a page_id becomes a page (with `create: true`): its title is its
external_key until the page id comes back in the result.

    connectors:
      sheet:
        type: exec
        command: [python3, /usr/share/notion-syncd/examples/csv_two_way.py, /srv/tasks.csv]
    syncs:
      - name: tasks
        …
        targets:
          - connector: sheet
            two_way: { settle: 5s }

What the program last agreed with Notion is kept beside the file (`<file>.base.json`), so only
real edits are sent. Results are logged to stderr (the daemon's log).
"""

import csv
import json
import os
import sys

PROTOCOL = 2
COLUMN_TYPES = {"title", "rich_text", "number", "select", "status", "checkbox", "url", "email",
                "phone_number", "date"}


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def log(text):
    print(text, file=sys.stderr, flush=True)


class Sheet:
    def __init__(self, path):
        self.path = path
        self.base_path = path + ".base.json"
        self.columns = []  # property names, in schema order
        self.types = {}  # property name -> type
        self.base = {}  # page id -> {column: text}
        if os.path.exists(self.base_path):
            with open(self.base_path, encoding="utf-8") as f:
                self.base = json.load(f)
        self.sent = {}  # (message id, index) -> (page id or "", external key, {column: text})
        # Cells sent and not settled yet, per row (page id or key): not sent again while they
        # hold the same text. Settled by an applied result, or by a batch carrying the column
        # (Notion's value after a rejection). A row whose delete was sent: in deletes_sent.
        self.inflight = {}
        self.deletes_sent = set()

    def learn(self, schemas):
        columns = []
        for schema in schemas.values():
            for p in schema["properties"]:
                if p["type"] in COLUMN_TYPES and p["name"] not in columns:
                    columns.append(p["name"])
                    self.types[p["name"]] = p["type"]
        if columns:
            self.columns = columns

    def read(self):
        if not os.path.exists(self.path):
            return []
        with open(self.path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    def write(self, rows):
        temp = self.path + ".tmp"
        with open(temp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["page_id"] + self.columns, extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow(row)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, self.path)
        with open(self.base_path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(self.base, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(self.base_path + ".tmp", self.base_path)

    def text(self, name, value):
        if value is None:
            return ""
        if self.types.get(name) == "date":
            return value.get("start") or "" if isinstance(value, dict) else str(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    def value(self, name, text):
        """A cell as the property's value: numbers and checkboxes typed when they read as such
        (otherwise sent as typed, for the daemon to reject with its reason)."""
        kind = self.types.get(name)
        if text == "":
            return False if kind == "checkbox" else None
        if kind == "number":
            try:
                number = float(text)
                return int(number) if number.is_integer() else number
            except ValueError:
                return text
        if kind == "checkbox":
            return {"true": True, "false": False}.get(text.lower(), text)
        return text

    def apply(self, events):
        rows = {r["page_id"]: r for r in self.read() if r.get("page_id")}
        others = [r for r in self.read() if not r.get("page_id")]
        for e in events:
            page = e.get("page_id")
            if not page:
                continue
            if e["event"] in ("deleted", "access_lost"):
                rows.pop(page, None)
                self.base.pop(page, None)
                continue
            row = rows.get(page, {"page_id": page})
            agreed = self.base.setdefault(page, {})
            sent = self.inflight.get(page, {})
            for name in self.columns:
                if name in e["properties"]:
                    row[name] = agreed[name] = self.text(name, e["properties"][name])
                    sent.pop(name, None)
            rows[page] = row
            self.deletes_sent.discard(page)
        self.write(list(rows.values()) + others)

    def changes(self, message_id):
        out = []
        current = self.read()
        present = set()
        for row in current:
            page = row.get("page_id") or ""
            if page:
                present.add(page)
                agreed = self.base.get(page, {})
                sent = self.inflight.setdefault(page, {})
                edited = {c: row.get(c, "") for c in self.columns
                          if row.get(c, "") != agreed.get(c, "") and sent.get(c) != row.get(c, "")}
                if not edited:
                    continue
                sent.update(edited)
                change = {"page_id": page,
                          "properties": {c: self.value(c, t) for c, t in edited.items()}}
                self.sent[(message_id, len(out))] = (page, "", edited)
                out.append(change)
            else:
                title = next((c for c in self.columns if self.types[c] == "title"), None)
                key = row.get(title, "") if title else ""
                cells = {c: row.get(c, "") for c in self.columns if row.get(c, "") != ""}
                if not key or self.inflight.get(key) == cells:
                    continue
                self.inflight[key] = dict(cells)
                self.sent[(message_id, len(out))] = ("", key, cells)
                out.append({"external_key": key,
                            "properties": {c: self.value(c, t) for c, t in cells.items()}})
        for page in list(self.base):
            if page not in present and page not in self.deletes_sent:
                self.deletes_sent.add(page)
                self.sent[(message_id, len(out))] = (page, "", None)
                out.append({"page_id": page, "deleted": True})
        return out

    def result(self, message):
        sent = self.sent.pop((message["id"], message["index"]), None)
        status = message["status"]
        reasons = "; ".join((r.get("property", "") + ": " if r.get("property") else "") + r["reason"]
                            for r in message.get("rejected", []))
        log(f"result: {status} {message.get('page_id') or message.get('external_key')}"
            + (f" ({reasons})" if reasons else ""))
        if sent is None:
            return
        page, key, cells = sent
        if cells is None:  # a delete: the page is in the trash, or Notion's values come back
            self.deletes_sent.discard(page)
            self.base.pop(page, None)
            self.write(self.read())
            return
        written = set(message.get("written", []))
        if key:
            self.inflight.pop(key, None)
        else:
            pending = self.inflight.get(page, {})
            for column in written:
                if pending.get(column) == cells.get(column):
                    pending.pop(column, None)
        if key and message.get("page_id"):
            page = message["page_id"]
            rows = self.read()
            for row in rows:
                if not row.get("page_id") and row.get(next(
                        c for c in self.columns if self.types[c] == "title")) == key:
                    row["page_id"] = page
                    break
            self.base[page] = {c: t for c, t in cells.items() if c in written}
            self.write(rows)
            return
        agreed = self.base.setdefault(page, {})
        for column, text in cells.items():
            if column in written:
                agreed[column] = text
        self.write(self.read())

    def snapshot(self):
        return [{"page_id": r["page_id"],
                 "properties": {c: self.value(c, r.get(c, "")) for c in self.columns}}
                for r in self.read() if r.get("page_id")]


def main():
    if len(sys.argv) != 2:
        log("usage: csv_two_way.py FILE.csv")
        return 64
    sheet = Sheet(sys.argv[1])
    while True:
        line = sys.stdin.readline()
        if not line:
            return 0  # stdin closed: the daemon is stopping
        message = json.loads(line)
        kind = message.get("type")
        if kind == "hello":
            if message.get("protocol") != PROTOCOL:
                log(f"protocol {message.get('protocol')} is not supported (only {PROTOCOL}): "
                    "give the target a two_way: block")
                return 78
            sheet.learn(message["schemas"])
        elif kind == "batch":
            if "schemas" in message:
                sheet.learn(message["schemas"])
            sheet.apply(message["events"])
            send({"type": "ack", "id": message["id"]})
        elif kind == "collect":
            send({"type": "changes", "id": message["id"], "changes": sheet.changes(message["id"])})
        elif kind == "result":
            sheet.result(message)
        elif kind == "snapshot":
            send({"type": "snapshot", "id": message["id"], "rows": sheet.snapshot(),
                  "more": False})
        # other types: a later version's; ignored


if __name__ == "__main__":
    sys.exit(main())
