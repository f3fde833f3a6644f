"""E2E's bridge to the Geneva (LanceDB) library: Invoke-Backfill -Engine Geneva runs this in the user's Python.

Started as `python3 e2e_geneva.py '<request json>'`; it prints JSON lines on stdout: {"progress": ...} while a
backfill runs, then one {"result": ...} or {"error": {"id": ..., "message": ...}}. What a UDF or Geneva prints
goes to stderr. Besides a backfill (below), a request is one of
  {"op": "jobs", "uri", "table_name", "column_name", "job_id"}      Geneva's job records
  {"op": "create_table", "uri", "table", "fragment_size"}
      the table from JSON lines on stdin (bytes as {"b64": ...}), as the 0.9.0 suite builds it: the first batch of
      fragment_size rows by create_table(mode="overwrite"), each next one by Table.add, one fragment each
  {"op": "describe", "uri", "table"}                                  rows, fragments, version, columns
  {"op": "tables", "uri"}                                             each table's description (Connection.table_names())
  {"op": "rows", "uri", "table", "where", "limit"}                    rows (bytes as {"b64": ...})
  {"op": "add_column", "uri", "table", "column", "udf", "modules", "paths"}
      Table.add_columns({column: <the @geneva.udf named udf in one of modules, imported from paths>})
Each but jobs and tables answers with the table's description. A backfill:

  {"uri": "file:///data/pets" | "s3://..." | "gs://...", "table": "pets", "column": "file_size",
   "backfill": {"batch_size": 10, "num_frags": 2, "commit_granularity": 2, "where": "...", "concurrency": 8},
   "async": false, "poll_seconds": 2,
   "cluster": null | {"kind": "local" | "external" | "kuberay" | "defined", "name": "...", "address": "ray://...",
                      "namespace": "geneva", "image": "rayproject/ray:2.44.0-py310"},
   "manifest": null | "<manifest name defined in the connection>",
   "register": null | {"column": "...", "module": "simple_udfs", "udf": "file_size", "paths": [...]}}

The calls are the library's documented ones (geneva.connect, Connection.create_table, open_table, define_cluster,
context, Table.add, add_columns, backfill, backfill_async and its future's done(), checkout_latest, count_rows,
version, schema), as the Oxford Pets suite of Geneva 0.9.0 makes them, and for fragments and filtered reads
lancedb's Table.to_lance() (a pylance dataset: get_fragments(), to_table(filter=, limit=)). Standard library only
besides geneva itself.
"""

import contextlib
import json
import os
import sys
import time
import traceback

from e2e_json import jsonable

PROTOCOL = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
os.dup2(2, 1)
sys.stdout = sys.stderr


def emit(kind, value):
    PROTOCOL.write(json.dumps({kind: value}, default=str) + "\n")
    PROTOCOL.flush()


class BridgeError(Exception):
    def __init__(self, error_id, message):
        super().__init__(message)
        self.error_id = error_id


def define_cluster(conn, spec):
    """The cluster's name in the connection, defined first unless it is one defined before ("defined")."""
    kind = spec["kind"]
    name = spec["name"]
    if kind == "defined":
        return name
    from geneva.cluster.mgr import GenevaCluster

    if kind == "local":
        cluster = GenevaCluster.create_local(name).build()
    elif kind == "external":
        cluster = GenevaCluster.create_external(name, spec["address"]).build()
    elif kind == "kuberay":
        # The shapes of the 0.9.0 suite's standard cluster, in the Kubernetes cluster of the KUBECONFIG this bridge
        # was started with (the E2E cluster's own file), read by the LOCAL config method.
        from geneva.cluster import K8sConfigMethod
        from geneva.cluster.mgr import GenevaClusterType, HeadGroupConfig, KubeRayConfig, WorkerGroupConfig

        image = spec.get("image") or "rayproject/ray:2.44.0-py310"
        account = spec.get("service_account") or "geneva-service-account"
        kuberay = KubeRayConfig(
            namespace=spec.get("namespace") or "geneva",
            head_group=HeadGroupConfig(service_account=account, num_cpus=1, memory="3Gi", image=image),
            worker_groups=[WorkerGroupConfig(service_account=account, num_cpus=2, memory="4Gi", image=image)],
            config_method=K8sConfigMethod.LOCAL,
            use_portforwarding=True,
        )
        cluster = GenevaCluster(cluster_type=GenevaClusterType.KUBE_RAY, name=name, kuberay=kuberay)
    else:
        raise BridgeError("InvalidArgument", f"unknown cluster kind {kind!r}")
    conn.define_cluster(name, cluster)
    return name


