#!/usr/bin/env bash
# make install / make uninstall: the appliance's files under PREFIX (default /usr/local), staged
# under DESTDIR when set (packaging, tests). Binaries are a release build with the Swift standard
# library linked in (no toolchain needed at run time), in their own build folder (.build-install).
# The configuration file and the data folder are never overwritten or removed.
# Usage: scripts/install.sh install|uninstall   (environment: PREFIX, DESTDIR, SYSCONFDIR, SWIFT)
set -euo pipefail
cd "$(dirname "$0")/.."
action=${1:-install}
prefix=${PREFIX:-/usr/local}
destdir=${DESTDIR:-}
sysconfdir=${SYSCONFDIR:-/etc}
swift=${SWIFT:-swift}
bindir=$prefix/bin
libdir=$prefix/lib
unitdir=$libdir/systemd/system
docdir=$prefix/share/doc/lockstep
sharedir=$prefix/share/lockstep
binaries=(lockstepd lockstep lockstep-device lockstep-bench)
files=(
    "$bindir/lockstepd" "$bindir/lockstep" "$bindir/lockstep-device" "$bindir/lockstep-bench"
    "$unitdir/lockstepd.service" "$libdir/sysusers.d/lockstep.conf" "$libdir/tmpfiles.d/lockstep.conf"
    "$libdir/udev/rules.d/60-lockstep-ptp.rules" "$docdir/no-net-admin.conf" "$docdir/lockstepd.yaml.example"
    "$docdir/operations.md" "$docdir/configuration.md" "$docdir/protocol.md" "$docdir/recording-format.md"
    "$sharedir/sync-peers.py"
)
# On a live systemd host (not a staged install), tell systemd and udev about the new files.
live() { [ -z "$destdir" ] && [ -d /run/systemd/system ]; }

case "$action" in
install)
    echo "building release binaries with the static Swift standard library..."
    "$swift" build -c release --static-swift-stdlib --scratch-path .build-install
    out=$("$swift" build -c release --static-swift-stdlib --scratch-path .build-install --show-bin-path)
    for binary in "${binaries[@]}"; do
        install -D -m 0755 "$out/$binary" "$destdir$bindir/$binary"
        strip --strip-debug "$destdir$bindir/$binary"
    done
    install -d -m 0755 "$destdir$unitdir" "$destdir$libdir/sysusers.d" "$destdir$libdir/tmpfiles.d" "$destdir$libdir/udev/rules.d"
    sed "s|/usr/local/bin/|$bindir/|; s|/etc/lockstep/|$sysconfdir/lockstep/|" systemd/lockstepd.service >"$destdir$unitdir/lockstepd.service"
    chmod 0644 "$destdir$unitdir/lockstepd.service"
    install -m 0644 systemd/lockstep.sysusers "$destdir$libdir/sysusers.d/lockstep.conf"
    sed "s|/etc/lockstep|$sysconfdir/lockstep|" systemd/lockstep.tmpfiles >"$destdir$libdir/tmpfiles.d/lockstep.conf"
    install -m 0644 systemd/60-lockstep-ptp.rules "$destdir$libdir/udev/rules.d/60-lockstep-ptp.rules"
    install -D -m 0644 systemd/lockstepd-no-net-admin.conf "$destdir$docdir/no-net-admin.conf"
    install -m 0644 config/lockstepd.yaml "$destdir$docdir/lockstepd.yaml.example"
    for doc in operations configuration protocol recording-format; do install -m 0644 "docs/$doc.md" "$destdir$docdir/$doc.md"; done
    # lockstep-bench sync --compare runs the peers through this script (chrony, ptp4l and pylsl not included).
    install -D -m 0755 scripts/sync-peers.py "$destdir$sharedir/sync-peers.py"
    install -d -m 0750 "$destdir$sysconfdir/lockstep"
    if [ -e "$destdir$sysconfdir/lockstep/lockstepd.yaml" ]; then
        echo "kept $sysconfdir/lockstep/lockstepd.yaml (the new default is $docdir/lockstepd.yaml.example)"
    else
        install -m 0640 config/lockstepd.yaml "$destdir$sysconfdir/lockstep/lockstepd.yaml"
    fi
    if live; then
        systemd-sysusers lockstep.conf 2>/dev/null || systemd-sysusers
        systemd-tmpfiles --create "$libdir/tmpfiles.d/lockstep.conf"
        udevadm control --reload 2>/dev/null || true
        udevadm trigger --subsystem-match=ptp --action=change 2>/dev/null || true  # existing /dev/ptp* too
        systemctl daemon-reload
        echo "installed. Next: edit $sysconfdir/lockstep/lockstepd.yaml, then: systemctl enable --now lockstepd"
    else
        echo "installed under ${destdir:-/} (prefix $prefix)"
    fi
    ;;
uninstall)
    if live; then systemctl disable --now lockstepd 2>/dev/null || true; fi
    for file in "${files[@]}"; do rm -f "$destdir$file"; done
    rmdir "$destdir$docdir" "$destdir$sharedir" 2>/dev/null || true
    if live; then systemctl daemon-reload; fi
    echo "removed lockstep from ${destdir:-/}$prefix; kept $sysconfdir/lockstep (configuration), /var/lib/lockstep (sessions)"
    echo "and the lockstep user: remove them by hand when the recordings are safe elsewhere."
    ;;
*)
    echo "usage: $0 install|uninstall" >&2
    exit 2
    ;;
esac
