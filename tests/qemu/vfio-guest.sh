#!/usr/bin/env bash
# The VFIO backend against a real kernel: boot a QEMU q35 guest (TCG) with an
# emulated Intel IOMMU, QEMU's `edu` device and a virtio-rng device, bind both
# to vfio-pci and run holdback's guest test binary (driver/src/bin/
# vfio-guest-test.rs) on the generic VFIO layer. Then boot again WITHOUT the
# IOMMU: the backend must report "no IOMMU group" with its remedy.
#
# Recipe and pitfalls: shared/guides/qemu-vfio.md.
#
# Usage: tests/qemu/vfio-guest.sh [all|iommu|no-iommu]    (default: all)
# Passes (exit 0) only if, for every boot, QEMU exits with the isa-debug-exit
# "pass" status (1) AND the guest's last result line is "N passed, 0 failed"
# with the expected N.
#
# Installs (once) qemu-system-x86 from bookworm-backports and busybox-static
# through a PRIVATE apt configuration: /etc/apt and the machine's package lists
# are not touched, and apt aborts rather than remove any installed package.
# The Debian kernel is downloaded as a .deb and only vmlinuz + the VFIO
# modules are extracted; nothing is installed from it.
#
# Environment: HOLDBACK_QEMU_CACHE (default /var/cache/holdback-qemu),
# HOLDBACK_QEMU_TIMEOUT (seconds per boot, default 240),
# HOLDBACK_GUEST_TARGET_DIR (cargo target dir for the static guest binary,
# default $HOLDBACK_QEMU_CACHE/guest-target).
set -euo pipefail

