"""E2E UDF worker: computes one UDF over batches of rows, reading the rows' inputs itself.

Started by Invoke-Backfill as `python3 e2e_worker.py '<config json>'` with config
{"paths": [...], "modules": [...], "udf": "<name>", "source": {"database": "<sqlite file>", "query": "<sql>"}}.
It prints {"ready": <udf description>} once, then answers each request {"ids": [1, 2, ...]} with
{"results": [{"id": 1, "value": ...} or {"id": 1, "error": "..."}]}: it reads the rows' inputs from the
database (read-only; the query takes the ids as one JSON array parameter and returns the row id, then the
inputs), so the inputs (images of kilobytes) never cross the pipe; only ids and results do. Bytes in results
travel as {"b64": "..."}, NaN and infinities as {"f64": "nan"|"inf"|"-inf"} (bare NaN is not JSON). A row the
query does not return gets no result (the engine counts it as failed). The protocol has a private copy of
stdout: what a UDF prints goes to stderr, so it can never break the framing. Without "source" the worker only
describes the UDF. Standard library only.
"""

import base64
import importlib
import json
import math
import os
import sqlite3
import sys
import traceback
import urllib.parse

# The protocol's own stream; fd 1 (print, C extensions) now goes to stderr.
PROTOCOL = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
os.dup2(2, 1)
sys.stdout = sys.stderr


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

    source = config.get("source")
    db = None
    if source:
        db = sqlite3.connect("file:" + urllib.parse.quote(source["database"]) + "?mode=ro", uri=True, timeout=30)
    for line in sys.stdin:
        ids = json.loads(line)["ids"]
        # (id, [inputs]) for each row that exists, in id order.
        rows = [(row[0], list(row[1:])) for row in db.execute(source["query"], (json.dumps(ids),))]
        results = []
        if spec.batched:
            try:
                columns = list(zip(*[args for _, args in rows]))
                values = list(call(*[list(c) for c in columns]))
                if len(values) != len(rows):
                    # zip() would silently leave the rest of the batch empty.
                    raise ValueError(f"the batched UDF returned {len(values)} values for {len(rows)} rows")
                results = [{"id": row_id, "value": encode(v)} for (row_id, _), v in zip(rows, values)]
            except Exception as error:  # every row of the batch shares the failure
                results = [{"id": row_id, "error": f"{type(error).__name__}: {error}"} for row_id, _ in rows]
        else:
            for row_id, args in rows:
                try:
                    results.append({"id": row_id, "value": encode(call(*args))})
                except Exception as error:
                    results.append({"id": row_id, "error": f"{type(error).__name__}: {error}"})
        send({"results": results})
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        send({"error": "worker_crashed", "detail": traceback.format_exc()})
        sys.exit(4)
