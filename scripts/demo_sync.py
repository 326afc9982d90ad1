#!/usr/bin/env python3
"""Stand-in for the daemon's main job until notion-syncd exists (issues #3 and #4).

Reads everything shared with the connection from a Notion API (the emulator in the demo) and
writes it to a SQLite file and a JSON-lines file. Usage: demo_sync.py SQLITE JSONL, with
NOTION_BASE_URL and NOTION_TOKEN in the environment.
"""
import json
import os
import sqlite3
import sys
import urllib.request

BASE = os.environ["NOTION_BASE_URL"]
TOKEN = os.environ["NOTION_TOKEN"]


def call(method, path, body=None):
    request = urllib.request.Request(
        BASE + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + TOKEN, "Notion-Version": "2026-03-11",
                 **({"Content-Type": "application/json"} if body is not None else {})})
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def paginate(method, path, body=None):
    cursor = None
    while True:
        page_body = dict(body or {}, page_size=100, **({"start_cursor": cursor} if cursor else {}))
        result = call(method, path, page_body)
        yield from result["results"]
        if not result["has_more"]:
            return
        cursor = result["next_cursor"]


def main(sqlite_path, jsonl_path):
    db = sqlite3.connect(sqlite_path)
    db.execute("CREATE TABLE IF NOT EXISTS pages (page_id TEXT PRIMARY KEY, data_source_id TEXT, "
               "title TEXT, last_edited_time TEXT, properties TEXT)")
    sources = list(paginate("POST", "/v1/search", {"filter": {"property": "object", "value": "data_source"}}))
    total = 0
    with open(jsonl_path, "w", encoding="utf-8") as events:
        for source in sources:
            name = "".join(t["plain_text"] for t in source["title"]) or source["id"]
            count = 0
            for page in paginate("POST", f"/v1/data_sources/{source['id']}/query",
                                 {"sorts": [{"timestamp": "last_edited_time", "direction": "ascending"}]}):
                title = "".join(t["plain_text"] for p in page["properties"].values()
                                if p["type"] == "title" for t in p["title"])
                db.execute("INSERT OR REPLACE INTO pages VALUES (?, ?, ?, ?, ?)",
                           (page["id"], source["id"], title, page["last_edited_time"],
                            json.dumps(page["properties"])))
                events.write(json.dumps({"kind": "created", "data_source": source["id"],
                                         "page": page["id"], "title": title}) + "\n")
                count += 1
            print(f"  {name}: {count} pages")
            total += count
    db.commit()
    print(f"synced {total} pages from {len(sources)} data sources into {sqlite_path} and {jsonl_path}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
