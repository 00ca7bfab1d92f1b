"""A tiny code location for the run launcher's tests: one asset that says which process ran it,
one that waits (to be killed or terminated while it runs)."""

import os
import sys
import time
from pathlib import Path

import dagster as dg


@dg.asset
def where_it_ran() -> dg.MaterializeResult:
    parent = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return dg.MaterializeResult(
        metadata={"pid": os.getpid(), "parent_command": parent, "python": sys.executable}
    )


@dg.asset
def waits_a_minute() -> None:
    time.sleep(60)


defs = dg.Definitions(assets=[where_it_ran, waits_a_minute], executor=dg.in_process_executor)
