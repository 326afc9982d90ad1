#!/usr/bin/env python3
"""An exec connector for notion-syncd, in Python: appends every event to a JSON-lines file.

Speaks protocol 1 of connectors/exec/PROTOCOL.md on stdin/stdout; logs go to stderr, which the
daemon copies into its own log.

    connectors:
      events:
        type: exec
        command: [python3, /usr/share/notion-syncd/examples/append_events.py, /srv/events.jsonl]

Each event is written and fsynced before its batch is acked, so an acked event is on disk. A batch
can arrive twice (after a crash or a timeout): readers dedupe by "seq" or keep the last line per
"page_id".

For tests, two environment variables make it misbehave:
  APPEND_EVENTS_EXIT_AFTER=N  after acking N batches, write half of the next one and exit(3)
  APPEND_EVENTS_REJECT=TEXT   answer a batch whose events contain TEXT with a nack that is not
                              retryable (the daemon moves those events to dead letters)
"""

import json
import os
import sys

PROTOCOL = 1


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def log(text):
    print(text, file=sys.stderr, flush=True)


def main():
    if len(sys.argv) != 2:
        log("usage: append_events.py FILE")
        return 64
    exit_after = int(os.environ.get("APPEND_EVENTS_EXIT_AFTER", "0"))
    reject = os.environ.get("APPEND_EVENTS_REJECT", "")
    acked = 0
    with open(sys.argv[1], "a", encoding="utf-8") as out:
        while True:
            line = sys.stdin.readline()
            if not line:
                return 0  # stdin closed: the daemon is stopping
            message = json.loads(line)
            kind = message.get("type")
            if kind == "hello":
                if message.get("protocol") != PROTOCOL:
                    log(f"protocol {message.get('protocol')} is not supported (only {PROTOCOL})")
                    return 78
                log(f"hello: target {message['target']}, {len(message['schemas'])} data sources")
                continue
            if kind != "batch":
                continue  # a message of a later protocol version
            events = message["events"]
            if reject and any(reject in json.dumps(e, ensure_ascii=False) for e in events):
                send({"type": "nack", "id": message["id"], "retryable": False,
                      "error": f"an event contains {reject!r}"})
                continue
            if exit_after and acked == exit_after:
                for event in events[: len(events) // 2]:
                    out.write(json.dumps(event, ensure_ascii=False) + "\n")
                out.flush()
                log(f"exiting in the middle of batch {message['id']} (APPEND_EVENTS_EXIT_AFTER)")
                return 3
            for event in events:
                out.write(json.dumps(event, ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())
            send({"type": "ack", "id": message["id"]})
            acked += 1


if __name__ == "__main__":
    sys.exit(main())
