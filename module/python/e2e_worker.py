"""E2E UDF worker: computes one or more UDFs over batches of rows, reading the rows' inputs itself.

Started by Invoke-Backfill as `python3 -u [-S] e2e_worker.py '<config json>'` with config
{"paths": [...], "site_dirs": [...], "modules": [...], "udfs": [{"name": "<udf>", "inputs": [i, ...]}, ...],
 "source": {"database": "<sqlite file>", "query": "<sql>"}}.
The query takes the row ids as one JSON array parameter and returns the row id, then every input column the
pass needs; each UDF names its inputs by their positions in that list. All UDFs of a pass run in this one
process, so a row's inputs are read once for all the columns computed from them.

Frames both ways are a 4-byte little-endian length and a payload (JSON lines cost half the time of a cheap
backfill in base64 and parsing). First this worker sends one JSON frame: {"ready": {udf: description},
"missing": [...], "available": [...]}. Then each request frame is
    u16 blocks, then per block: u16 udf index, u32 n, n x i64 row id
and its answer, in request order (requests may be pipelined), is
    per block: u16 udf index, u32 n, then n results: i64 row id, u8 tag, value
with tags 0 None, 1 int64 (i64), 2 float64 (f64), 3 str (u32 length + UTF-8), 4 bytes (u32 length + bytes),
5 JSON (u32 length + UTF-8; dicts, lists, big ints; bytes inside as {"b64": ...}, NaN as {"f64": "nan"}),
6 bool (u8), 255 error (u32 length + UTF-8 message). A row the query does not return gets no result (the
engine counts it as failed). The protocol has a private copy of stdout: what a UDF prints goes to stderr,
so it can never break the framing. Without "source" the worker only describes the UDFs. Standard library only.
"""

import importlib
import json
import math
import os
import sqlite3
import struct
import sys

# The protocol's own stream; fd 1 (print, C extensions) now goes to stderr.
PROTOCOL_OUT = os.fdopen(os.dup(1), "wb", buffering=0)
os.dup2(2, 1)
sys.stdout = sys.stderr
PROTOCOL_IN = sys.stdin.buffer

LENGTH = struct.Struct("<I")
BLOCK = struct.Struct("<HI")
HEAD = struct.Struct("<qB")
INT = struct.Struct("<qBq")
FLOAT = struct.Struct("<qBd")
BOOL = struct.Struct("<qBB")
SIZED = struct.Struct("<qBI")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def encode_json(value):
    """A value inside a JSON result: bytes as {"b64": ...}, NaN and infinities as {"f64": ...} (bare NaN is not JSON)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        import base64  # imported when first needed: a tenth of a worker's start otherwise

        return {"b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, float) and not math.isfinite(value):
        return {"f64": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, (list, tuple)):
        return [encode_json(v) for v in value]
    if isinstance(value, dict):
        return {k: encode_json(v) for k, v in value.items()}
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return encode_json(value.tolist())
    return value


def sized(out, row_id, tag, data):
    out += SIZED.pack(row_id, tag, len(data))
    out += data


def put(out, row_id, value):
    kind = type(value)
    if kind is int:
        if INT64_MIN <= value <= INT64_MAX:
            out += INT.pack(row_id, 1, value)
        else:
            sized(out, row_id, 5, str(value).encode("ascii"))
    elif kind is float:
        out += FLOAT.pack(row_id, 2, value)
    elif kind is bool:
        out += BOOL.pack(row_id, 6, value)
    elif kind is str:
        sized(out, row_id, 3, value.encode("utf-8"))
    elif kind is bytes or kind is bytearray or kind is memoryview:
        sized(out, row_id, 4, bytes(value))
    elif value is None:
        out += HEAD.pack(row_id, 0)
    elif kind is dict or kind is list or kind is tuple:
        try:
            text = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):  # bytes or NaN inside: encoded as the protocol says
            text = json.dumps(encode_json(value), allow_nan=False)
        sized(out, row_id, 5, text.encode("utf-8"))
    elif hasattr(value, "tolist"):  # numpy scalars and arrays
        put(out, row_id, value.tolist())
    elif isinstance(value, bool):
        out += BOOL.pack(row_id, 6, bool(value))
    elif isinstance(value, int):
        put(out, row_id, int(value))
    elif isinstance(value, float):
        out += FLOAT.pack(row_id, 2, float(value))
    elif isinstance(value, str):
        sized(out, row_id, 3, str(value).encode("utf-8"))
    else:
        raise TypeError(f"a UDF result of type {kind.__name__} cannot be stored")


def fail(out, row_id, error):
    sized(out, row_id, 255, f"{type(error).__name__}: {error}".encode("utf-8", "replace"))


def send(payload):
    PROTOCOL_OUT.write(LENGTH.pack(len(payload)) + payload)


def read_exact(n):
    data = PROTOCOL_IN.read(n)
    if len(data) < n:
        return None
    return data


def load(config):
    """(calls, ready message): each requested UDF's callable (a stateful class set up once), by request order."""
    import e2e_udf

    found = {}
    for name in config["modules"]:
        for udf_name, spec in e2e_udf.describe(importlib.import_module(name)).items():
            found.setdefault(udf_name, spec)
    wanted = [u["name"] for u in config["udfs"]]
    missing = [name for name in wanted if name not in found]
    # A backfill needs no descriptions (the column already has its type): only describing asks for the signatures.
    describe = not config.get("source")
    ready = {"ready": {name: found[name].as_dict() if describe else {"name": name} for name in wanted if name in found}, "missing": missing, "available": sorted(found)}
    if missing:
        return None, ready
    calls = []
    for entry in config["udfs"]:
        spec = found[entry["name"]]
        call = spec.target
        if spec.stateful:
            instance = spec.target()
            setup = getattr(instance, "setup", None)
            if callable(setup):
                setup()
            call = instance
        calls.append((spec, call, entry.get("inputs", [])))
    return calls, ready


