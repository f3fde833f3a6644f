"""E2E UDF worker: computes one or more UDFs over batches of rows, reading the rows' inputs itself.

Started by the engine as `python3 -u [-S] e2e_worker.py '<config json>'` with config
{"paths": [...], "site_dirs": [...], "modules": [...]}: where the UDFs live. It imports the modules at once and
then serves requests until its input closes, so one worker serves pass after pass (the engine keeps idle workers
of an environment for the next backfill: the interpreter's start and the UDFs' imports are paid once).

Frames both ways are a 4-byte little-endian length and a payload (JSON lines cost half the time of a cheap
backfill in base64 and parsing). A request's first byte says what it is:
  b"B" + JSON {"udfs": [{"name": "<udf>", "inputs": [i, ...]}, ...], "source": {"database": "<sqlite file>", "query": "<sql>", "span_query": "<sql>"} | null}
      binds the worker to the UDFs of a pass; answered by one JSON frame {"ready": {udf: description},
      "missing": [...], "available": [...]} (descriptions in full only without a source: a backfill needs none).
      The query takes the row ids as one JSON array parameter and returns the row id, then every input column the
      pass needs; each UDF names its inputs by their positions in that list. The span query returns the same columns
      for the rows from a first to a last row id (two parameters), for batches of mostly consecutive ids. All UDFs of a pass run in this one
      process, so a row's inputs are read once for all the columns computed from them.
  b"C" + u16 blocks, then per block: u16 udf index, u32 n, n x i64 row id
      computes; answered, in request order (requests may be pipelined), by
          per block: u16 udf index, u32 n, then n results: i64 row id, u8 tag, value
      with tags 0 None, 1 int64 (i64), 2 float64 (f64), 3 str (u32 length + UTF-8), 4 bytes (u32 length + bytes),
      5 JSON (u32 length + UTF-8; dicts, lists, big ints; bytes inside as {"b64": ...}, NaN as {"f64": "nan"}),
      6 bool (u8), 255 error (u32 length + UTF-8 message). A row the query does not return gets no result (the
      engine counts it as failed).
A stateful UDF's instance is made (and set up) once per worker and kept across binds; one with a 'device' attribute
after set-up (cpu, cuda:0) has it in its "ready" description, and the job record keeps it. The protocol has a private
copy of stdout: what a UDF prints goes to stderr, so it can never break the framing. Standard library only.
"""

import importlib
import json
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
            from e2e_json import jsonable  # imported when first needed, as the worker's start is a backfill's fixed cost

            text = json.dumps(jsonable(value), allow_nan=False)
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


def read_frame():
    """One request frame, or None at the end of the input (the engine closed it: the worker is done)."""
    header = PROTOCOL_IN.read(4)
    if len(header) < 4:
        return None
    (length,) = LENGTH.unpack(header)
    payload = PROTOCOL_IN.read(length)
    return payload if len(payload) == length else None


class Worker:
    """The UDFs the modules declare, and what the current pass is bound to."""

    def __init__(self, modules):
        import e2e_udf

        self.found = {}
        for name in modules:
            for udf_name, spec in e2e_udf.describe(importlib.import_module(name)).items():
                self.found.setdefault(udf_name, spec)
        self.instances = {}  # stateful UDFs by name, set up once per worker
        self.calls = []
        self.db = None
        self.query = None
        self.span_query = None

    def bind(self, request):
        wanted = [u["name"] for u in request["udfs"]]
        missing = [name for name in wanted if name not in self.found]
        source = request.get("source")
        # A backfill needs no descriptions (the column already has its type): only describing asks for the signatures.
        ready = {"ready": {name: self.found[name].as_dict() if not source else {"name": name} for name in wanted if name in self.found}, "missing": missing, "available": sorted(self.found)}
        self.calls = []
        if missing:
            return ready
        for entry in request["udfs"]:
            spec = self.found[entry["name"]]
            call = spec.target
            if spec.stateful:
                call = self.instances.get(entry["name"])
                if call is None:
                    call = spec.target()
                    setup = getattr(call, "setup", None)
                    if callable(setup):
                        setup()
                    self.instances[entry["name"]] = call
            self.calls.append((spec, call, entry.get("inputs", [])))
            device = getattr(call, "device", None) if spec.stateful else None
            if device is not None:  # where a stateful UDF computes (cpu, cuda:0): the job record keeps it
                ready["ready"][entry["name"]]["device"] = str(device)
        if self.db is not None:
            self.db.close()  # opened anew for every pass: the file at that path may be another one by now
            self.db = None
        if source:
            self.db = sqlite3.connect(source["database"], timeout=30)
            self.db.execute("PRAGMA query_only = ON")  # read-only: the driver is the store's only writer
            # Pages read straight from the mapped file: a third less time reading 3,680 5 KB images than read() calls.
            self.db.execute("PRAGMA mmap_size = 268435456")
            self.query = source["query"]
            self.span_query = source["span_query"]
        return ready

    def run_batch(self, request):
        (count,) = struct.unpack_from("<H", request, 1)
        position = 3
        blocks = []
        for _ in range(count):
            index, n = BLOCK.unpack_from(request, position)
            position += BLOCK.size
            blocks.append((index, struct.unpack_from(f"<{n}q", request, position)))
            position += 8 * n
        wanted = sorted(set().union(*[ids for _, ids in blocks])) if len(blocks) > 1 else list(blocks[0][1]) if blocks else []
        # row id -> [inputs], read once for every block.
        first, last = (min(wanted), max(wanted)) if wanted else (0, -1)
        if last - first < 2 * len(wanted):
            # Mostly consecutive ids (a batch usually is): one range scan, against a look-up per id 60% more.
            keep = set(wanted)
            found = {row[0]: row[1:] for row in self.db.execute(self.span_query, (first, last)) if row[0] in keep}
        else:
            found = {row[0]: row[1:] for row in self.db.execute(self.query, (json.dumps(wanted),))}
        answer = bytearray()
        for index, ids in blocks:
            spec, call, inputs = self.calls[index]
            rows = [(row_id, found[row_id]) for row_id in ids if row_id in found]
            answer += BLOCK.pack(index, len(rows))
            compute(answer, spec, call, inputs, rows)
        return bytes(answer)


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
    worker = Worker(config["modules"])
    while True:
        request = read_frame()
        if request is None:
            return 0
        kind = request[:1]
        if kind == b"B":
            send(json.dumps(worker.bind(json.loads(request[1:]))).encode("utf-8"))
        elif kind == b"C":
            send(worker.run_batch(request))
        else:
            raise ValueError(f"unknown request kind {kind!r}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        import traceback

        sys.stderr.write(traceback.format_exc())
        sys.exit(4)