MODE=${1:-all}
case $MODE in all | iommu | no-iommu) ;; *) echo "usage: $0 [all|iommu|no-iommu]" >&2; exit 2 ;; esac

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${HOLDBACK_QEMU_CACHE:-/var/cache/holdback-qemu}
BOOT_TIMEOUT=${HOLDBACK_QEMU_TIMEOUT:-240}
# Outside the checkout so CI's fresh clones reuse the compiled dependencies.
GUEST_TARGET=${HOLDBACK_GUEST_TARGET_DIR:-$CACHE/guest-target}
WORK=$(mktemp -d /tmp/holdback-vfio-guest.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
T0=$(date +%s.%N)

log() { echo "[vfio-guest] $*" >&2; }
die() { echo "[vfio-guest] FAIL: $*" >&2; exit 1; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

[ "$(id -u)" = 0 ] || die "needs root (apt-get install, /dev/port in the guest is not needed on the host). Run as root."
for tool in apt-get apt-cache dpkg-deb tar gzip awk timeout cargo; do
    command -v "$tool" >/dev/null || die "'$tool' is missing; this script needs a Debian host with cargo (rustup)."
done

# ---------------------------------------------------------------- apt, privately
APTDIR=$CACHE/apt
mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/sources.list.d"
CODENAME=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ -n "$CODENAME" ] || die "cannot read VERSION_CODENAME from /etc/os-release"

write_private_sources() {
    rm -f "$APTDIR"/sources.list.d/*
    # The machine's own sources (same mirrors), plus <codename>-backports on
    # the mirror of its main entry. Nothing under /etc/apt is modified.
    local f n=0 uri=""
    for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] && cp "$f" "$APTDIR/sources.list.d/" && n=$((n + 1))
    done
    [ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$APTDIR/sources.list.d/00-sources.list" && n=$((n + 1))
    [ "$n" -gt 0 ] || die "no apt sources under /etc/apt"
    uri=$(awk -v c="$CODENAME" '
        /^URIs:/ { u = $2 }
        /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == c) { print u; exit } }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri=$(awk -v c="$CODENAME" '$1 == "deb" && $3 == c { print $2; exit }' /etc/apt/sources.list)
    fi
    [ -n "$uri" ] || die "cannot find the $CODENAME mirror in the apt sources"
    cat >"$APTDIR/sources.list.d/zz-holdback-backports.sources" <<EOF
Types: deb
URIs: $uri
Suites: $CODENAME-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
}

APT_OPTS=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$APTDIR/sources.list.d"
    -o "Dir::State::Lists=$APTDIR/lists" -o "Dir::Cache=$APTDIR/cache")

apt_update_if_stale() {
    # Lists older than a day (or none): refresh. Kernel ABI names change with
    # every security update, so stale lists would point at a removed .deb.
    if [ -z "$(find "$APTDIR/lists" -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
        write_private_sources
        log "apt-get update (private lists in $APTDIR)"
        apt-get "${APT_OPTS[@]}" -q update >"$WORK/apt-update.log" 2>&1 ||
            { tail -20 "$WORK/apt-update.log" >&2; die "apt-get update failed (network to the Debian mirror?)"; }
    fi
}

# (Outputs are captured first: `cmd | grep -q` under pipefail fails when
# grep exits early and cmd gets SIGPIPE.)
qemu_ok() {
    command -v qemu-system-x86_64 >/dev/null || return 1
    local devices
    devices=$(qemu-system-x86_64 -device help 2>/dev/null || true)
    grep -q '"edu"' <<<"$devices" && grep -q '"intel-iommu"' <<<"$devices"
}

busybox_ok() {
    [ -x /bin/busybox ] || return 1
    local applets linkage
    applets=$(/bin/busybox --list 2>/dev/null || true)
    linkage=$(ldd /bin/busybox 2>&1 || true)
    grep -qx insmod <<<"$applets" && grep -qx cpio <<<"$applets" && grep -qE 'not a dynamic|statically linked' <<<"$linkage"
}

apt_install() {
    # --no-remove: abort instead of removing anything (bookworm's own QEMU 7.2
    # would remove qemu-utils 10.x); -t backports: QEMU 10 with the edu DMA fix.
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" -q -y --no-install-recommends --no-remove \
        -t "$CODENAME-backports" install "$@" >"$WORK/apt-install.log" 2>&1 ||
        { tail -30 "$WORK/apt-install.log" >&2; die "apt-get install $* failed (see above)"; }
}

STEP=$(date +%s.%N)
need=()
qemu_ok || need+=(qemu-system-x86)
busybox_ok || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
    apt_update_if_stale
    apt_install "${need[@]}"
    qemu_ok || die "qemu-system-x86_64 installed but lacks the edu or intel-iommu device"
fi
QEMU_VERSION=$(qemu-system-x86_64 --version | head -1)
log "tools ready in $(since "$STEP") s: $QEMU_VERSION"

# ------------------------------------------------------------ kernel, extracted
STEP=$(date +%s.%N)
apt_update_if_stale
KPKG=$(apt-cache "${APT_OPTS[@]}" depends linux-image-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$KPKG" ] || die "apt-cache depends linux-image-amd64 named no kernel package"
KDIR=$CACHE/kernel/$KPKG
if [ ! -f "$KDIR/.complete" ]; then
    rm -rf "$KDIR" && mkdir -p "$KDIR/deb"
    log "downloading $KPKG (extracting only vmlinuz and the VFIO modules)"
    (cd "$KDIR/deb" && apt-get "${APT_OPTS[@]}" -q download "$KPKG" >"$WORK/apt-download.log" 2>&1) ||
        { tail -20 "$WORK/apt-download.log" >&2; die "apt-get download $KPKG failed"; }
    dpkg-deb --fsys-tarfile "$KDIR"/deb/*.deb |
        tar -x -C "$KDIR" --wildcards --no-anchored 'boot/vmlinuz-*' 'kernel/drivers/vfio/*' 'kernel/virt/lib/irqbypass.ko*'
    rm -rf "$KDIR/deb"
    touch "$KDIR/.complete"
    # Keep only the current kernel in the cache.
    find "$CACHE/kernel" -mindepth 1 -maxdepth 1 ! -name "$KPKG" -exec rm -rf {} +
fi
VMLINUZ=$(find "$KDIR" -path '*boot/vmlinuz-*' | head -1)
[ -n "$VMLINUZ" ] || die "no vmlinuz in $KPKG"
log "kernel $KPKG ready in $(since "$STEP") s"

# ------------------------------------------------------------ guest test binary
STEP=$(date +%s.%N)
# Static glibc; the explicit --target keeps +crt-static away from proc macros.
(cd "$ROOT" && CARGO_TARGET_DIR="$GUEST_TARGET" RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build -q --release --target x86_64-unknown-linux-gnu -p holdback-driver --bin vfio-guest-test) ||
    die "building the static guest test binary failed"
GUEST_BIN=$GUEST_TARGET/x86_64-unknown-linux-gnu/release/vfio-guest-test
linkage=$(ldd "$GUEST_BIN" 2>&1 || true)
grep -qE 'not a dynamic|statically linked' <<<"$linkage" || die "$GUEST_BIN is not static: $linkage"
log "guest binary built in $(since "$STEP") s"

# ------------------------------------------------------------------- initramfs
STEP=$(date +%s.%N)
IRD=$WORK/initramfs
mkdir -p "$IRD"/{bin,dev,proc,sys,lib/modules}
cp /bin/busybox "$IRD/bin/busybox"
# Stripped: symbols would triple the initramfs (backtraces stay readable enough).
if command -v strip >/dev/null; then strip -o "$IRD/bin/vfio-guest-test" "$GUEST_BIN"; else cp "$GUEST_BIN" "$IRD/bin/vfio-guest-test"; fi
for m in irqbypass vfio_virqfd vfio vfio_iommu_type1 vfio-pci-core vfio-pci; do
    f=$(find "$KDIR" \( -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" \) | head -1)
    [ -n "$f" ] || continue # vfio_virqfd is built into newer kernels
    case $f in
    *.xz) xz -dc "$f" >"$IRD/lib/modules/$m.ko" ;;
    *.zst) zstd -qdc "$f" >"$IRD/lib/modules/$m.ko" ;;
    *) cp "$f" "$IRD/lib/modules/$m.ko" ;;
    esac
done
for m in vfio vfio_iommu_type1 vfio-pci-core vfio-pci; do
    [ -f "$IRD/lib/modules/$m.ko" ] || die "module $m missing from $KPKG"
done
cp "$ROOT/tests/qemu/init" "$IRD/init"
chmod 755 "$IRD/init" "$IRD/bin/busybox" "$IRD/bin/vfio-guest-test"
INITRD=$WORK/initrd.gz
(cd "$IRD" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -9 >"$INITRD")
INITRD_BYTES=$(stat -c %s "$INITRD")
log "initramfs: $INITRD_BYTES bytes gzip ($(since "$STEP") s)"

# ------------------------------------------------------------------------ boots
boot() {
    local mode=$1 expect=$2 glog=$WORK/guest-$1.log qlog=$WORK/qemu-$1.stderr
    local iommu_dev=() append="console=ttyS0 panic=-1 loglevel=3 HOLDBACK_TEST=$mode"
    local rng=(-device virtio-rng-pci,addr=05.0,disable-legacy=on,iommu_platform=on)
    if [ "$mode" = iommu ]; then
        iommu_dev=(-device intel-iommu,intremap=on,aw-bits=48)
        append+=" intel_iommu=on"
    else
        rng=()
    fi
    local start status=0
    start=$(date +%s.%N)
    # Pitfall 1: -accel tcg always (KVM here aborts or hangs).
    timeout "$BOOT_TIMEOUT" qemu-system-x86_64 -machine q35 -accel tcg -cpu max -smp 1 -m 512M \
        "${iommu_dev[@]}" -device edu,addr=04.0 "${rng[@]}" \
        -device isa-debug-exit,iobase=0xf4,iosize=0x04 -nographic -vga none -nic none \
        -no-reboot -serial "file:$glog" -monitor none \
        -kernel "$VMLINUZ" -initrd "$INITRD" -append "$append" 2>"$qlog" || status=$?
    local secs
    secs=$(since "$start")
    # Pitfall 9: a kernel panic exits with 0, so only 1 (debug-exit value 0) is a pass.
    echo "---- guest ($mode boot) ----"
    tr -d '\r' <"$glog" | grep -E '^(ok|FAIL|not ok|#|HOLDBACK)|passed, [0-9]+ failed' || true
    local result
    result=$(tr -d '\r' <"$glog" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1 || true)
    echo "boot-to-verdict $mode: $secs s, qemu exit status $status"
    if [ "$status" = 124 ]; then
        tail -40 "$glog" >&2
        die "$mode boot: no verdict within ${BOOT_TIMEOUT}s (timeout)"
    fi
    if [ "$status" != 1 ] || [ "$result" != "$expect passed, 0 failed" ]; then
        echo "---- last guest lines ----" >&2
        tr -d '\r' <"$glog" | tail -40 >&2
        echo "---- qemu stderr (IOMMU translation errors are expected) ----" >&2
        tail -10 "$qlog" >&2
        die "$mode boot: qemu exit status $status (want 1 = pass), result line '${result:-none}' (want '$expect passed, 0 failed')"
    fi
    echo "$mode boot: PASS"
}

[ "$MODE" = no-iommu ] || boot iommu 8
[ "$MODE" = iommu ] || boot no-iommu 2
echo "initramfs size: $INITRD_BYTES bytes (gzip)"
echo "total script time: $(since "$T0") s"
echo "VFIO QEMU TEST: PASS"
