#!/bin/bash
# The .deb as a user gets it: installed with apt into a fresh Debian root (debootstrap from
# Debian's archive, copy-on-write, never this machine's own /usr), so its dependencies must
# resolve from Debian's archive alone; its desktop entry, icons and AppStream metadata checked;
# the installed `outpost` started under Xvfb in that root with About checked (installed.mjs);
# its updater offered a newer package from a local feed signed with a key made here: a tampered
# package refused, the genuine one installed (dpkg shows the new version); then removed, leaving
# the root as it was. Needs root (chroot, mounts).
#
#   tests/package/deb.sh OUTPOST.deb NEWER.deb
#
# The feed is a static JSON file served on 127.0.0.1 by Python's http.server: a local stand-in
# for the release server, which is a plain web server too. The app under test is a debug
# build, which lets the updater use http (a release build accepts only https feeds).
# Environment: TAURI_DRIVER, GUI_OUT, EXPECTED_APP_VERSION, EXPECTED_RELAY_VERSION,
# EXPECTED_RELAY_SHA256. The minimal root and the downloaded packages are kept in
# $OUTPOST_CACHE/clean-root (default ~/.cache/outpost), so a warm run downloads nothing.
set -euo pipefail

DEB=$(realpath "$1")
NEWER=$(realpath "$2")
TAURI_CLI=$(cd "$(dirname "$0")/../.." && pwd)/ui/node_modules/.bin/tauri
[ "$(id -u)" -eq 0 ] || { echo "deb.sh needs root (chroot and mounts)" >&2; exit 1; }
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${OUTPOST_CACHE:-$HOME/.cache/outpost}/clean-root
. /etc/os-release
SUITE=${VERSION_CODENAME:-bookworm}
MIRROR=http://deb.debian.org/debian
BASE=$CACHE/$SUITE-minbase

say() { printf '  %s\n' "$*"; }

if [ ! -e "$BASE/.complete" ]; then
  say "making a minimal $SUITE root from $MIRROR (once; cached in $BASE)"
  rm -rf "$BASE"
  debootstrap --variant=minbase "$SUITE" "$BASE" "$MIRROR" >"$CACHE.debootstrap.log" 2>&1 ||
    { tail -20 "$CACHE.debootstrap.log" >&2; exit 1; }
  touch "$BASE/.complete"
fi

WORK=$(mktemp -d /tmp/outpost-deb.XXXXXX)
ROOT=$WORK/root
mkdir -p "$WORK/upper" "$WORK/work" "$ROOT" "$CACHE/archives/partial"

