"""UDFs with injectable faults, for the scheduled-backfill tests. Standard library only."""

import os
import time

from e2e_udf import udf


@udf(data_type="int64")
def checked_size(image: bytes) -> int:
    # E2E_MAINTENANCE_FAULT=1 makes every image of even size fail: some rows fill, some do not (a partial run).
    if os.environ.get("E2E_MAINTENANCE_FAULT") == "1" and len(image) % 2 == 0:
        raise ValueError(f"injected fault for an image of {len(image)} bytes")
    return len(image)


@udf(data_type="int64")
def slow_size(image: bytes) -> int:
    time.sleep(0.2)
    return len(image)
