#!/usr/bin/env bash
# The test command: builds the module (out/E2E), runs the xunit tests (Core, cmdlet contracts, the module
# in a hosted PowerShell engine) and the static check of every .ps1/.psm1/.psd1. Needs only the .NET SDK
# and node/npm; installs the static check's npm packages on first use.
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

log=$(mktemp)
trap 'rm -f "$log"' EXIT

dotnet build E2E.sln -nologo -v quiet -clp:ErrorsOnly
[ -d tools/pscheck/node_modules ] || npm ci --prefix tools/pscheck --no-audit --no-fund --loglevel=error
[ -d tools/ganache/node_modules ] || npm ci --prefix tools/ganache --no-audit --no-fund --loglevel=error
# The chain tests start a real ganache node (chain id 41956).
export E2E_GANACHE="${E2E_GANACHE:-$PWD/tools/ganache/node_modules/.bin/ganache}"

# Both checks run even when the first fails, so one run shows every problem.
set +e
rm -rf out/test-summaries
dotnet test E2E.sln --no-build -nologo 2>&1 | tee "$log"
test_status=${PIPESTATUS[0]}
node tools/pscheck/check.mjs --self-test
check_status=$?
set -e

# Conformance counts written by the tests (toml-test, Ethereum vectors, ...).
cat out/test-summaries/*.txt 2>/dev/null || true

# One closing line over all test assemblies: 'N passed, N failed'.
passed=$(grep -oE 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -oE 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
[ "$check_status" -eq 0 ] || failed=$((failed + 1))
echo "xunit and pscheck: $passed passed, $failed failed"
[ "$test_status" -eq 0 ] && [ "$check_status" -eq 0 ]
