#!/bin/sh
# conegate installer for UniFi OS gateways (UDM, UDR, UXG, UCG; arm64 or x64 Debian with systemd).
#
#   sh install.sh                 from the unpacked tarball: install or upgrade into /data/conegate
#   sh /data/conegate/install.sh --repair       put back units and boot hook, enable, start, NAT rules
#   sh /data/conegate/install.sh --reapply-nat  re-load conegate's NAT rules (after a re-provision)
#   sh /data/conegate/install.sh --uninstall    stop, remove every file conegate added, nothing else
#   --root DIR   act on the tree at DIR instead of / (tests: a fake UniFi OS root); systemd is then
#                only told through `systemctl --root` (enable links), nothing is started or stopped
#   --force      install on a system without UniFi OS markers
#
# Why it is laid out so: firmware updates replace the root file system (apt packages,
# /lib/systemd/system, possibly /etc/systemd/system) but keep /data. Everything lives in
# /data/conegate; the units are copied (not linked) into /etc/systemd/system; the boot hook
# /data/on_boot.d/10-conegate.sh and the daily conegate-repair.timer copy them back when missing.
# The controller re-provisions the firewall and drops foreign rules: conegate keeps its own nftables
# tables and conegate-nat.path re-applies them when the network config changes.
set -eu

UNITS="conegate.service conegate-repair.service conegate-repair.timer conegate-nat.service conegate-nat.path"
ENABLE="conegate.service conegate-repair.timer conegate-nat.path"
HOOK_NAME=10-conegate.sh

MODE=install
ROOT=/
FORCE=0
while [ $# -gt 0 ]; do
	case "$1" in
	--repair | --reapply-nat | --uninstall) MODE=${1#--} ;;
	--root)
		[ $# -ge 2 ] || { echo "install.sh: --root needs a directory" >&2; exit 2; }
		ROOT=$2
		shift
		;;
	--force) FORCE=1 ;;
	-h | --help)
		sed -n '2,13p' "$0"
		exit 0
		;;
	*)
		echo "install.sh: unknown argument $1 (try --help)" >&2
		exit 2
		;;
	esac
	shift
done
[ -d "$ROOT" ] || { echo "install.sh: root $ROOT is not a directory" >&2; exit 2; }
R=${ROOT%/}
LIVE=0
[ "$R" = "" ] && LIVE=1
DATA=$R/data/conegate
SYSTEMD=$R/etc/systemd/system
HOOKDIR=$R/data/on_boot.d

say() { echo "conegate: $*" >&2; }

systemctl_do() {
	if [ "$LIVE" = 1 ]; then
		systemctl "$@"
	else
		# Offline: only the enable/disable links in the tree; never the host's running systemd.
		case "$1" in
		enable | disable) systemctl --root="$ROOT" "$@" >/dev/null 2>&1 || { say "systemctl --root $ROOT $* failed"; return 1; } ;;
		*) : ;;
		esac
	fi
}

# Copies the units from /data/conegate/systemd into /etc/systemd/system when missing or different.
restore_units() {
	mkdir -p "$SYSTEMD"
	changed=0
	for u in $UNITS; do
		if ! cmp -s "$DATA/systemd/$u" "$SYSTEMD/$u"; then
			cp "$DATA/systemd/$u" "$SYSTEMD/$u.conegate-new"
			chmod 0644 "$SYSTEMD/$u.conegate-new"
			mv "$SYSTEMD/$u.conegate-new" "$SYSTEMD/$u"
			changed=1
		fi
	done
	[ "$changed" = 0 ] || systemctl_do daemon-reload
	for u in $ENABLE; do systemctl_do enable "$u"; done
}

restore_hook() {
	if [ ! -d "$HOOKDIR" ]; then
		mkdir -p "$HOOKDIR"
		# Remembered so that --uninstall removes the folder again, and only then.
		: >"$DATA/.created-on_boot.d"
	fi
	if ! cmp -s "$DATA/on-boot.sh" "$HOOKDIR/$HOOK_NAME"; then
		cp "$DATA/on-boot.sh" "$HOOKDIR/$HOOK_NAME"
		chmod 0755 "$HOOKDIR/$HOOK_NAME"
	fi
}

reapply_nat() {
	[ "$LIVE" = 1 ] || return 0
	[ -f "$DATA/conegate.json" ] || return 0
	# Only when the config turns NAT on; the agent's own nat component keeps them while it runs.
	if "$DATA/node/bin/node" -e 'const c=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));process.exit(c.nat&&c.nat.enabled?0:1)' "$DATA/conegate.json"; then
		"$DATA/bin/conegate" nat apply --confirm-sec 0 --config "$DATA/conegate.json" >/dev/null
	fi
}

