"""A small experiment logger that writes the on-disk stores of MLflow, W&B and ClearML.

The embedded default of the Tracelet suite: the tracking libraries are not installable on a bare
machine, so the standard-library workflows log through this module, which writes each backend's
real format, byte for byte what the library's offline mode writes for the records used here:

* MLflow: a FileStore tree (MLFLOW_TRACKING_URI=file://...): <exp>/meta.yaml, <exp>/<run>/meta.yaml,
  metrics/<key> lines "timestamp value step", params/<key> and tags/<key> without a trailing newline.
* W&B: an offline run (WANDB_DIR): wandb/offline-run-<time>-<id>/run-<id>.wandb, the LevelDB-log framed
  transaction log of wandb_internal.Record protobufs (run, config, history, summary, exit).
* ClearML: an offline session (CLEARML_CACHE_DIR): offline/<task id>/task.json and metrics.jsonl (one
  JSON array of scalar events per line), zipped beside the folder at the end as ClearML does.

Which store is written comes from E2E_TRACKING_BACKEND (mlflow | wandb | clearml), set by
Start-TrackingBackend together with the variables each library reads.
"""

import json
import os
import struct
import time
import uuid
import zipfile
import zlib

__all__ = ["start_run"]


def start_run(experiment_name, project=None, tags=None):
    backend = os.environ.get("E2E_TRACKING_BACKEND", "").lower()
    project = project or os.environ.get("E2E_TRACKING_PROJECT") or "e2e_test"
    if backend == "mlflow":
        return _MlflowRun(experiment_name, project, tags or {})
    if backend == "wandb":
        return _WandbRun(experiment_name, project, tags or {})
    if backend == "clearml":
        return _ClearmlRun(experiment_name, project, tags or {})
    raise SystemExit("E2E_TRACKING_BACKEND must be mlflow, wandb or clearml (Start-TrackingBackend sets it)")


def _now_ms():
    return int(time.time() * 1000)


