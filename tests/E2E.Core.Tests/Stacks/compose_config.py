"""What docker-compose (1.29, the real peer) says a set of compose files means, as JSON the tests compare.

Usage: compose_config.py FILE [FILE ...]   (run with the interpreter docker-compose runs on: /usr/bin/python3)

Runs 'docker-compose -f FILE ... config' in the current environment and prints, per service, the fields the
module's ComposeProject resolves, normalized the way docker-compose turns them into containers: commands and
entrypoints given as strings are split with shlex (as compose does), healthcheck durations in milliseconds with
Docker's defaults, a string test as CMD-SHELL, depends_on lists as service_started. Exits 3 with compose's own
message on stderr when compose refuses the files.
"""
import json
import re
import shlex
import subprocess
import sys

import yaml

DURATION = re.compile(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)")
UNIT_MS = {"us": 0.001, "ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}


def millis(text, default_ms):
    if text is None:
        return default_ms
    total = 0.0
    for number, unit in DURATION.findall(str(text)):
        total += float(number) * UNIT_MS[unit]
    return int(round(total))


def unescape(text):
    # 'config' writes a literal $ as $$ again, so that its output is a compose file; a container gets one $.
    return None if text is None else text.replace("$$", "$")


def words(value):
    if value is None:
        return None
    if isinstance(value, str):
        return [unescape(word) for word in shlex.split(value)]
    return [unescape(str(item)) for item in value]


def scalar(value):
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return unescape(str(value))


def healthcheck(check):
    if check is None:
        return None
    test = check.get("test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    test = [unescape(str(item)) for item in (test or [])]
    return {
        "test": test,
        "interval_ms": millis(check.get("interval"), 30_000),
        "timeout_ms": millis(check.get("timeout"), 30_000),
        "retries": int(check.get("retries", 3)),
        "start_period_ms": millis(check.get("start_period"), 0),
        "disabled": bool(check.get("disable")) or test[:1] == ["NONE"],
    }


def ports(entries):
    found = []
    for entry in entries or []:
        if isinstance(entry, dict):
            found.append([entry.get("host_ip"), int(entry.get("published") or 0), int(entry["target"]), entry.get("protocol") or "tcp"])
        else:
            # 'config' keeps the short form where it names a host address: [ip:]published:target[/protocol].
            spec, _, protocol = str(entry).partition("/")
            parts = spec.rsplit(":", 2)
            host_ip = parts[0] if len(parts) == 3 else None
            published = parts[-2] if len(parts) >= 2 else ""
            found.append([host_ip, int(published or 0), int(parts[-1]), protocol or "tcp"])
    return sorted(found, key=lambda p: (p[2], p[1], p[3], p[0] or ""))


def volumes(entries):
    found = []
    for entry in entries or []:
        if isinstance(entry, dict):
            found.append([entry.get("type", "volume"), entry.get("source"), entry["target"], bool(entry.get("read_only"))])
            continue
        parts = str(entry).split(":")
        if len(parts) == 1:
            found.append(["volume", None, parts[0], False])
            continue
        source, target = parts[0], parts[1]
        mode = parts[2].split(",") if len(parts) > 2 else []
        kind = "bind" if source[:1] in (".", "/", "~") else "volume"
        found.append([kind, source, target, "ro" in mode])
    return found


def depends_on(value):
    if value is None:
        return {}
    if isinstance(value, list):
        return {name: "service_started" for name in value}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in value.items()}


def main(files):
    command = ["docker-compose"]
    for name in files:
        command += ["-f", name]
    run = subprocess.run(command + ["config"], capture_output=True, text=True)
    if run.returncode != 0:
        sys.stderr.write(run.stderr)
        return 3
    config = yaml.safe_load(run.stdout)
    services = {}
    for name, service in (config.get("services") or {}).items():
        services[name] = {
            "image": unescape(service.get("image")),
            "container_name": unescape(service.get("container_name")),
            "command": words(service.get("command")),
            "entrypoint": words(service.get("entrypoint")),
            "environment": {key: scalar(value) for key, value in (service.get("environment") or {}).items()},
            "ports": ports(service.get("ports")),
            "depends_on": depends_on(service.get("depends_on")),
            "healthcheck": healthcheck(service.get("healthcheck")),
            "volumes": volumes(service.get("volumes")),
        }
    json.dump({"services": services}, sys.stdout, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
