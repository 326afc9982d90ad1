#!/bin/sh
# An exec connector for notion-syncd in POSIX sh: appends each batch, one JSON line per batch, to
# a file and acks it. Speaks protocol 1 of connectors/exec/PROTOCOL.md without a JSON parser: a
# batch line starts with {"type":"batch","id":N, so the id is cut out of the line's start.
#
#   connectors:
#     batches:
#       type: exec
#       command: [/usr/share/notion-syncd/examples/append_batches.sh, /srv/batches.jsonl]
#
# REJECT_MATCHING=TEXT answers a batch holding TEXT with a nack that is not retryable.
set -u
out=${1:?usage: append_batches.sh FILE}
reject=${REJECT_MATCHING:-}

contains() {
    case $1 in
        *"$2"*) return 0 ;;
        *) return 1 ;;
    esac
}

while IFS= read -r line; do
    case $line in
        '{"type":"hello",'*)
            echo "hello received" >&2
            ;;
        '{"type":"batch","id":'*)
            rest=${line#'{"type":"batch","id":'}
            id=${rest%%,*}
            if [ -n "$reject" ] && contains "$line" "$reject"; then
                echo "refusing batch $id" >&2
                printf '{"type":"nack","id":%s,"error":"refused by REJECT_MATCHING","retryable":false}\n' "$id"
            elif printf '%s\n' "$line" >>"$out"; then
                printf '{"type":"ack","id":%s}\n' "$id"
            else
                printf '{"type":"nack","id":%s,"error":"cannot write the file","retryable":true}\n' "$id"
            fi
            ;;
        *)
            # A message of a later protocol version: ignore it.
            ;;
    esac
done
