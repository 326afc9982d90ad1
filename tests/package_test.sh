#!/usr/bin/env bash
# The Debian package. `package_test.sh BUILD_DIR` builds it with CPack in BUILD_DIR and checks its
# contents with dpkg-deb. `package_test.sh --install BUILD_DIR` installs that package, runs
# check-config on the installed example and purges it: only in CI (CI=true), where it must run as
# root; elsewhere it exits 77, which ctest reports as skipped.
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
    if "$@" >/dev/null 2>&1; then
        echo "ok: $what"
        passes=$((passes + 1))
    else
        echo "FAIL: $what"
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
    credentials=$(mktemp -d)
    echo "secret_installed_test_token" >"$credentials/notion_token"
    check "installed: check-config accepts the example" \
        env CREDENTIALS_DIRECTORY="$credentials" /usr/bin/notion-syncd -c /etc/notion-syncd/config.yaml check-config
    check "installed: the notion-syncd user exists" getent passwd notion-syncd
    check "installed: config.yaml is root:notion-syncd 0640" \
        bash -c '[[ $(stat -c "%a %U %G" /etc/notion-syncd/config.yaml) == "640 root notion-syncd" ]]'
    dpkg --purge notion-syncd >/dev/null
    rm -rf "$credentials"
    check "purged" bash -c "! dpkg -s notion-syncd"
    summary
    exit
fi

(cd "$build" && cpack -G DEB >/dev/null)
deb=$(ls -t "$build"/notion-syncd_*_amd64.deb | head -n 1)
contents=$(dpkg-deb -c "$deb")
info=$(dpkg-deb -I "$deb")
for path in ./usr/bin/notion-syncd ./usr/lib/systemd/system/notion-syncd.service \
    ./usr/lib/sysusers.d/notion-syncd.conf ./usr/lib/tmpfiles.d/notion-syncd.conf \
    ./etc/notion-syncd/config.yaml ./usr/share/man/man8/notion-syncd.8 \
    ./usr/share/doc/notion-syncd/examples/full.yaml; do
    check "the package holds $path" grep -q " $path\$" <<<"$contents"
done
check "the example configuration is 0640" grep -q -- "-rw-r----- root/root .* ./etc/notion-syncd/config.yaml" <<<"$contents"
check "notion-emulator is not shipped" bash -c "! grep -q notion-emulator <<<\"\$0\"" "$contents"
check "config.yaml is a conffile" bash -c "dpkg-deb -f '$deb' Package && dpkg-deb --ctrl-tarfile '$deb' | tar -xO ./conffiles | grep -qx /etc/notion-syncd/config.yaml"
check "it depends on systemd" grep -q "Depends: systemd" <<<"$info"
check "the man page is notion-syncd(8)" bash -c "dpkg-deb --fsys-tarfile '$deb' | tar -xO ./usr/share/man/man8/notion-syncd.8 | grep -q '^.TH NOTION-SYNCD 8'"

summary
