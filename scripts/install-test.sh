#!/usr/bin/env bash
# `make install` into a staged root, then checks the tree the way a host would use it: the user and
# folders from sysusers.d/tmpfiles.d (systemd-sysusers/-tmpfiles --root), the unit through
# `systemd-analyze verify` (nothing on stderr) and `systemd-analyze security --offline=yes` (exposure
# at most 2.0), the static binaries, the installed lockstepd validating the installed config, an
# upgrade keeping an edited config, and `make uninstall` removing the files but not config or data.
# The systemd checks are skipped (and said so) where systemd-analyze is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
fail() { echo "install-test: FAILED: $*" >&2; exit 1; }
checks=0
pass() { checks=$((checks + 1)); }
prefix=/usr/local

make --no-print-directory install DESTDIR="$root" PREFIX="$prefix" >"$root.log" 2>&1 || { tail -20 "$root.log"; fail "make install"; }
rm -f "$root.log"
for file in bin/lockstepd bin/lockstep bin/lockstep-device bin/lockstep-bench lib/systemd/system/lockstepd.service \
    lib/sysusers.d/lockstep.conf lib/tmpfiles.d/lockstep.conf lib/udev/rules.d/60-lockstep-ptp.rules \
    share/doc/lockstep/operations.md share/doc/lockstep/no-net-admin.conf share/doc/lockstep/lockstepd.yaml.example \
    share/lockstep/sync-peers.py; do
    [ -s "$root$prefix/$file" ] || fail "missing $prefix/$file"
done
[ -s "$root/etc/lockstep/lockstepd.yaml" ] || fail "no default /etc/lockstep/lockstepd.yaml"
[ "$(stat -c %a "$root/etc/lockstep/lockstepd.yaml")" = 640 ] || fail "config file mode is not 0640"; pass
for binary in lockstepd lockstep lockstep-device lockstep-bench; do
    [ -x "$root$prefix/bin/$binary" ] || fail "$binary not executable"
    if ldd "$root$prefix/bin/$binary" | grep -q libswiftCore; then fail "$binary links the Swift runtime dynamically"; fi
done
grep -q "^ExecStart=$prefix/bin/lockstepd --config /etc/lockstep/lockstepd.yaml$" "$root$prefix/lib/systemd/system/lockstepd.service" \
    || fail "ExecStart does not name the installed binary and config"; pass
"$root$prefix/bin/lockstepd" --check-config --config "$root/etc/lockstep/lockstepd.yaml" | grep -q "configuration OK" \
    || fail "the installed lockstepd refuses the installed config"; pass

if command -v systemd-sysusers >/dev/null && command -v systemd-tmpfiles >/dev/null; then
    systemd-sysusers --root="$root" lockstep.conf 2>/dev/null
    uid=$(awk -F: '$1 == "lockstep" { print $3 }' "$root/etc/passwd")
    [ -n "$uid" ] || fail "systemd-sysusers made no lockstep user"
    awk -F: '$1 == "lockstep" { exit !($7 == "/usr/sbin/nologin") }' "$root/etc/passwd" || fail "the lockstep user can log in"
    systemd-tmpfiles --root="$root" --create lockstep.conf
    [ "$(stat -c '%u %a' "$root/var/lib/lockstep")" = "$uid 750" ] || fail "/var/lib/lockstep: $(stat -c '%u %a' "$root/var/lib/lockstep")"
    [ "$(stat -c %g "$root/etc/lockstep/lockstepd.yaml")" = "$(awk -F: '$1 == "lockstep" { print $3 }' "$root/etc/group")" ] \
        || fail "the config file is not readable by group lockstep"; pass
else
    echo "install-test: systemd-sysusers/-tmpfiles not found: user and folder checks skipped"
fi

if command -v systemd-analyze >/dev/null; then
    # verify resolves ExecStart on this host: check a copy whose binary path points into the staged root.
    mkdir -p "$root/verify"
    sed "s|^ExecStart=$prefix/bin/|ExecStart=$root$prefix/bin/|" "$root$prefix/lib/systemd/system/lockstepd.service" >"$root/verify/lockstepd.service"
    errors=$(systemd-analyze verify --man=no "$root/verify/lockstepd.service" 2>&1 >/dev/null || echo "exit status $?")
    [ -z "$errors" ] || fail "systemd-analyze verify: $errors"; pass
    report=$(systemd-analyze security --offline=yes "$root$prefix/lib/systemd/system/lockstepd.service" 2>&1)
    exposure=$(grep -o 'Overall exposure level for lockstepd.service: [0-9.]*' <<<"$report" | grep -o '[0-9.]*$')
    [ -n "$exposure" ] || fail "no exposure level in: $report"
    awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }' || fail "exposure $exposure is above 2.0: $(grep '✗' <<<"$report")"
    # The drop-in without CAP_NET_ADMIN must parse and lower (or keep) the exposure.
    mkdir -p "$root/verify/lockstepd.service.d"
    cp "$root$prefix/share/doc/lockstep/no-net-admin.conf" "$root/verify/lockstepd.service.d/"
    errors=$(systemd-analyze verify --man=no "$root/verify/lockstepd.service" 2>&1 >/dev/null || echo "exit status $?")
    [ -z "$errors" ] || fail "systemd-analyze verify with the no-net-admin drop-in: $errors"
    echo "install-test: systemd-analyze security exposure $exposure"; pass
else
    echo "install-test: systemd-analyze not found: unit checks skipped"
fi

# An upgrade keeps an edited configuration; uninstall keeps configuration and data.
echo "# edited" >>"$root/etc/lockstep/lockstepd.yaml"
make --no-print-directory install DESTDIR="$root" PREFIX="$prefix" >"$root/upgrade.log" 2>&1 || { tail -20 "$root/upgrade.log"; fail "upgrade"; }
grep -q "kept /etc/lockstep/lockstepd.yaml" "$root/upgrade.log" || fail "upgrade did not say it kept the config"
grep -q "^# edited" "$root/etc/lockstep/lockstepd.yaml" || fail "upgrade overwrote the edited config"; pass
make --no-print-directory uninstall DESTDIR="$root" PREFIX="$prefix" >/dev/null
[ -e "$root$prefix/bin/lockstepd" ] && fail "uninstall left lockstepd"
[ -e "$root$prefix/lib/systemd/system/lockstepd.service" ] && fail "uninstall left the unit"
[ -s "$root/etc/lockstep/lockstepd.yaml" ] || fail "uninstall removed the configuration"; pass
echo "install-test: $checks passed, 0 failed"
