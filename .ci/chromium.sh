#!/usr/bin/env bash
# Installs Debian's chromium for the headless-browser tests: the consent
# IRB report's HTML (consent/registry: TestReportHTMLInChromium,
# TestPilotReportReadsByParticipant) and the browser verifier page
# (cmd/trialog: TestVerifierPageInChromium). Idempotent: does nothing
# when /usr/bin/chromium is already there. Called by .ci/run.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
	echo "chromium.sh: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) already installed"
	exit 0
fi
. "$(dirname "$0")/lib.sh"
apt_install chromium.sh chromium fonts-dejavu-core
/usr/bin/chromium --version