def job_records(conn, **wanted):
    """Geneva's job records (the geneva_jobs system table) matching the non-empty fields of wanted, oldest first."""
    records = conn.open_table("geneva_jobs").to_arrow().to_pylist()
    chosen = [r for r in records if all(r.get(k) == v for k, v in wanted.items() if v)]
    chosen.sort(key=lambda r: str(r.get("launched_at") or ""))
    return chosen


def job_error(record):
    """A failed job's last event ("Job failed: ..."); None for any other."""
    return (record.get("events") or [None])[-1] if record.get("status") == "FAILED" else None


def import_geneva():
    try:
        import geneva
    except ImportError as error:
        raise BridgeError("GenevaNotInstalled", f"the geneva package is not importable by {sys.executable} ({error}); install it (pip install geneva) in the Python -Python names") from error
    return geneva


def jobs(request):
    """Geneva's job records, oldest first, narrowed to a table, a column or a job id."""
    conn = import_geneva().connect(request["uri"])
    try:
        chosen = job_records(conn, **{k: request.get(k) for k in ("table_name", "column_name", "job_id")})
    except Exception as error:
        raise BridgeError("GenevaFailed", f"this connection exposes no geneva_jobs table ({type(error).__name__}: {error})") from error
    return [
        {"job_id": r.get("job_id"), "status": r.get("status"), "table": r.get("table_name"), "column": r.get("column_name"),
         "launched_at": r.get("launched_at"), "completed_at": r.get("completed_at"), "error": job_error(r)}
        for r in chosen
    ]


def decode(value):
    if isinstance(value, dict):
        if set(value) == {"b64"}:
            import base64

            return base64.b64decode(value["b64"])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def open_table(conn, name):
    try:
        return conn.open_table(name)
    except Exception as error:
        raise BridgeError("TableNotFound", f"no table '{name}' in this Geneva database ({type(error).__name__}: {error})") from error


def describe(tbl, name):
    """What Get-E2ETable shows: rows, fragments, version and each column's name and Arrow type."""
    if hasattr(tbl, "checkout_latest"):
        tbl.checkout_latest()
    fields = [{"name": f.name, "type": str(f.type)} for f in tbl.schema]
    return {"table": name, "rows": tbl.count_rows(), "fragments": len(tbl.to_lance().get_fragments()), "version": tbl.version, "columns": fields}


def create_table(request):
    conn = import_geneva().connect(request["uri"])
    size = int(request["fragment_size"])
    tbl = None
    batch = []

    def flush():
        nonlocal tbl
        if tbl is None:
            tbl = conn.create_table(request["table"], batch, mode="overwrite")
        else:
            tbl.add(batch)

    for line in sys.stdin:
        batch.append(decode(json.loads(line)))
        if len(batch) == size:
            flush()
            batch = []
    if batch or tbl is None:
        flush()
    return describe(tbl, request["table"])


def rows(request):
    conn = import_geneva().connect(request["uri"])
    tbl = open_table(conn, request["table"])
    if hasattr(tbl, "checkout_latest"):
        tbl.checkout_latest()
    try:
        found = tbl.to_lance().to_table(filter=request.get("where"), limit=request.get("limit")).to_pylist()
    except Exception as error:
        if request.get("where"):
            raise BridgeError("InvalidFilter", f"the filter {request['where']!r} failed: {type(error).__name__}: {error}") from error
        raise
    return [jsonable(row, str) for row in found]


