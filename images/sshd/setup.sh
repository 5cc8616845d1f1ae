#!/bin/sh
# Runs INSIDE the freshly debootstrap'd root (chroot, no /proc, no network),
# after rootfs/ has been copied in. Configures and trims the machine root.
set -eu
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

# --- identity: docker bind-mounts its own /etc/hostname and /etc/hosts (the test
# bed names each machine); these are the defaults for any other runtime.
echo cnilab-machine > /etc/hostname
cat > /etc/hosts <<'HOSTS'
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
HOSTS
: > /etc/resolv.conf
rm -f /etc/machine-id /var/lib/dbus/machine-id

# --- sshd: no host key in the image (cnilab-machine-init makes one per machine);
# root has no password (login by key only; '*' is "no password", not "locked").
rm -f /etc/ssh/ssh_host_*
sed -i 's/^root:[^:]*:/root:*:/' /etc/shadow
rm -rf /etc/ssh/sshd_config.d/* /root/.ssh
grep -qx 'PermitRootLogin prohibit-password' /etc/ssh/sshd_config
grep -qx 'PasswordAuthentication no' /etc/ssh/sshd_config

# --- runtime dirs (cnilab-machine-init recreates them: /run may be a tmpfs)
mkdir -p /run/bird /run/netns /run/sshd
chown bird:bird /run/bird

# --- every tool a lab uses on its machine must be here
for tool in tini sshd ssh-keygen python3 ip tc ss bridge bpftool iptables iptables-legacy ip6tables ipset \
            tcpdump ping sysctl ps bird birdc curl iperf3 mount mountpoint nsenter unshare; do
    command -v "$tool" >/dev/null || { echo "setup.sh: $tool missing from the machine root" >&2; exit 1; }
done
[ -x /usr/lib/openssh/sftp-server ] || { echo "setup.sh: sftp-server missing" >&2; exit 1; }

# --- trim
rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old \
       /var/lib/dpkg/*-old /var/cache/ldconfig/aux-cache
find /usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete
find /usr/share/doc -mindepth 1 -type d -empty -delete
rm -rf /usr/share/man/* /usr/share/info/* /usr/share/groff/* \
       /usr/share/lintian/* /usr/share/linda/* /usr/share/bug/*
find /usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
find /var/log -type f -delete
rm -rf /tmp/* /tmp/.[!.]* /var/tmp/* /root/.cache
