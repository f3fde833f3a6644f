#!/usr/bin/env bash
# The test command: './build.ps1 -Task Test' in the pinned pwsh (tools/pwsh restores it on first use).
# Builds the module, then runs the xunit tests, the static check of every PowerShell file, every Pester suite
# under each pinned Pester, and the README's PowerShell blocks; ends with one 'N passed, N failed' line.
# Needs the .NET SDK, node/npm (ganache, installed into tools/ganache on first use) and python3.
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
dotnet tool restore >/dev/null
# exec: the pinned pwsh replaces this shell, so a signal sent to the test command reaches PowerShell.
exec ./tools/pwsh -NoProfile -NonInteractive -File ./build.ps1 -Task Test "$@"
