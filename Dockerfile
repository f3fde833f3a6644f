# The E2E module in a pwsh image, for the scheduled maintenance CronJobs (examples/maintenance/kubernetes).
#   docker build -t e2e-maintenance:0.1.0 .
#   kind load docker-image e2e-maintenance:0.1.0 --name <cluster>      (or push it to your registry)
# Not built on the machines this repository is developed on (they have no Docker engine).
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
# dotnet build assembles the importable module in out/E2E; the pinned pwsh comes from the tool manifest.
RUN dotnet tool restore && dotnet build E2E.sln -c Release \
    && dotnet tool install PowerShell --version 7.6.9 --tool-path /opt/pwsh

FROM mcr.microsoft.com/dotnet/runtime:10.0
# python3 runs the backfill workers and the built-in workflows; nothing else is needed at run time.
RUN apt-get update && apt-get install -y --no-install-recommends python3 ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/pwsh /opt/pwsh
COPY --from=build /src/out/E2E /opt/e2e/module/E2E
COPY --from=build /src/examples/maintenance /opt/e2e/maintenance
ENV E2E_MODULE_PATH=/opt/e2e/module/E2E/E2E.psd1 \
    PATH=/opt/pwsh:$PATH \
    E2E_STATE_DIR=/var/lib/e2e
RUN useradd --create-home --uid 10001 e2e && mkdir -p /var/lib/e2e /var/log/e2e && chown e2e /var/lib/e2e /var/log/e2e
USER 10001
ENTRYPOINT ["pwsh", "-NoProfile", "-NonInteractive", "-File"]
