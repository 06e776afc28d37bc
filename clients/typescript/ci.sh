#!/usr/bin/env bash
# CI for the TypeScript client: install exactly the lock file, check that src/schema.d.ts
# matches ../../openapi.json, build, and run the gateway test against a real `convlog serve`
# (needs the Python venv active, or CONVLOG_BIN, and CONVLOG_TEST_DATABASE_URL).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
npm ci --no-audit --no-fund
npm run check-generated
npm run build
npm test
