"""The Oxford Pets suite's CPU UDFs as Geneva's udfs/simple declares them (@geneva.udf), for -Engine Geneva.

Geneva infers file_size's type from `-> int`; the real suite gives dimensions a pyarrow struct data_type, which
needs pyarrow (not installable where this repository is tested), so here it returns a dict the engine stores as a
struct. Add-E2EColumn -Engine Geneva binds these through the manifest New-UdfManifest packs from this folder.
"""

import struct

import geneva


@geneva.udf(version="0.1")
def file_size(image: bytes) -> int:
    return len(image)


@geneva.udf(version="0.1")
def dimensions(image: bytes) -> dict:
    width, height = struct.unpack(">II", image[16:24])
    return {"width": width, "height": height}
