"""Geneva-style UDF declarations for E2E, standard library only.

    from e2e_udf import udf

    @udf(data_type="int64")
    def file_size(image: bytes) -> int:
        return len(image)

    @udf(data_type="float64", batch_size=32, batched=True)
    def brightness(images: list) -> list: ...

    @udf(data_type="string", num_gpus=1)
    class Caption:
        def setup(self): ...          # loads the model once per worker
        def __call__(self, image): ...

The decorator only records metadata (output type, version, cpu/gpu needs, batch size); the E2E worker
reads it with describe() and calls the function.
"""

__all__ = ["udf", "describe", "UdfSpec"]

_TYPES = {"int64", "float64", "string", "binary", "bool", "struct"}


class UdfSpec:
    def __init__(self, target, name, data_type, version, num_cpus, num_gpus, batch_size, batched):
        self.target = target
        self.name = name
        self.data_type = data_type
        self.version = version
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.batch_size = batch_size
        self.batched = batched
        self.stateful = isinstance(target, type)

    def as_dict(self):
        return {
            "name": self.name,
            "data_type": self.data_type,
            "version": self.version,
            "num_cpus": self.num_cpus,
            "num_gpus": self.num_gpus,
            "batch_size": self.batch_size,
            "batched": self.batched,
            "stateful": self.stateful,
            "inputs": _inputs(self.target),
            "input_types": _input_types(self.target),
        }


def _inputs(target):
    function = target.__call__ if isinstance(target, type) else target
    import inspect  # only to describe a UDF: a backfill's workers skip its import (a tenth of their start)

    parameters = list(inspect.signature(function).parameters)
    return [p for p in parameters if p != "self"]


def _input_types(target):
    """The annotation of each input, by name (bytes, int, float, str, bool, dict, list), or None where there is none."""
    function = target.__call__ if isinstance(target, type) else target
    types = []
    import inspect

    for name, parameter in inspect.signature(function).parameters.items():
        if name == "self":
            continue
        annotation = parameter.annotation
        types.append(annotation.__name__ if isinstance(annotation, type) else None)
    return types


def _valid_type(data_type):
    if data_type in _TYPES:
        return True
    # A fixed-size float vector: "vector[float32, 512]".
    return data_type.startswith("vector[") and data_type.endswith("]")


def udf(target=None, *, data_type="string", version="1", num_cpus=1.0, num_gpus=0.0, batch_size=None, batched=False, name=None):
    """Marks a function or a stateful class as a UDF; usable bare (@udf) or with arguments."""

    def mark(item):
        if not _valid_type(data_type):
            raise ValueError(f"unknown UDF data_type {data_type!r}")
        if isinstance(item, type) and not callable(getattr(item, "__call__", None)):
            raise TypeError(f"stateful UDF {item.__name__} must define __call__")
        item.__e2e_udf__ = UdfSpec(item, name or item.__name__, data_type, str(version), float(num_cpus), float(num_gpus), batch_size, bool(batched))
        return item

    return mark(target) if target is not None else mark


def describe(module):
    """The UDFs a module declares, by name."""
    found = {}
    for value in vars(module).values():
        spec = getattr(value, "__e2e_udf__", None)
        if isinstance(spec, UdfSpec):
            found[spec.name] = spec
    return found
