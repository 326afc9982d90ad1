#!/usr/bin/env bash
# The Debian package. `package_test.sh BUILD_DIR` builds it with CPack in BUILD_DIR and checks its
# contents with dpkg-deb. `package_test.sh --install BUILD_DIR` installs that package, runs the
# README's operator steps against it (with notion-emulator standing in for Notion) and purges it:
# only in CI (CI=true), where it must run as root; elsewhere it exits 77 (ctest: skipped).
set -euo pipefail
install=false
if [[ ${1:-} == --install ]]; then
    install=true
    shift
fi
build="$1"
failures=0
passes=0
check() {  # check DESCRIPTION COMMAND...
    local what="$1"
    shift
    local output
    if output=$("$@" 2>&1); then
        echo "ok: $what"
        passes=$((passes + 1))
    else
        echo "FAIL: $what"
        [[ -n $output ]] && sed 's/^/    /' <<<"$output" | tail -n 20
        failures=$((failures + 1))
    fi
}
summary() {
    echo "$passes passed, $failures failed"
    [[ $failures -eq 0 ]]
}

if [[ $install == true ]]; then
    if [[ ${CI:-} != true ]]; then
        echo "skipped: installing the package (only in CI, as root: CI=true)"
        exit 77
    fi
    if [[ $(id -u) -ne 0 ]]; then
        echo "FAIL: CI=true but not root: the package cannot be installed"
        exit 1
    fi
    deb=$(ls -t "$build"/notion-syncd_*_amd64.deb 2>/dev/null | head -n 1 || true)
    if [[ -z $deb ]]; then
        echo "FAIL: no notion-syncd_*_amd64.deb in $build (the debian_package test builds it)"
        exit 1
    fi
    apt-get install -y -q "$deb" >/dev/null 2>&1 || dpkg -i "$deb" >/dev/null
    here="$(cd "$(dirname "$0")" && pwd)"
    work=$(mktemp -d)
    daemon_pid=""
    emulator_pid=""
    cleanup() {
        [[ -n $daemon_pid ]] && kill "$daemon_pid" 2>/dev/null || true
        [[ -n $emulator_pid ]] && kill "$emulator_pid" 2>/dev/null || true
        rm -rf "$work"
    }
    trap cleanup EXIT
    token="secret_FAKE-package-test-token-0123456789"
    "$build/emulator/notion-emulator" --port 0 --fixture "$here/../emulator/fixtures/sample.json" \
        --connection-token "$token" >"$work/emulator.out" 2>"$work/emulator.log" &
    emulator_pid=$!
    for _ in $(seq 100); do [[ -s $work/emulator.out ]] && break; sleep 0.1; done
    port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$work/emulator.out")
    syncd_config=/etc/notion-syncd/config.yaml
    unset CREDENTIALS_DIRECTORY  # an operator's shell
    # The README's operator steps, line by line, as the README writes them. Lines that need a
    # person (the editor) or systemd as PID 1 (systemctl, absent in CI containers) are done the
    # way they would be: the edit points the shipped config at the emulator; the service is
    # started as the unit would (its user, its credential directory, StateDirectory=).
    steps=$(awk '/<!-- operator-steps/{on=1; next} on && /^```sh/{next} on && /^```/{exit} on' \
        "$here/../README.md")
    check "the README has operator steps" test -n "$steps"
    while IFS= read -r line; do
        command="${line%%#*}"
        command="${command%"${command##*[![:space:]]}"}"
        [[ -z $command ]] && continue
        case "$command" in
        "install -m 600 /dev/stdin /etc/notion-syncd/notion_token")
            check "README: $command" bash -c "echo '$token' | $command"
            ;;
        "editor $syncd_config")
            check "README: $command (base_url: the emulator)" \
                sed -i "s|^  version: \"2026-03-11\"|&\n  base_url: http://127.0.0.1:$port|" "$syncd_config"
            ;;
        "systemctl enable --now notion-syncd")
            if [[ -d /run/systemd/system ]]; then
                check "README: $command" $command
            else
                install -d -o notion-syncd -g notion-syncd -m 0750 /var/lib/notion-syncd
                credentials=$(mktemp -d)
                install -m 0400 -o notion-syncd /etc/notion-syncd/notion_token "$credentials/notion_token"
                chown notion-syncd "$credentials"
                runuser -u notion-syncd -- env CREDENTIALS_DIRECTORY="$credentials" \
                    /usr/bin/notion-syncd -c "$syncd_config" run >"$work/daemon.log" 2>&1 &
                daemon_pid=$!
                ready=false
                for _ in $(seq 100); do
                    if python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:9464/readyz')" \
                        >/dev/null 2>&1 && \
                        [[ -s /var/lib/notion-syncd/events.jsonl ]]; then ready=true; break; fi
                    sleep 0.2
                done
                check "README: $command (started as the unit would, as notion-syncd)" $ready
            fi
            ;;
        "systemctl reload notion-syncd")
            if [[ -d /run/systemd/system ]]; then
                check "README: $command" $command
            else
                check "README: $command (SIGHUP)" kill -HUP "$daemon_pid"
                sleep 1
                check "the daemon runs on after the reload" kill -0 "$daemon_pid"
            fi
            ;;
        notion-syncd*)
            check "README: $command" $command
            ;;
        *)
            check "README: a step this test does not know: $command" false
            ;;
        esac
    done <<<"$steps"
    check "status from a root shell reads the running daemon" \
        bash -c "notion-syncd -c $syncd_config status | grep -q 'from the running daemon'"
    check "discover from a root shell prints the tree" \
        bash -c "notion-syncd -c $syncd_config discover | grep -q '└─ '"
    check "a second instance is refused with exit 75" \
        bash -c "notion-syncd -c $syncd_config sync-once; [[ \$? -eq 75 ]]"
    kill "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
    daemon_pid=""
    rm -f /var/lib/notion-syncd/lock  # created again by the next command: by whom?
    check "sync-once from a root shell once the service stopped" \
        notion-syncd -c "$syncd_config" sync-once
    check "every file in the state directory stays the service's" \
        bash -c "[[ -z \$(find /var/lib/notion-syncd ! -user notion-syncd) ]]"
    check "--version names the Notion API version" \
        bash -c "notion-syncd --version | grep -q 'Notion API version 2026-03-11'"
    check "installed: the notion-syncd user exists" getent passwd notion-syncd
    check "installed: config.yaml is root:notion-syncd 0640" \
        bash -c '[[ $(stat -c "%a %U %G" /etc/notion-syncd/config.yaml) == "640 root notion-syncd" ]]'
    dpkg --purge notion-syncd >/dev/null
    rm -rf /var/lib/notion-syncd /etc/notion-syncd
    check "purged" bash -c "! dpkg -s notion-syncd"
    summary
    exit