def compute(out, spec, call, inputs, rows):
    """Appends one result per row: (row id, [inputs of the whole query])."""
    if spec.batched:
        try:
            columns = [[row[1][i] for row in rows] for i in inputs]
            values = list(call(*columns))
            if len(values) != len(rows):
                # zip() would silently leave the rest of the batch empty.
                raise ValueError(f"the batched UDF returned {len(values)} values for {len(rows)} rows")
        except Exception as error:  # every row of the batch shares the failure
            for row_id, _ in rows:
                fail(out, row_id, error)
            return
        for (row_id, _), value in zip(rows, values):
            mark = len(out)
            try:
                put(out, row_id, value)
            except Exception as error:
                del out[mark:]
                fail(out, row_id, error)
        return
    one = inputs[0] if len(inputs) == 1 else None
    for row_id, values in rows:
        mark = len(out)
        try:
            put(out, row_id, call(values[one]) if one is not None else call(*[values[i] for i in inputs]))
        except Exception as error:
            del out[mark:]
            fail(out, row_id, error)


def main():
    config = json.loads(sys.argv[1])
    sys.path[:0] = config["paths"]
    if config.get("site_dirs"):
        # An isolated worker (python -S): the packed environment's .pth files, and nothing of the interpreter's site-packages.
        import site

        for folder in config["site_dirs"]:
            site.addsitedir(folder)
    calls, ready = load(config)
    send(json.dumps(ready).encode("utf-8"))
    if calls is None:
        return 3
    source = config.get("source")
    if not source:
        return 0
    db = sqlite3.connect(source["database"], timeout=30)
    db.execute("PRAGMA query_only = ON")  # read-only: the driver is the store's only writer
    query = source["query"]
    while True:
        header = read_exact(4)
        if header is None:
            return 0
        request = read_exact(LENGTH.unpack(header)[0])
        if request is None:
            return 0
        (count,) = struct.unpack_from("<H", request, 0)
        position = 2
        blocks = []
        for _ in range(count):
            index, n = BLOCK.unpack_from(request, position)
            position += BLOCK.size
            blocks.append((index, struct.unpack_from(f"<{n}q", request, position)))
            position += 8 * n
        wanted = sorted(set().union(*[ids for _, ids in blocks])) if len(blocks) > 1 else list(blocks[0][1]) if blocks else []
        # row id -> [inputs], read once for every block.
        found = {row[0]: row[1:] for row in db.execute(query, (json.dumps(wanted),))}
        answer = bytearray()
        for index, ids in blocks:
            spec, call, inputs = calls[index]
            rows = [(row_id, found[row_id]) for row_id in ids if row_id in found]
            answer += BLOCK.pack(index, len(rows))
            compute(answer, spec, call, inputs, rows)
        send(bytes(answer))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        import traceback

        sys.stderr.write(traceback.format_exc())
        sys.exit(4)
