"""How E2E's Python helpers put a value the json module cannot write as it is into JSON: bytes as {"b64": ...},
NaN and infinities as {"f64": "nan" | "inf" | "-inf"} (bare NaN is not JSON), numpy values through tolist().
Shared by the UDF worker (e2e_worker.py) and the Geneva bridge (e2e_geneva.py); the engine decodes both forms.
Standard library only."""

import math


def jsonable(value, other=None):
    """The value with every part JSON can hold; anything else is other(value) when given, else left for json to refuse."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        import base64  # imported when first needed: a tenth of a worker's start otherwise

        return {"b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, float) and not math.isfinite(value):
        return {"f64": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, other) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v, other) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return jsonable(value.tolist(), other)
    return other(value) if other is not None else value
