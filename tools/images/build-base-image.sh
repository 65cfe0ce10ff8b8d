#!/bin/bash
# Build the systemd base image for one Debian release with debootstrap.
# No registry is reachable from CI machines, so base images are made here
# from the Debian mirror and imported. The image tag carries a hash of this
# file, so changing the recipe (package list, tweaks) triggers a rebuild and
# an unchanged recipe is never rebuilt.
#
# Usage: build-base-image.sh RELEASE      (bookworm | trixie)
# Prints the image name it ensured. Exit 0 on success.
set -euo pipefail

release=${1:?usage: $0 bookworm|trixie}
case "$release" in bookworm|trixie) ;; *) echo "unknown release '$release' (bookworm|trixie)" >&2; exit 2;; esac

repo=system-config/debian-systemd
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# What a fresh cloud server has: python for Ansible, systemd as PID 1, sshd
# so bridge can reach it, dbus for hostnamectl/timedatectl.
packages=python3,python3-apt,systemd,systemd-sysv,dbus,sudo,iproute2,iputils-ping,ca-certificates,openssh-server,openssh-client,procps,less,gnupg

recipe_hash=$(sha256sum "$0" | cut -c1-12)
image="$repo:$release-$recipe_hash"

if docker image inspect "$image" >/dev/null 2>&1; then
    docker tag "$image" "$repo:$release"
    echo "$image"
    exit 0
fi

root=$(mktemp -d "/var/tmp/rootfs-$release.XXXXXX")
trap 'rm -rf --one-file-system "$root"' EXIT

echo "building $image with debootstrap (about a minute)" >&2
debootstrap --variant=minbase --include="$packages" "$release" "$root" "$mirror" >&2

security_suite="$release-security"
cat > "$root/etc/apt/sources.list" <<SOURCES
deb $mirror $release main
deb $mirror $release-updates main
deb ${mirror%/debian}/debian-security $security_suite main
SOURCES

# Security updates published since the release's point release go into the
# image, as a cloud image has them when it is built: otherwise every new
# host (and every molecule instance) downloads and installs them in its
# first converge. base_server still installs any that came out later.
mount -t proc proc "$root/proc"
trap 'umount "$root/proc" 2>/dev/null || true; rm -rf --one-file-system "$root"' EXIT
# No service starts inside the build chroot.
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
chroot "$root" apt-get -q update >&2
DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get -q -y \
    -o Dpkg::Options::=--force-confold dist-upgrade >&2
umount "$root/proc"
rm -f "$root/usr/sbin/policy-rc.d"

# Every container must get its own SSH host keys, made at first boot (as
# cloud-init does on a real cloud image), never baked into the image.
rm -f "$root"/etc/ssh/ssh_host_*
cat > "$root/etc/systemd/system/ssh-host-keys.service" <<'UNIT'
[Unit]
Description=Generate SSH host keys on first boot
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/ssh-host-keys.service \
    "$root/etc/systemd/system/multi-user.target.wants/ssh-host-keys.service"

# Units that make no sense in a container and only slow boot down.
for unit in getty@tty1.service console-getty.service systemd-udevd.service \
        systemd-udev-trigger.service systemd-firstboot.service; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
done

# Package installs are most of what a cold converge of a test host costs:
# dpkg without an fsync per file (these containers are thrown away; never
# a production setting), no manual pages or docs but copyright, and no
# man-db index rebuild after every install.
cat > "$root/etc/dpkg/dpkg.cfg.d/system-config-test-image" <<'DPKG'
force-unsafe-io
path-exclude=/usr/share/man/*
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
DPKG
echo "man-db man-db/auto-update boolean false" | chroot "$root" debconf-set-selections

# Each container gets its own machine-id at boot.
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
# No package lists in the image: make them look ancient, so that apt tasks
# with cache_valid_time refresh them on first use.
touch -d @0 "$root/var/lib/apt/lists"

# docker import cannot set STOPSIGNAL, so a one-line build on top of the
# imported root file system adds the image settings systemd needs.
tar -C "$root" -c . | docker import - "$image-rootfs" >&2
docker build -q -t "$image" - >&2 <<DOCKERFILE
FROM $image-rootfs
ENV container=docker
STOPSIGNAL SIGRTMIN+3
CMD ["/lib/systemd/systemd"]
DOCKERFILE
docker rmi "$image-rootfs" >/dev/null
docker tag "$image" "$repo:$release"
echo "$image"