fi

(cd "$build" && cpack -G DEB >/dev/null)
deb=$(ls -t "$build"/notion-syncd_*_amd64.deb | head -n 1)
contents=$(dpkg-deb -c "$deb")
info=$(dpkg-deb -I "$deb")
for path in ./usr/bin/notion-syncd ./usr/lib/systemd/system/notion-syncd.service \
    ./usr/lib/systemd/system/notion-syncd-sync@.service ./usr/lib/systemd/system/notion-syncd-sync@.timer \
    ./usr/lib/sysusers.d/notion-syncd.conf ./usr/lib/tmpfiles.d/notion-syncd.conf \
    ./etc/notion-syncd/config.yaml ./usr/share/man/man8/notion-syncd.8 \
    ./usr/share/doc/notion-syncd/examples/full.yaml \
    ./usr/share/notion-syncd/monitoring/notion-syncd.rules.yml \
    ./usr/share/notion-syncd/monitoring/grafana-dashboard.json; do
    check "the package holds $path" grep -q " $path\$" <<<"$contents"
done
check "the example configuration is 0640" grep -q -- "-rw-r----- root/root .* ./etc/notion-syncd/config.yaml" <<<"$contents"
check "notion-emulator is not shipped" bash -c "! grep -q notion-emulator <<<\"\$0\"" "$contents"
check "config.yaml is a conffile" bash -c "dpkg-deb -f '$deb' Package && dpkg-deb --ctrl-tarfile '$deb' | tar -xO ./conffiles | grep -qx /etc/notion-syncd/config.yaml"
check "it depends on systemd" grep -q "Depends: systemd" <<<"$info"
check "the man page is notion-syncd(8)" bash -c "dpkg-deb --fsys-tarfile '$deb' | tar -xO ./usr/share/man/man8/notion-syncd.8 | grep -q '^.TH NOTION-SYNCD 8'"

summary
