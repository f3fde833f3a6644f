"""CPU UDFs over image bytes, standard library only."""

import struct

from e2e_udf import udf


@udf(data_type="int64")
def file_size(image: bytes) -> int:
    return len(image)


@udf(data_type="struct")
def dimensions(image: bytes) -> dict:
    """Width and height from a PNG IHDR chunk or a JPEG start-of-frame marker, without decoding pixels."""
    if image[:8] == b"\x89PNG\r\n\x1a\n":
        width, height = struct.unpack(">II", image[16:24])
        return {"width": width, "height": height}
    if image[:2] == b"\xff\xd8":
        position = 2
        while position + 4 <= len(image):
            if image[position] != 0xFF:
                position += 1
                continue
            marker = image[position + 1]
            length = struct.unpack(">H", image[position + 2:position + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                height, width = struct.unpack(">HH", image[position + 5:position + 9])
                return {"width": width, "height": height}
            position += 2 + length
    raise ValueError("not a PNG or JPEG image")


@udf(data_type="int64")
def fingerprint(image: bytes) -> int:
    """A CPU-bound stand-in for a small embedding, about 1 ms a row for the bench's ~5 KB images on the 2-core build
    machine: four rolling hashes of the bytes (one took 0.24-0.29 ms there).

    The cheap UDFs above cost microseconds, so they measure the engine; this one measures whether workers scale.
    """
    value = 0
    for multiplier in (31, 37, 41, 43):
        for byte in image:
            value = (value * multiplier + byte) & 0xFFFFFFFFFFFF
    return value
