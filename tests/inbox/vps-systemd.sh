#!/usr/bin/env bash
# Boots the vps with a real systemd as PID 1. Runs as PID 1 of fresh PID, mount, UTS, IPC and
# cgroup namespaces inside the vps's network namespace (see `start_vps` in ./inbox).
#
# The root file system is this machine's, copy-on-write (an overlay whose upper layer is a
# tmpfs), so an install inside never touches the machine. Every unit the machine has enabled is
# masked except SSH and what systemd itself needs. Arguments: STATE SHADOW_HASH DNS4 DNS6, and
# for another vps than the first: NAME IP HOST_KEY (its file under $STATE/ssh).
set -euo pipefail
STATE=$1 SHADOW_HASH=$2 DNS4=$3 DNS6=$4 NAME=${5:-vps} IP=${6:-198.51.100.10} HOST_KEY=${7:-host_ed25519}
BASE=$STATE/$NAME/root
ROOT=$BASE/merged

mount --make-rprivate /
mkdir -p "$BASE"
# The layers live on a tmpfs, so the upper layer is not inside the lower one (the root).
mount -t tmpfs -o mode=755 tmpfs "$BASE"
mkdir -p "$BASE/upper" "$BASE/work" "$ROOT"
mount -t overlay overlay -o "lowerdir=/,upperdir=$BASE/upper,workdir=$BASE/work" "$ROOT"

# Kernel file systems, private to the vps.
mount -t proc proc "$ROOT/proc"
mount -t sysfs sysfs "$ROOT/sys"
mount -t tmpfs -o mode=755 tmpfs "$ROOT/sys/fs/cgroup"
mkdir -p "$ROOT/sys/fs/cgroup/systemd" "$ROOT/sys/fs/cgroup/unified"
mount -t cgroup -o none,name=systemd cgroup "$ROOT/sys/fs/cgroup/systemd"
mount -t cgroup2 cgroup2 "$ROOT/sys/fs/cgroup/unified" 2>/dev/null || rmdir "$ROOT/sys/fs/cgroup/unified"
# A minimal /dev: the host's would hand its terminals to the vps's gettys.
mount -t tmpfs -o mode=755,nosuid tmpfs "$ROOT/dev"
for node in "null c 1 3" "zero c 1 5" "full c 1 7" "random c 1 8" "urandom c 1 9" "tty c 5 0"; do
  set -- $node
  mknod -m 666 "$ROOT/dev/$1" "$2" "$3" "$4"
done
mkdir -p "$ROOT/dev/pts" "$ROOT/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$ROOT/dev/pts"
ln -s pts/ptmx "$ROOT/dev/ptmx"
mount -t tmpfs -o mode=1777 tmpfs "$ROOT/dev/shm"
ln -s /proc/self/fd "$ROOT/dev/fd"
touch "$ROOT/dev/console"
mount --bind "$ROOT/dev/null" "$ROOT/dev/console"
mount -t tmpfs -o mode=755 tmpfs "$ROOT/run"
# Never bind the machine's /tmp here: systemd-tmpfiles empties /tmp at boot. The vps gets its
# own, and a shared folder for handing files in and out.
mount -t tmpfs -o mode=1777 tmpfs "$ROOT/tmp"
mkdir -p "$STATE/$NAME/share" "$ROOT/mnt/inbox"
mount --bind "$STATE/$NAME/share" "$ROOT/mnt/inbox"

# Identity, names and the root password, all in the upper layer.
hostname "$NAME"
echo "$NAME" >"$ROOT/etc/hostname"
rm -f "$ROOT/etc/resolv.conf"
printf 'nameserver %s\nnameserver %s\n' "$DNS4" "$DNS6" >"$ROOT/etc/resolv.conf"
printf '127.0.0.1 localhost\n::1 localhost\n%s %s.inbox.test %s\n' "$IP" "$NAME" "$NAME" >"$ROOT/etc/hosts"
sed -i "s|^root:[^:]*:|root:$SHADOW_HASH:|" "$ROOT/etc/shadow"
install -d -m 700 "$ROOT/root/.ssh"
install -m 600 "$STATE/ssh/id_ed25519.pub" "$ROOT/root/.ssh/authorized_keys"
install -m 600 "$STATE/ssh/$HOST_KEY" "$ROOT/etc/ssh/inbox_host_ed25519_key"
cat >"$ROOT/etc/ssh/sshd_config.d/inbox.conf" <<CONF
HostKey /etc/ssh/inbox_host_ed25519_key
PermitRootLogin yes
PasswordAuthentication yes
CONF

# Only SSH and systemd's own units: mask everything else this machine has enabled.
keep='^(ssh\.service|ssh\.socket|systemd-journald.*|dbus.*|systemd-logind\.service)$'
systemctl --root="$ROOT" list-unit-files --state=enabled,static --no-legend --no-pager 2>/dev/null |
  awk '{print $1}' | grep -E '\.(service|socket|timer|path|mount)$' | grep -vE "$keep" |
  grep -vE '^(systemd-|user@|getty-static|emergency|rescue|dbus|sys-|tmp\.mount|proc-|dev-)' |
  while read -r unit; do ln -sf /dev/null "$ROOT/etc/systemd/system/$unit"; done
for unit in getty.target console-getty.service serial-getty@.service systemd-udevd.service \
  systemd-udev-trigger.service systemd-networkd.service systemd-resolved.service \
  systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer e2scrub_reap.service \
  systemd-remount-fs.service systemd-firstboot.service user@.service systemd-tmpfiles-clean.timer; do
  ln -sf /dev/null "$ROOT/etc/systemd/system/$unit"
done
mkdir -p "$ROOT/etc/systemd/system/multi-user.target.wants"
ln -sf /lib/systemd/system/ssh.service "$ROOT/etc/systemd/system/multi-user.target.wants/ssh.service"
ln -sf /lib/systemd/system/multi-user.target "$ROOT/etc/systemd/system/default.target"

# Become the vps.
cd "$ROOT"
mkdir -p .oldroot
pivot_root . .oldroot
umount -l /.oldroot
rmdir /.oldroot 2>/dev/null || true
exec env -i container=outpost-inbox TERM=dumb /lib/systemd/systemd --system --log-target=console
