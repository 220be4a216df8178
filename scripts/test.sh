#!/usr/bin/env bash
# Everything from a fresh Debian machine to the last test: Debian packages and the target kernel
# (scripts/setup-debian.sh: image, headers, kallsyms dump, -dbg vmlinux, cached outside the
# checkout), npm ci (which builds dist/), type checks, Biome (format and lint), then every test file, the qemu end-to-end
# suite included.
#
#   [KVER=REL] scripts/test.sh      REL: a Debian kernel release (default: the installed headers')
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash scripts/setup-debian.sh --dbg)"
export KVER
echo "# testing against Debian kernel $KVER" >&2
npm ci --no-audit --no-fund --loglevel=error
npm run --silent typecheck
npm run --silent lint
shopt -s nullglob
# Unit files two at a time (node's default on 2 cores is one: most of them wait on kbuild, gcc,
# readelf or the disk); the qemu suites one after the other, each boot wants both cores.
node --import tsx --test --test-concurrency=2 test/*.test.ts
exec node --import tsx --test test/e2e/*.test.ts
