#!/bin/sh
#
# pfSense starts and stops package services through /usr/local/etc/rc.d/<rcfile> (the package XML's
# <service><rcfile>, rc.start_packages at boot). The FreeBSD script /usr/local/etc/rc.d/conegate
# (from the conegate package) does the work; conegate_enable comes from /etc/rc.conf.d/conegate,
# which conegate_resync_config() writes from the Enable checkbox.
case "$1" in
start | stop | restart | status)
	exec /usr/local/etc/rc.d/conegate "$1"
	;;
*)
	echo "usage: $0 start|stop|restart|status" >&2
	exit 2
	;;
esac
