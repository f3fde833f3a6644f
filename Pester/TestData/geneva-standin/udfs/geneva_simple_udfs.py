"""Geneva-style UDFs (as the Oxford Pets suite's udfs/simple declares them), for the stand-in's tests."""

import struct

import geneva


@geneva.udf(version="0.1")
def file_size(image: bytes) -> int:
    return len(image)


@geneva.udf(version="0.1")
def dimensions(image: bytes) -> dict:
    width, height = struct.unpack(">II", image[16:24])
    return {"width": width, "height": height}
