#!/bin/sh
# Runs INSIDE the freshly debootstrap'd root (chroot, no /proc, no network),
# after rootfs/ has been copied in. Configures and trims the node root.
set -eu
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

# --- identity: docker bind-mounts its own /etc/hostname and /etc/hosts; these
# are the defaults for any other runtime (nspawn, plain chroot).
echo cnilab-node > /etc/hostname
cat > /etc/hosts <<'HOSTS'
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
HOSTS
: > /etc/resolv.conf
# no machine identity baked into the image
rm -f /etc/machine-id /var/lib/dbus/machine-id

# --- apt sources: debootstrap wrote the mirror the build used (the host's own); nodes
# have no route out of their lab, so they only matter for manual use.

# --- runtime dirs (cnilab-node-init recreates them if /run is a tmpfs)
mkdir -p /run/bird /run/netns
chown bird:bird /run/bird

# --- every tool a lab uses must be here
for tool in tini ip tc ss bridge bpftool iptables iptables-legacy ip6tables \
            tcpdump ping sysctl ps python3 bird birdc curl iperf3 mount mountpoint nsenter unshare; do
    command -v "$tool" >/dev/null || { echo "setup.sh: $tool missing from the node root" >&2; exit 1; }
done

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
