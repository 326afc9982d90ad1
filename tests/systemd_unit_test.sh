#!/usr/bin/env bash
# The systemd unit: systemd-analyze security --offline must rate its exposure at 2.0 or better,
# and it must be a Type=notify unit with the settings the daemon relies on.
set -euo pipefail
unit="$(dirname "$0")/../systemd/notion-syncd.service"
failures=0
score=$(systemd-analyze security --offline=true "$unit" 2>/dev/null |
    sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
echo "exposure: $score"
if [[ -z $score ]] || ! awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
    echo "FAIL: exposure $score is over 2.0"
    failures=$((failures + 1))
fi
for setting in Type=notify WatchdogSec= ExecReload= LoadCredential=notion_token StateDirectory= \
    RestartPreventExitStatus=78 ProtectSystem=strict NoNewPrivileges=yes CapabilityBoundingSet= \
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" SystemCallFilter=@system-service PrivateTmp=yes; do
    if ! grep -q "^$setting" "$unit"; then
        echo "FAIL: $setting missing"
        failures=$((failures + 1))
    fi
done
# The calendar templates (sync-once per job on a timer): systemd-analyze verify on an instance,
# with ExecStart pointing at this build's binary (verify checks that it is executable), and the
# drop-in the README shows.
syncd_binary="${1:-}"
if [[ -n $syncd_binary ]]; then
    dir=$(mktemp -d)
    trap 'rm -rf "$dir"' EXIT
    for kind in service timer; do
        sed "s|/usr/bin/notion-syncd|$syncd_binary|g" \
            "$(dirname "$0")/../systemd/notion-syncd-sync@.$kind" >"$dir/notion-syncd-sync@tasks.$kind"
    done
    mkdir -p "$dir/notion-syncd-sync@tasks.timer.d"
    printf '[Timer]\nOnCalendar=\nOnCalendar=Mon..Fri *-*-* 08..18:00/10\n' \
        >"$dir/notion-syncd-sync@tasks.timer.d/calendar.conf"
    if output=$(cd "$dir" && systemd-analyze verify --man=no "notion-syncd-sync@tasks.timer" \
        "notion-syncd-sync@tasks.service" 2>&1) && [[ -z $output ]]; then
        echo "ok: systemd-analyze verify accepts notion-syncd-sync@tasks.timer and .service"
    else
        echo "FAIL: systemd-analyze verify: $output"
        failures=$((failures + 1))
    fi
    if systemd-analyze calendar "Mon..Fri *-*-* 08..18:00/10" >/dev/null 2>&1; then
        echo "ok: the README's calendar parses"
    else
        echo "FAIL: the README's calendar does not parse"
        failures=$((failures + 1))
    fi
    template="$(dirname "$0")/../systemd/notion-syncd-sync@.service"
    for setting in "ExecStart=/usr/bin/notion-syncd -c /etc/notion-syncd/config.yaml sync-once --job %i" \
        Type=oneshot LoadCredential=notion_token ProtectSystem=strict; do
        if ! grep -qF "$setting" "$template"; then
            echo "FAIL: $setting missing in the template"
            failures=$((failures + 1))
        fi
    done
fi
echo "$failures failed"
[[ $failures -eq 0 ]]