# Every process inside the root is one this script started (through chroot): end those, by PID.
end_root_processes() {
  local pid
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$ROOT" ] && kill -TERM "$pid" 2>/dev/null || true
  done
  sleep 1
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$ROOT" ] && kill -KILL "$pid" 2>/dev/null || true
  done
}
FEED_SERVER=
cleanup() {
  [ -n "$FEED_SERVER" ] && kill "$FEED_SERVER" 2>/dev/null || true
  end_root_processes
  umount "$ROOT/var/cache/apt/archives" 2>/dev/null || true
  umount -R "$ROOT/dev" 2>/dev/null || true
  umount "$ROOT/proc" 2>/dev/null || true
  umount "$ROOT" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$WORK/upper,workdir=$WORK/work" "$ROOT"
mount -t proc proc "$ROOT/proc"
mount --rbind /dev "$ROOT/dev"
mount --bind "$CACHE/archives" "$ROOT/var/cache/apt/archives"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# Only Debian's archive: the root's sources are what debootstrap wrote, plus the updates.
echo "deb $MIRROR $SUITE main" >"$ROOT/etc/apt/sources.list"
echo "deb $MIRROR $SUITE-updates main" >>"$ROOT/etc/apt/sources.list"
echo "deb http://deb.debian.org/debian-security $SUITE-security main" >>"$ROOT/etc/apt/sources.list"
cp "$DEB" "$ROOT/tmp/outpost.deb"

inside() {
  chroot "$ROOT" env -i PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 SUDO_FORCE_REMOVE=yes "$@"
}
apt_quiet() { inside apt-get -q -y -o Dpkg::Use-Pty=0 "$@" >"$WORK/apt.log" 2>&1 || { tail -30 "$WORK/apt.log" >&2; return 1; }; }
packages() { inside dpkg-query -W -f '${Package}\n' | sort; }

apt_quiet update
packages >"$WORK/before"
say "apt-get install ./$(basename "$DEB") ($(du -h "$DEB" | cut -f1)) into the clean root"
apt_quiet install --no-install-recommends /tmp/outpost.deb
inside dpkg-query -W -f '${Status}\n' outpost | grep -q 'install ok installed'
inside dpkg -L outpost >"$WORK/files"
added=$(comm -13 "$WORK/before" <(packages) | wc -l)
say "installed with $((added - 1)) dependencies, all from Debian's archive"

say "desktop entry, icons, AppStream metadata"
desktop-file-validate "$ROOT/usr/share/applications/Outpost.desktop"
grep -q '^Exec=outpost' "$ROOT/usr/share/applications/Outpost.desktop"
grep -q '^Icon=outpost$' "$ROOT/usr/share/applications/Outpost.desktop"
# In every language the app speaks (packaging/outpost.desktop).
for lang in kk ru zh_CN; do
  grep -q "^Comment\[$lang\]=." "$ROOT/usr/share/applications/Outpost.desktop" ||
    { echo "the desktop entry has no Comment[$lang]" >&2; exit 1; }
done
# The sizes the icon theme spec's hicolor theme lists for applications (48 is the one required).
for size in 16 22 24 32 48 64 128 256 512; do
  icon="$ROOT/usr/share/icons/hicolor/${size}x${size}/apps/outpost.png"
  [ -f "$icon" ] || { echo "no ${size}x${size} icon" >&2; exit 1; }
  identify -format '%wx%h' "$icon" | grep -qx "${size}x${size}" || { echo "$icon is not ${size}x${size}" >&2; exit 1; }
done
appstreamcli validate --no-net --pedantic "$ROOT/usr/share/metainfo/org.outpost.desktop.metainfo.xml" >"$WORK/appstream.log" 2>&1 ||
  { cat "$WORK/appstream.log" >&2; exit 1; }

say "the installed app in a window (Xvfb and WebKitWebDriver from Debian's archive, in the root)"
# sudo: how the updater installs a package when there is no graphical prompt (pkexec, zenity).
TOOLS=(xvfb xauth webkit2gtk-driver dbus-daemon fonts-dejavu-core sudo)
apt_quiet install --no-install-recommends "${TOOLS[@]}"

say "an update feed with $(basename "$NEWER"), signed with a key made for this run"
FEED=$WORK/feed
mkdir -p "$FEED"
"$TAURI_CLI" signer generate --ci -p "" -w "$WORK/update.key" -f >/dev/null
cp "$NEWER" "$FEED/outpost-new.deb"
"$TAURI_CLI" signer sign -f "$WORK/update.key" -p "" "$FEED/outpost-new.deb" >/dev/null
# The same package with one byte changed in the middle, offered with the genuine signature.
python3 -c 'import sys; data = bytearray(open(sys.argv[1], "rb").read()); data[len(data) // 2] ^= 0xFF; open(sys.argv[2], "wb").write(data)' \
  "$FEED/outpost-new.deb" "$FEED/outpost-tampered.deb"
! cmp -s "$FEED/outpost-new.deb" "$FEED/outpost-tampered.deb"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
new_version=$(dpkg-deb -f "$NEWER" Version)
for which in new tampered; do
  python3 - "$FEED" "$which" "$new_version" "$PORT" <<'PY'
import json, sys
feed, which, version, port = sys.argv[1:]
signature = open(f"{feed}/outpost-new.deb.sig").read()
entry = {"signature": signature, "url": f"http://127.0.0.1:{port}/outpost-{which}.deb"}
json.dump({"version": version, "notes": "Signed updates.\nKazakh, Russian and Chinese.", "pub_date": "2026-12-03T12:00:00Z",
           "platforms": {"linux-x86_64-deb": entry, "linux-x86_64": entry}}, open(f"{feed}/{which}.json", "w"))
PY
done
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$FEED" >"$WORK/feed.log" 2>&1 &
FEED_SERVER=$!
mkdir -p "$ROOT/root/.config/org.outpost.desktop"
cat >"$ROOT/root/.config/org.outpost.desktop/settings.toml" <<TOML
update-feed = "http://127.0.0.1:$PORT/latest.json"
update-public-key = "$(cat "$WORK/update.key.pub")"
TOML
cp "$TAURI_DRIVER" "$ROOT/usr/local/bin/tauri-driver"
DRIVER_COMMAND=$(printf '["chroot","%s","env","-i","PATH=/usr/local/bin:/usr/bin:/bin","HOME=/root","LANG=C.UTF-8","NO_AT_BRIDGE=1","xvfb-run","-a","-s","-screen 0 1280x800x24","dbus-run-session","--","tauri-driver"]' "$ROOT")
status=0
DRIVER_COMMAND=$DRIVER_COMMAND CLEAN_ROOT=$ROOT FEED_DIR=$FEED NEW_VERSION=$new_version \
  timeout 240 node "$HERE/../gui/installed.mjs" || status=$?
end_root_processes
[ "$status" -eq 0 ] || { echo "the feed's requests:" >&2; cat "$WORK/feed.log" >&2; exit "$status"; }

say "apt-get purge outpost leaves nothing behind"
apt_quiet purge "${TOOLS[@]}" outpost
# What the install pulled in goes too, even where one of those recommends another.
apt_quiet autoremove --purge -o APT::AutoRemove::RecommendsImportant=false -o APT::AutoRemove::SuggestsImportant=false
left=$(while read -r path; do [ -f "$ROOT$path" ] && echo "$path"; done <"$WORK/files" || true)
[ -z "$left" ] || { echo "left behind: $left" >&2; exit 1; }
diff -u "$WORK/before" <(packages) >&2 || { echo "the root's packages differ from before the install" >&2; exit 1; }
say "removed cleanly: no file of the package is left, the root has the packages it had before"
