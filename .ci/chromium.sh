#!/usr/bin/env bash
# Installs Debian's chromium for the headless-browser test of the consent
# IRB report (consent: TestReportHTMLInChromium). Idempotent: does nothing
# when /usr/bin/chromium is already there. Called by .ci/run.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
	echo "chromium.sh: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) already installed"
	exit 0
fi
sudo=
if [ "$(id -u)" != 0 ]; then
	sudo=sudo
fi
echo "chromium.sh: installing chromium"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
/usr/bin/chromium --version
