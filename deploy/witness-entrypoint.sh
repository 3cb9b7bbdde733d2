#!/bin/sh
# Starts one litewitness (filippo.io/torchwood) for the compose deployment:
# a dedicated ssh-agent holding the witness's Ed25519 key (generated into
# the data volume on first start), then litewitness on :7380 inside the
# container (compose publishes it on the host's 127.0.0.1 only). The
# witness prints its verifier key line at start (docker compose logs
# witness): hand it to the CRO and to verifiers.
#
# Environment: WITNESS_NAME (key name, e.g. irb.example/witness).
# Configure logs with witnessctl in the same container:
#   docker compose exec witness witnessctl add-log -db /data/witness.db -origin trialog/ID
#   docker compose exec witness witnessctl add-key -db /data/witness.db -origin trialog/ID -key "$(cat checkpoint.vkey)"
set -eu
name=${WITNESS_NAME:?set WITNESS_NAME}
cd /data
[ -f witness.key ] || ssh-keygen -q -t ed25519 -N '' -C "$name" -f witness.key
rm -f agent.sock
ssh-agent -D -a /data/agent.sock &
while [ ! -S /data/agent.sock ]; do sleep 0.1; done
SSH_AUTH_SOCK=/data/agent.sock ssh-add -q witness.key
fp=$(ssh-keygen -l -E sha256 -f witness.key.pub | cut -d' ' -f2)
exec litewitness -db /data/witness.db -name "$name" -key "$fp" -ssh-agent /data/agent.sock -listen 0.0.0.0:7380
