#!/bin/sh
# conegate boot hook, installed as /data/on_boot.d/10-conegate.sh: run at every boot by UniFi OS's
# on_boot.d runner (unifios-utilities' udm-boot), it puts back what a firmware update wiped (the
# systemd units in /etc/systemd/system) from /data/conegate, enables and starts them.
# CONEGATE_ROOT (tests) runs it against a tree instead of /.
exec /bin/sh "${CONEGATE_ROOT:-}/data/conegate/install.sh" --repair --root "${CONEGATE_ROOT:-/}"
