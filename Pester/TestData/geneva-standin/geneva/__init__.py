"""A stand-in for the Geneva (LanceDB) library, for testing E2E's Geneva engine where geneva cannot be installed.

It is NOT Geneva: it records every call the E2E bridge makes (one JSON line each in $GENEVA_STANDIN_LOG) and keeps
just enough table state, in a pickle file per table under the connection's folder, for a backfill to fill rows
the way Geneva's semantics describe (rows whose column is null, fragments in order, num_frags, batch_size,
commit_granularity versions, a geneva_jobs record per job). Only the calls the bridge makes exist.
"""

import contextlib
import inspect
import json
import os
import pickle
import re
import sys
import threading
import time
import urllib.parse
import uuid

__all__ = ["connect", "udf"]


def _record(call, *args, **kwargs):
    log = os.environ.get("GENEVA_STANDIN_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps({"call": call, "args": [repr(a) if not isinstance(a, (str, int, float, bool, type(None))) else a for a in args], "kwargs": {k: v if isinstance(v, (str, int, float, bool, type(None))) else repr(v) for k, v in kwargs.items()}}) + "\n")


def udf(func=None, **options):
    """@geneva.udf or @geneva.udf(version=..., data_type=...): records the options on the function."""

    def mark(f):
        f.__geneva_udf__ = dict(options)
        return f

    return mark(func) if func is not None else mark


def connect(uri, **kwargs):
    _record("connect", uri, **kwargs)
    return Connection(uri)


def _folder(uri):
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "file":
        return urllib.parse.unquote(parsed.path)
    if parsed.scheme in ("s3", "gs", "az"):
        root = os.environ.get("GENEVA_STANDIN_ROOT") or os.path.join(os.getcwd(), ".geneva-standin")
        return os.path.join(root, parsed.scheme, parsed.netloc, parsed.path.lstrip("/"))
    return uri


class Connection:
    def __init__(self, uri):
        self.uri = uri
        self.folder = _folder(uri)
        os.makedirs(self.folder, exist_ok=True)
        self._clusters = self._load("clusters")
        self._manifests = self._load("manifests")

    def _load(self, kind):
        path = os.path.join(self.folder, f"_{kind}.json")
        return json.load(open(path, encoding="utf-8")) if os.path.exists(path) else {}

    def _save(self, kind, value):
        with open(os.path.join(self.folder, f"_{kind}.json"), "w", encoding="utf-8") as f:
            json.dump(value, f)

    def create_table(self, name, data, mode="create"):
        """One fragment of the rows given; Table.add appends another (the 0.9.0 suite's 25-row fragments)."""
        _record("create_table", name, mode=mode, rows=len(data))
        path = os.path.join(self.folder, f"{name}.pkl")
        if mode != "overwrite" and os.path.exists(path):
            raise ValueError(f"Table '{name}' already exists")
        rows = [dict(r) for r in data]
        state = {"rows": rows, "fragments": [(0, len(rows))] if rows else [], "udfs": {}, "types": {}, "version": 1}
        with open(path, "wb") as f:
            pickle.dump(state, f)
        return Table(self, name)

    def table_names(self):
        _record("table_names")
        return sorted(f[:-4] for f in os.listdir(self.folder) if f.endswith(".pkl"))

    def open_table(self, name):
        _record("open_table", name)
        if name == "geneva_jobs":
            return JobsTable(self)
        if not os.path.exists(os.path.join(self.folder, f"{name}.pkl")):
            raise ValueError(f"Table '{name}' was not found")
        return Table(self, name)

    def define_cluster(self, name, cluster):
        _record("define_cluster", name, cluster_type=getattr(cluster, "cluster_type", None), address=getattr(cluster, "ray_address", None))
        self._clusters[name] = {"type": str(getattr(cluster, "cluster_type", None))}
        self._save("clusters", self._clusters)

    def define_manifest(self, name, manifest):
        _record("define_manifest", name)
        self._manifests[name] = {"name": name}
        self._save("manifests", self._manifests)

    @contextlib.contextmanager
    def context(self, cluster=None, manifest=None):
        _record("context", cluster=cluster, manifest=manifest)
        if cluster is not None and cluster not in self._clusters:
            raise ValueError(f"cluster '{cluster}' is not defined")
        if manifest is not None and manifest not in self._manifests:
            raise ValueError(f"manifest '{manifest}' is not defined")
        yield
        _record("context-exit", cluster=cluster, manifest=manifest)


class _Rows:
    def __init__(self, rows):
        self._rows = rows

    def to_pylist(self):
        return list(self._rows)


class JobsTable:
    def __init__(self, conn):
        self.conn = conn

    def to_arrow(self):
        path = os.path.join(self.conn.folder, "_jobs.json")
        return _Rows(json.load(open(path, encoding="utf-8")) if os.path.exists(path) else [])


_lock = threading.Lock()


class Table:
    def __init__(self, conn, name):
        self.conn = conn
        self.name = name
        self._state = self._read()

    @property
    def _path(self):
        return os.path.join(self.conn.folder, f"{self.name}.pkl")

    def _read(self):
        with open(self._path, "rb") as f:
            return pickle.load(f)

    def _write(self, state):
        with open(self._path + ".tmp", "wb") as f:
            pickle.dump(state, f)
        os.replace(self._path + ".tmp", self._path)

    @property
    def version(self):
        return self._state["version"]

    def checkout_latest(self):
        _record("checkout_latest")
        self._state = self._read()

    def count_rows(self, filter=None):
        _record("count_rows", filter)
        return sum(1 for r in self._state["rows"] if _matches(r, filter))

    def to_arrow(self):
        return _Rows(self._state["rows"])

    def add(self, data):
        _record("add", rows=len(data))
        state = self._read()
        start = len(state["rows"])
        state["rows"].extend(dict(r) for r in data)
        state["fragments"].append((start, len(state["rows"])))
        state["version"] += 1
        self._write(state)
        self._state = state

    @property
    def schema(self):
        """Fields with a name and an Arrow type name: the source columns' from the first row, the UDF columns' from the UDF."""
        rows = self._state["rows"]
        names = list(rows[0]) if rows else []
        return [_Field(n, self._state["types"].get(n) or _arrow_type(next((r[n] for r in rows if r.get(n) is not None), None))) for n in names]

    def to_lance(self):
        return _Dataset(self._state)

    def add_columns(self, columns):
        _record("add_columns", sorted(columns))
        state = self._read()
        for name, function in columns.items():
            if not hasattr(function, "__geneva_udf__"):
                raise TypeError(f"{name}: not a @geneva.udf")
            # Geneva keeps the UDF itself with the column (pickled); the stand-in keeps where to import it from again.
            state["udfs"][name] = (function.__module__, function.__name__, list(inspect.signature(function).parameters), os.path.dirname(os.path.abspath(inspect.getfile(function))))
            returns = inspect.signature(function).return_annotation
            state["types"][name] = function.__geneva_udf__.get("data_type") or {int: "int64", float: "double", str: "string", bytes: "binary", bool: "bool", dict: "struct"}.get(returns, "null")
            for row in state["rows"]:
                row.setdefault(name, None)
        state["version"] += 1
        self._write(state)
        self._state = state

    def backfill(self, column, **kwargs):
        _record("backfill", column, **kwargs)
        return self._run(column, kwargs)

    def backfill_async(self, column, **kwargs):
        _record("backfill_async", column, **kwargs)
        return _Future(lambda: self._run(column, kwargs))

    def _run(self, column, kwargs):
        import importlib

        job = {"table_name": self.name, "column_name": column, "job_id": str(uuid.uuid4()), "job_type": "BACKFILL", "status": "RUNNING",
               "launched_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "config": json.dumps(kwargs), "events": ["Job started"]}
        with _lock:
            state = self._read()
            if column not in state["udfs"]:
                raise ValueError(f"column '{column}' has no UDF")
            module, function, inputs, folder = state["udfs"][column]
            if folder not in sys.path:
                sys.path.append(folder)
            call = getattr(importlib.import_module(module), function)
            pending = [f for f in state["fragments"] if any(state["rows"][i].get(column) is None for i in range(*f))]
            pending = pending[: kwargs["num_frags"]] if kwargs.get("num_frags") else pending
            granularity = kwargs.get("commit_granularity") or 1
            try:
                for done, (start, end) in enumerate(pending, 1):
                    for i in range(start, end):
                        row = state["rows"][i]
                        if row.get(column) is None:
                            row[column] = call(*[row[name] for name in inputs])
                    if done % granularity == 0 or done == len(pending):
                        state["version"] += 1
                        self._write(state)
                job["status"] = "DONE"
                job["events"].append("Job completed with status DONE")
            except Exception as error:
                job["status"] = "FAILED"
                job["events"].append(f"Job failed: {error}")
                raise
            finally:
                job["completed_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
                path = os.path.join(self.conn.folder, "_jobs.json")
                jobs = json.load(open(path, encoding="utf-8")) if os.path.exists(path) else []
                jobs.append(job)
                with open(path, "w", encoding="utf-8") as f:
                    json.dump(jobs, f)
                self._state = self._read()
        return job["job_id"]


class _Field:
    def __init__(self, name, type_name):
        self.name = name
        self.type = type_name


def _arrow_type(value):
    if isinstance(value, bool):
        return "bool"
    return {int: "int64", float: "double", str: "string", bytes: "binary", dict: "struct"}.get(type(value), "null")


def _matches(row, where):
    """The stand-in's filters: '<column> IS [NOT] NULL' terms joined by OR or AND (not both)."""
    if not where:
        return True
    joiner = " OR " if " OR " in where.upper() else " AND "
    terms = [t.strip() for t in re.split(joiner, where, flags=re.IGNORECASE)]
    results = []
    for term in terms:
        words = term.split()
        if len(words) == 3 and [w.upper() for w in words[1:]] == ["IS", "NULL"]:
            results.append(row.get(words[0]) is None)
        elif len(words) == 4 and [w.upper() for w in words[1:]] == ["IS", "NOT", "NULL"]:
            results.append(row.get(words[0]) is not None)
        else:
            raise ValueError(f"the stand-in filters only by '<column> IS [NOT] NULL', not {term!r}")
    return any(results) if joiner == " OR " else all(results)


class _Dataset:
    """What lancedb's Table.to_lance() gives (a pylance dataset), as far as the bridge reads it."""

    def __init__(self, state):
        self._state = state

    def get_fragments(self):
        return list(self._state["fragments"])

    def to_table(self, filter=None, limit=None):
        _record("to_table", filter=filter, limit=limit)
        chosen = [r for r in self._state["rows"] if _matches(r, filter)]
        return _Rows(chosen[:limit] if limit is not None else chosen)


class _Future:
    def __init__(self, work):
        self._error = None
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._thread.start()

    def _run(self, work):
        try:
            work()
        except Exception as error:  # result() raises it
            self._error = error

    def done(self):
        _record("done")
        return not self._thread.is_alive()

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