def add_column(request):
    import importlib

    conn = import_geneva().connect(request["uri"])
    tbl = open_table(conn, request["table"])
    sys.path[:0] = request.get("paths", [])
    found = None
    for name in request["modules"]:
        candidate = getattr(importlib.import_module(name), request["udf"], None)
        if candidate is not None:
            found = candidate
            break
    if found is None:
        raise BridgeError("UdfNotFound", f"no UDF named '{request['udf']}' in modules {', '.join(request['modules'])}")
    if request["column"] in [f.name for f in tbl.schema]:
        raise BridgeError("ColumnExists", f"table '{request['table']}' already has a column '{request['column']}'")
    tbl.add_columns({request["column"]: found})
    return describe(tbl, request["table"])


def describe_table(request):
    return describe(open_table(import_geneva().connect(request["uri"]), request["table"]), request["table"])


def tables(request):
    conn = import_geneva().connect(request["uri"])
    return [describe(open_table(conn, name), name) for name in conn.table_names()]


OPS = {"jobs": jobs, "create_table": create_table, "describe": describe_table, "tables": tables, "rows": rows, "add_column": add_column}


def run(request):
    geneva = import_geneva()
    conn = geneva.connect(request["uri"])
    table = request["table"]
    column = request["column"]
    tbl = open_table(conn, table)
    register = request.get("register")
    if register:
        sys.path[:0] = register.get("paths", [])
        import importlib

        udf = getattr(importlib.import_module(register["module"]), register["udf"])
        tbl.add_columns({register["column"]: udf})
    kwargs = {k: v for k, v in (request.get("backfill") or {}).items() if v is not None}
    cluster = define_cluster(conn, request["cluster"]) if request.get("cluster") else None
    manifest = request.get("manifest")

    started = time.time()
    before = tbl.count_rows(f"{column} IS NOT NULL")
    context = conn.context(**{k: v for k, v in (("cluster", cluster), ("manifest", manifest)) if v}) if cluster or manifest else contextlib.nullcontext()
    status, error = "DONE", None
    try:
        with context:
            if request.get("async"):
                future = tbl.backfill_async(column, **kwargs)
                polls = 0
                while not future.done():
                    polls += 1
                    emit("progress", {"polls": polls, "seconds": round(time.time() - started, 1)})
                    time.sleep(float(request.get("poll_seconds", 2)))
                if hasattr(future, "result"):
                    future.result()  # raises the job's failure
            else:
                tbl.backfill(column, **kwargs)
    except Exception as failure:  # the job's failure is its record, not the bridge's
        status, error = "FAILED", f"{type(failure).__name__}: {failure}"
    if hasattr(tbl, "checkout_latest"):
        tbl.checkout_latest()
    after = tbl.count_rows(f"{column} IS NOT NULL")
    try:
        record = (job_records(conn, table_name=table, column_name=column) or [{}])[-1]
    except Exception:  # older or newer layouts keep it elsewhere: the call's outcome is the status then
        record = {}
    return {
        "job_id": record.get("job_id"),
        "status": record.get("status") or status,
        "table": table,
        "column": column,
        "rows_before": before,
        "rows_after": after,
        "rows_total": tbl.count_rows(),
        "version": getattr(tbl, "version", None),
        "error": error or job_error(record),
        "started_at": started,
        "finished_at": time.time(),
    }


def main():
    try:
        request = json.loads(sys.argv[1])
        emit("result", OPS[request["op"]](request) if request.get("op") else run(request))
        return 0
    except BridgeError as error:
        emit("error", {"id": error.error_id, "message": str(error)})
        return 2
    except Exception as error:
        emit("error", {"id": "GenevaFailed", "message": f"{type(error).__name__}: {error}", "detail": traceback.format_exc()})
        return 3


if __name__ == "__main__":
    sys.exit(main())
