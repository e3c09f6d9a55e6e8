#!/bin/sh
# conegate boot hook, installed as /data/on_boot.d/10-conegate.sh: run at every boot by UniFi OS's
# on_boot.d runner (unifios-utilities' udm-boot), it puts back what a firmware update wiped (the
# systemd units in /etc/systemd/system) from /data/conegate, enables and starts them.
# First, a fleet rollout armed but never confirmed when the gateway went down is reverted (--live: the
# agent may already run, it is stopped and started around the revert); it prints one line when it acts.
# CONEGATE_ROOT (tests) runs it against a tree instead of /.
B="${CONEGATE_ROOT:-}/data/conegate/conegate-fleet-boot-check"
[ ! -f "$B" ] || /bin/sh "$B" --live "${CONEGATE_ROOT:-}/data/conegate-fleet" || true
exec /bin/sh "${CONEGATE_ROOT:-}/data/conegate/install.sh" --repair --root "${CONEGATE_ROOT:-/}"
