"""E2E UDF worker: computes one UDF over batches of rows sent as JSON lines on stdin.

Started by Invoke-Backfill as `python3 e2e_worker.py '<config json>'` with config
{"paths": [...], "modules": [...], "udf": "<name>"}. It prints {"ready": <udf description>} once,
then answers each request {"rows": [{"id": 1, "args": [...]}]} with {"results": [{"id": 1, "value": ...}
or {"id": 1, "error": "..."}]}. Bytes travel as {"b64": "..."}, NaN and infinities as {"f64": "nan"|"inf"|"-inf"}
(bare NaN is not JSON). The protocol has a private copy of stdout: what a UDF prints goes to stderr, so it can
never break the framing. Standard library only.
"""

import base64
import importlib
import json
import math
import os
import sys
import traceback

# The protocol's own stream; fd 1 (print, C extensions) now goes to stderr.
PROTOCOL = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
os.dup2(2, 1)
sys.stdout = sys.stderr


def decode(value):
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    return value


def encode(value):
    if isinstance(value, (bytes, bytearray)):
        return {"b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, float) and not math.isfinite(value):
        return {"f64": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    return value


def send(message):
    PROTOCOL.write(json.dumps(message, allow_nan=False) + "\n")
    PROTOCOL.flush()


def main():
    config = json.loads(sys.argv[1])
    sys.path[:0] = config["paths"]
    import e2e_udf

    spec = None
    available = []
    for name in config["modules"]:
        found = e2e_udf.describe(importlib.import_module(name))
        available.extend(found)
        if config["udf"] in found:
            spec = found[config["udf"]]
            break
    if spec is None:
        send({"error": "udf_not_found", "available": sorted(available)})
        return 3

    call = spec.target
    if spec.stateful:
        instance = spec.target()
        setup = getattr(instance, "setup", None)
        if callable(setup):
            setup()
        call = instance
    send({"ready": spec.as_dict()})

    for line in sys.stdin:
        rows = json.loads(line)["rows"]
        results = []
        if spec.batched:
            try:
                columns = list(zip(*[[decode(a) for a in row["args"]] for row in rows]))
                values = list(call(*[list(c) for c in columns]))
                if len(values) != len(rows):
                    # zip() would silently leave the rest of the batch empty.
                    raise ValueError(f"the batched UDF returned {len(values)} values for {len(rows)} rows")
                results = [{"id": row["id"], "value": encode(v)} for row, v in zip(rows, values)]
            except Exception as error:  # every row of the batch shares the failure
                results = [{"id": row["id"], "error": f"{type(error).__name__}: {error}"} for row in rows]
        else:
            for row in rows:
                try:
                    results.append({"id": row["id"], "value": encode(call(*[decode(a) for a in row["args"]]))})
                except Exception as error:
                    results.append({"id": row["id"], "error": f"{type(error).__name__}: {error}"})
        send({"results": results})
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        send({"error": "worker_crashed", "detail": traceback.format_exc()})
        sys.exit(4)
