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
echo "$failures failed"
[[ $failures -eq 0 ]]
