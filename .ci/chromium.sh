#!/usr/bin/env bash
# Installs Debian's chromium for the headless-browser test of the consent
# IRB report (consent: TestReportHTMLInChromium). Idempotent: does nothing
# when /usr/bin/chromium is already there. Called by .ci/run.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
	echo "chromium.sh: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) already installed"
	exit 0
fi
. "$(dirname "$0")/lib.sh"
apt_install chromium.sh chromium fonts-dejavu-core
/usr/bin/chromium --version
