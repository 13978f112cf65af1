#!/usr/bin/env bash
# Start two instances on the shared store (foreground; Ctrl-C stops both).
set -euo pipefail
cd "$(dirname "$0")"
WXLOGIN_LISTEN=127.0.0.1:8081 wxlogin serve --config wxlogin.toml &
WXLOGIN_LISTEN=127.0.0.1:8082 wxlogin serve --config wxlogin.toml &
trap 'kill $(jobs -p)' INT TERM
wait