class _MlflowRun:
    def __init__(self, name, project, tags):
        uri = os.environ["MLFLOW_TRACKING_URI"]
        if uri.startswith(("http://", "https://")):
            raise SystemExit(f"e2e_tracking writes MLflow file stores only; {uri} is a tracking server: "
                             "run workflows that log with the mlflow library (the Tracelet suite's -WorkflowSource Tracelet)")
        root = uri[len("file://"):] if uri.startswith("file://") else uri
        os.makedirs(root, exist_ok=True)
        self.run_id = uuid.uuid4().hex
        experiment_id = self._experiment(root, project)
        self.folder = os.path.join(root, experiment_id, self.run_id)
        for sub in ("metrics", "params", "tags", "artifacts"):
            os.makedirs(os.path.join(self.folder, sub), exist_ok=True)
        self.meta = {
            "artifact_uri": "file://" + os.path.join(self.folder, "artifacts"),
            "end_time": None,
            "entry_point_name": "",
            "experiment_id": experiment_id,
            "lifecycle_stage": "active",
            "run_id": self.run_id,
            "run_name": name,
            "run_uuid": self.run_id,
            "source_name": "",
            "source_type": 4,
            "source_version": "",
            "start_time": _now_ms(),
            "status": 1,
            "tags": [],
            "user_id": os.environ.get("USER", "e2e"),
        }
        self._write_meta()
        for key, value in {"mlflow.runName": name, "mlflow.user": self.meta["user_id"], **tags}.items():
            self._write_key("tags", key, str(value))

    @staticmethod
    def _experiment(root, project):
        ids = []
        for entry in sorted(os.listdir(root)):
            meta = os.path.join(root, entry, "meta.yaml")
            if os.path.isfile(meta):
                with open(meta, encoding="utf-8") as f:
                    for line in f:
                        if line.startswith("name: ") and line[6:].strip() == project:
                            return entry
                if entry.isdigit():
                    ids.append(int(entry))
        experiment_id = str(max(ids) + 1 if ids else 1)
        folder = os.path.join(root, experiment_id)
        os.makedirs(folder, exist_ok=True)
        now = _now_ms()
        _write_yaml(os.path.join(folder, "meta.yaml"), {
            "artifact_location": "file://" + folder, "creation_time": now, "experiment_id": experiment_id,
            "last_update_time": now, "lifecycle_stage": "active", "name": project})
        return experiment_id

    def _write_meta(self):
        _write_yaml(os.path.join(self.folder, "meta.yaml"), self.meta)

    def _write_key(self, kind, key, text):
        path = os.path.join(self.folder, kind, *key.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)

    def log_params(self, params):
        for key, value in params.items():
            self._write_key("params", key, str(value))

    def log_metric(self, key, value, step):
        path = os.path.join(self.folder, "metrics", *key.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{_now_ms()} {float(value)} {int(step)}\n")

    def finish(self, exit_code=0):
        self.meta["end_time"] = _now_ms()
        self.meta["status"] = 3 if exit_code == 0 else 4
        self._write_meta()


def _write_yaml(path, mapping):
    lines = []
    for key, value in mapping.items():
        if value is None:
            text = "null"
        elif isinstance(value, list):
            text = "[]"
        elif isinstance(value, str):
            text = "''" if value == "" else (f"'{value}'" if value.isdigit() else value)
        else:
            text = str(value)
        lines.append(f"{key}: {text}\n")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(lines)
    os.replace(tmp, path)


# --- W&B: protobuf wire format and LevelDB log framing -------------------------------------------

def _varint(n):
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(number, payload):
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _item(key, value):
    # HistoryItem / ConfigItem / SummaryItem: key = 1, value_json = 16
    return _field(1, key) + _field(16, json.dumps(value))


def _timestamp(seconds):
    whole = int(seconds)
    return _field(1, whole) + _field(2, int((seconds - whole) * 1e9))


class _WandbRun:
    BLOCK = 32768

    def __init__(self, name, project, tags):
        self.run_id = uuid.uuid4().hex[:8]
        self.start = time.time()
        stamp = time.strftime("%Y%m%d_%H%M%S", time.localtime(self.start))
        folder = os.path.join(os.environ["WANDB_DIR"], "wandb", f"offline-run-{stamp}-{self.run_id}")
        os.makedirs(os.path.join(folder, "files"), exist_ok=True)
        self.path = os.path.join(folder, f"run-{self.run_id}.wandb")
        self.file = open(self.path, "wb")
        self.file.write(b":W&B" + struct.pack("<HB", 0xBEE1, 0))
        self.num = 0
        self.summary = {}
        run = (_field(1, self.run_id) + _field(3, os.environ.get("WANDB_PROJECT", project)) + _field(8, name)
               + b"".join(_field(10, f"{k}:{v}" if v else k) for k, v in tags.items())
               + _field(17, _timestamp(self.start)))
        self._record(17, run)

    def _record(self, field_number, payload):
        self.num += 1
        data = _field(1, self.num) + _field(field_number, payload)
        first = True
        while True:
            left = self.BLOCK - self.file.tell() % self.BLOCK
            if left < 7:
                self.file.write(b"\0" * left)
                left = self.BLOCK
            chunk, data = data[:left - 7], data[left - 7:]
            kind = (1 if not data else 2) if first else (4 if not data else 3)
            crc = zlib.crc32(chunk, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF
            self.file.write(struct.pack("<IHB", crc, len(chunk), kind) + chunk)
            first = False
            if not data:
                break
        self.file.flush()

    def log_params(self, params):
        self._record(5, b"".join(_field(1, _item(k, v)) for k, v in params.items()))

    def log_metric(self, key, value, step):
        now = time.time()
        items = [_item("_step", int(step)), _item("_runtime", now - self.start), _item("_timestamp", now), _item(key, float(value))]
        self._record(2, b"".join(_field(1, i) for i in items))
        self.summary[key] = float(value)

    def finish(self, exit_code=0):
        self._record(3, b"".join(_field(1, _item(k, v)) for k, v in self.summary.items()))
        self._record(18, _field(1, int(exit_code)) + _field(2, max(1, int(time.time() - self.start))))
        self.file.close()


# --- ClearML offline session ---------------------------------------------------------------------

class _ClearmlRun:
    def __init__(self, name, project, tags):
        self.task_id = "offline-" + uuid.uuid4().hex
        cache = os.environ.get("CLEARML_CACHE_DIR") or os.path.expanduser("~/.clearml/cache")
        self.folder = os.path.join(cache, "offline", self.task_id)
        os.makedirs(self.folder, exist_ok=True)
        self.task = {
            "id": self.task_id, "name": name, "project_name": project, "type": "training", "status": "in_progress",
            "tags": [f"{k}:{v}" if v else k for k, v in tags.items()], "hyperparams": {},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
            "offline_folder": self.folder, "offline_output_models": [],
        }
        self._save_task()
        self.metrics = open(os.path.join(self.folder, "metrics.jsonl"), "a", encoding="utf-8")

    def _save_task(self):
        tmp = os.path.join(self.folder, "task.json.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.task, f, ensure_ascii=True, sort_keys=True)
        os.replace(tmp, os.path.join(self.folder, "task.json"))

    def log_params(self, params):
        general = self.task["hyperparams"].setdefault("General", {})
        for key, value in params.items():
            general[key] = {"section": "General", "name": key, "value": str(value), "type": type(value).__name__, "description": ""}
        self._save_task()

    def log_metric(self, key, value, step):
        # tracelet reports a name "a/b" as series a, title b (ClearML's metric = title, variant = series).
        series, title = key.split("/", 1) if "/" in key else ("metrics", key)
        event = {"task": self.task_id, "timestamp": _now_ms(), "type": "training_stats_scalar",
                 "metric": title, "variant": series, "iter": int(step), "value": float(value)}
        self.metrics.write(json.dumps([event]) + "\n")
        self.metrics.flush()

    def finish(self, exit_code=0):
        self.metrics.close()
        self.task["status"] = "completed" if exit_code == 0 else "failed"
        self.task["completed"] = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        self._save_task()
        with zipfile.ZipFile(self.folder + ".zip", "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            for base, _, files in os.walk(self.folder):
                for name in files:
                    full = os.path.join(base, name)
                    archive.write(full, os.path.relpath(full, self.folder))
