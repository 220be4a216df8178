#!/usr/bin/env bash
# Everything from a fresh Debian machine to the last test: Debian packages and kernel image
# (scripts/setup-debian.sh), npm ci (which builds dist/), type checks, then every test file,
# the qemu end-to-end suite included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-debian.sh >/dev/null
npm ci --no-audit --no-fund --loglevel=error
npm run --silent typecheck
shopt -s nullglob
exec node --import tsx --test test/*.test.ts test/e2e/*.test.ts
