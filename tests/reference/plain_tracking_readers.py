"""Plain Python readers of the three tracking stores, written apart from the module's C# readers.

Two uses: the xunit tests compare the C# readers with these on every fixture (an independent
oracle: same format documents, different code), and bench/ times them next to the C# readers on
the same files. Standard library only.

    python3 plain_tracking_readers.py mlflow-metric FILE    -> [[step, "value", timestamp], ...]
    python3 plain_tracking_readers.py wandb FILE            -> {"run_id", "metrics": {name: [[step, "value", ts]]}, "records", "damaged"}
    python3 plain_tracking_readers.py clearml FOLDER        -> {"metrics": {name: [[step, "value", ts]]}}   (name = title/series)
    python3 plain_tracking_readers.py time KIND PATH        -> {"seconds": s, "points": n}  (read once, timed)
Values are Python reprs (so NaN and infinities survive JSON).
"""

import json
import math
import os
import struct
import sys
import time
import zlib


def mlflow_metric(path):
    points = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.strip().split(" ")
            if fields == [""]:
                continue
            step = int(fields[2]) if len(fields) == 3 else 0
            points.append([step, float(fields[1]), int(fields[0])])
    return points


def _varint(data, pos):
    result = shift = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(data):
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"wire type {wire}")
        yield number, value


def _wandb_records(data):
    """LevelDB log records after the 7-byte W&B header; a bad checksum skips to the next block, a cut tail ends."""
    block = 32768
    pos, pending, damaged = 7, None, 0
    while pos < len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        if len(data) - pos < 7:
            damaged += 1
            break
        crc, length, kind = struct.unpack_from("<IHB", data, pos)
        if kind == 0 and length == 0:
            pos += left
            continue
        if pos + 7 + length > len(data):
            damaged += 1
            break
        payload = data[pos + 7:pos + 7 + length]
        if zlib.crc32(payload, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF != crc:
            damaged += 1
            pending = None
            pos += left
            continue
        pos += 7 + length
        if kind == 1:
            yield payload
        elif kind == 2:
            pending = bytearray(payload)
        elif kind in (3, 4) and pending is not None:
            pending += payload
            if kind == 4:
                yield bytes(pending)
                pending = None
    _wandb_records.damaged = damaged


def _number(text):
    text = text.strip()
    if text in ("NaN", "Infinity", "-Infinity"):
        return float(text.replace("Infinity", "inf").replace("NaN", "nan"))
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _item(raw):
    key, nested, value = "", [], ""
    for number, v in _fields(raw):
        if number == 1:
            key = v.decode("utf-8")
        elif number == 2:
            nested.append(v.decode("utf-8"))
        elif number == 16:
            value = v.decode("utf-8")
    return (key if key or not nested else ".".join(nested)), value


def wandb(path):
    with open(path, "rb") as f:
        data = f.read()
    metrics, run_id, records, next_step, samples = {}, None, 0, 0, 0
    for payload in _wandb_records(data):
        records += 1
        for number, value in _fields(payload):
            if number == 17:
                run_id = next((v.decode() for n, v in _fields(value) if n == 1), run_id)
            elif number == 2:
                step, stamp, row = None, None, []
                for n, raw in _fields(value):
                    if n == 2:
                        step = next((v for k, v in _fields(raw) if k == 1), 0)
                    elif n == 1:
                        key, text = _item(raw)
                        num = _number(text)
                        if num is None:
                            continue
                        if key == "_step" and num == math.floor(num) and not math.isinf(num):
                            step = int(num)
                        elif key == "_timestamp":
                            stamp = num
                        elif key not in ("_runtime", "_step"):
                            row.append((key, num))
                step = next_step if step is None else step
                next_step = step + 1
                for key, num in row:
                    metrics.setdefault(key, []).append([step, num, 0 if stamp is None else int(round(stamp * 1000))])
            elif number == 7:
                seconds = nanos = 0
                items = []
                for n, raw in _fields(value):
                    if n == 2:
                        for k, v in _fields(raw):
                            seconds, nanos = (v, nanos) if k == 1 else (seconds, v)
                    elif n == 3:
                        items.append(_item(raw))
                for key, text in items:
                    num = _number(text)
                    if num is not None:
                        metrics.setdefault("system/" + key, []).append([samples, num, seconds * 1000 + nanos // 1000000])
                samples += 1
    return {"run_id": run_id, "metrics": metrics, "records": records, "damaged": getattr(_wandb_records, "damaged", 0)}


def clearml(folder):
    metrics = {}
    with open(os.path.join(folder, "metrics.jsonl"), encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            for event in json.loads(line):
                if event.get("type") != "training_stats_scalar" or event.get("model_event"):
                    continue
                title, series = event.get("metric", ""), event.get("variant", "")
                name = title if not series or series == title else f"{title}/{series}"
                metrics.setdefault(name, []).append([event.get("iter", 0), float(event["value"]), int(event.get("timestamp", 0))])
    return {"metrics": metrics}


def _reprs(value):
    if isinstance(value, dict):
        return {k: _reprs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reprs(v) for v in value]
    if isinstance(value, float):
        return repr(value)
    return value


def main(argv):
    kind = argv[0]
    if kind == "time":
        reader = {"mlflow-metric": mlflow_metric, "wandb": wandb, "clearml": clearml}[argv[1]]
        started = time.perf_counter()
        result = reader(argv[2])
        seconds = time.perf_counter() - started
        series = result if isinstance(result, list) else result["metrics"]
        points = len(series) if isinstance(series, list) else sum(len(s) for s in series.values())
        print(json.dumps({"seconds": seconds, "points": points}))
        return 0
    reader = {"mlflow-metric": mlflow_metric, "wandb": wandb, "clearml": clearml}[kind]
    print(json.dumps(_reprs(reader(argv[1]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
