#!/usr/bin/env bash
# Installs the PouchDB peer's npm packages (pouchdb, express-pouchdb, express)
# into bench/peer/node_modules, exactly as package-lock.json pins them.
# Needs node 20 and npm.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error
