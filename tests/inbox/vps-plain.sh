#!/usr/bin/env bash
# Runs inside the vps's network namespace and a private mount/UTS namespace: makes the system
# directories copy-on-write, so whatever an install writes never touches this machine, then
# becomes sshd. Arguments: STATE SHADOW_HASH.
set -euo pipefail
STATE=$1 SHADOW_HASH=$2
OVL=$STATE/vps/ovl

hostname vps
for dir in etc usr var opt srv home root; do
  mkdir -p "$OVL/$dir/upper" "$OVL/$dir/work"
  mount -t overlay overlay -o "lowerdir=/$dir,upperdir=$OVL/$dir/upper,workdir=$OVL/$dir/work" "/$dir"
done
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/sshd

# /etc is now the overlay: the files `ip netns exec` mounted over it are hidden, so copy them in.
cp "/etc/netns/obx-vps/resolv.conf" /etc/resolv.conf 2>/dev/null || cp "$STATE/vps/resolv.conf" /etc/resolv.conf
echo vps >/etc/hostname
printf '127.0.0.1 localhost\n::1 localhost\n198.51.100.10 vps.inbox.test vps\n' >/etc/hosts
# The root password exists only in this copy of /etc/shadow.
sed -i "s|^root:[^:]*:|root:$SHADOW_HASH:|" /etc/shadow
install -d -m 700 /root/.ssh
install -m 600 "$STATE/ssh/id_ed25519.pub" /root/.ssh/authorized_keys

cat >"$STATE/vps/sshd_config" <<CONF
ListenAddress 0.0.0.0
ListenAddress ::
HostKey $STATE/ssh/host_ed25519
PermitRootLogin yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
UsePAM no
StrictModes no
PidFile /run/sshd.pid
Subsystem sftp internal-sftp
AcceptEnv LANG LC_*
CONF
exec /usr/sbin/sshd -D -e -f "$STATE/vps/sshd_config"
