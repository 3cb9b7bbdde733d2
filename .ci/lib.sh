# Shared by the .ci scripts that prepare services: source it after `cd`
# to the repository root.

# skip_when_off SCRIPT VAR: exit 0 when the environment variable VAR is
# "off" (that group of live tests is turned off on this machine).
skip_when_off() {
	if [ "${!2:-}" = off ]; then
		echo "$1: $2=off, nothing to prepare"
		exit 0
	fi
}

# apt_install SCRIPT PACKAGE...: installs Debian packages quietly (with
# sudo when not root).
apt_install() {
	local script=$1 sudo=
	shift
	if [ "$(id -u)" != 0 ]; then
		sudo=sudo
	fi
	echo "$script: installing $*"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
