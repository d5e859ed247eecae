#!/bin/sh
# Install the Debian 12 packages caseledger needs to build, test and run the demo,
# when they are missing. Run as root (or with sudo). Installs nothing that is present.
set -eu

PACKAGES="build-essential autoconf automake libtool pkg-config git openssh-client openssl
sqlite3 libgit2-dev libsqlite3-dev libssl-dev libinih-dev libjansson-dev libcmocka-dev
libevent-dev zlib1g-dev tzdata"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	echo "install-deps: all packages present"
	exit 0
fi
echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