check_platform() {
	if [ ! -e "$R/usr/bin/ubnt-device-info" ] && [ ! -e "$R/usr/lib/version" ]; then
		if [ "$FORCE" = 0 ]; then
			say "no UniFi OS markers (/usr/bin/ubnt-device-info, /usr/lib/version) under $ROOT; --force to install anyway"
			exit 2
		fi
	fi
	[ -d "$R/data" ] || { say "$ROOT has no /data (UniFi OS 1.x keeps it in /mnt/data, which is not supported)"; exit 2; }
	if [ "$LIVE" = 1 ]; then
		case "$(uname -m)" in aarch64 | arm64) want=arm64 ;; x86_64) want=x64 ;; *) want=$(uname -m) ;; esac
		have=$(cat "$SRC/ARCH")
		[ "$have" = "$want" ] || { say "this package is for $have, this gateway is $want: use conegate-*-unifi-$want.tar.gz"; exit 2; }
		# Before anything is replaced: the new runtime must run here (libc, page size, CPU features).
		"$SRC/node/bin/node" --version >/dev/null 2>&1 || { say "the bundled Node does not run on this gateway; nothing was changed"; exit 1; }
	fi
}

# Replaces $DATA/$1 with $SRC/$1 in one rename, so a failed copy leaves the old version in place.
replace_dir() {
	rm -rf "$DATA/.$1.new"
	cp -R "$SRC/$1" "$DATA/.$1.new"
	rm -rf "$DATA/$1"
	mv "$DATA/.$1.new" "$DATA/$1"
}

install_payload() {
	for f in ARCH VERSION install.sh on-boot.sh lib node systemd; do
		[ -e "$SRC/$f" ] || { say "the package is incomplete: $f is missing next to install.sh"; exit 2; }
	done
	check_platform
	mkdir -p "$DATA"
	chmod 0755 "$DATA"
	replace_dir lib
	replace_dir node
	replace_dir systemd
	for f in ARCH VERSION install.sh on-boot.sh; do cp "$SRC/$f" "$DATA/$f.new" && mv "$DATA/$f.new" "$DATA/$f"; done
	chmod 0755 "$DATA/install.sh" "$DATA/on-boot.sh" "$DATA/node/bin/node"
	# The fleet boot check (on-boot.sh runs it first): every package built by `npm run package` has it;
	# a hand-made payload without it installs all the same, and leaves no stale copy behind.
	if [ -f "$SRC/conegate-fleet-boot-check" ]; then
		cp "$SRC/conegate-fleet-boot-check" "$DATA/.conegate-fleet-boot-check.new" && chmod 0755 "$DATA/.conegate-fleet-boot-check.new" && mv "$DATA/.conegate-fleet-boot-check.new" "$DATA/conegate-fleet-boot-check"
	else
		rm -f "$DATA/conegate-fleet-boot-check"
	fi
	mkdir -p "$DATA/bin"
	printf '#!/bin/sh\nexec /data/conegate/node/bin/node /data/conegate/lib/conegate.js "$@"\n' >"$DATA/bin/conegate"
	chmod 0755 "$DATA/bin/conegate"
	(umask 077 && mkdir -p "$DATA/state")
	if [ ! -f "$DATA/conegate.json" ]; then
		# Kept across upgrades; the state dir holds the mesh identity, so it must be on /data too.
		(umask 077 && printf '{\n  "stateDir": "/data/conegate/state"\n}\n' >"$DATA/conegate.json")
	fi
	restore_hook
	restore_units
	if [ "$LIVE" = 1 ]; then
		systemctl start conegate-repair.timer conegate-nat.path
		systemctl restart conegate.service || { say "installed, but the agent did not start: journalctl -u conegate"; exit 1; }
	fi
	say "installed $(cat "$DATA/VERSION") ($(cat "$DATA/ARCH")) in $DATA"
}

repair() {
	[ -d "$DATA/systemd" ] || { say "not installed: $DATA/systemd is missing"; exit 1; }
	restore_hook
	restore_units
	if [ "$LIVE" = 1 ]; then
		systemctl start conegate.service conegate-repair.timer conegate-nat.path
	fi
	reapply_nat
}

uninstall() {
	if [ "$LIVE" = 1 ]; then
		# Stopping the agent removes its nftables tables, TUN and socket (`conegate up` on SIGTERM).
		systemctl stop conegate-nat.path conegate-repair.timer conegate.service 2>/dev/null || true
	fi
	for u in $ENABLE; do [ -f "$SYSTEMD/$u" ] && systemctl_do disable "$u" || true; done
	for u in $UNITS; do rm -f "$SYSTEMD/$u"; done
	[ "$LIVE" = 1 ] && systemctl daemon-reload || true
	rm -f "$HOOKDIR/$HOOK_NAME"
	if [ -f "$DATA/.created-on_boot.d" ]; then
		rmdir "$HOOKDIR" 2>/dev/null || true
	fi
	rm -rf "$DATA"
	say "removed"
}

SRC=$(cd "$(dirname "$0")" && pwd)
case "$MODE" in
install) install_payload ;;
repair) repair ;;
reapply-nat) reapply_nat ;;
uninstall) uninstall ;;
esac
