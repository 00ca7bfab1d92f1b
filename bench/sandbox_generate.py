"""Benchmark: how fast the sandbox generates its company (target: 100k customers, 1M+
objects, under two minutes, bounded memory, on a 2-core machine).

Generates a company with `World.generate` into a file and prints wall time per phase (customers
simulated and written, payouts and catalog, index build), CPU time of this process and its
worker processes, peak memory (largest process), objects per kind and the file size.

    .venv/bin/python bench/sandbox_generate.py                      # 100k customers, 24 months
    .venv/bin/python bench/sandbox_generate.py --customers 20000 --keep /tmp/company.sqlite

Timing is sensitive to other work on the machine: the load average is printed with the result.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from revenue_assets.sandbox.world import CompanySpec, World


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--now", type=int, default=1_780_000_000, help="sandbox clock (unix s)")
    parser.add_argument("--keep", help="write the store here and keep it (default: temp file)")
    args = parser.parse_args()

    spec = CompanySpec(seed=args.seed, customers=args.customers, months=args.months, now=args.now)
    path = args.keep or os.path.join(tempfile.mkdtemp(prefix="sandbox-bench-"), "company.sqlite")
    load_before = os.getloadavg()
    cpu_before = _cpu()
    started = time.perf_counter()
    world = World.generate(spec, path=path)
    elapsed = time.perf_counter() - started
    cpu = _cpu() - cpu_before
    try:
        counts = dict(
            world.store._connection().execute(
                "SELECT kind, count(*) FROM objects GROUP BY kind ORDER BY count(*) DESC"
            )
        )
        total = sum(counts.values())
        size = Path(path).stat().st_size
        timings = world.store.get_meta("generation_timings") or {}
        peak = max(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        )
        print(f"customers        {args.customers:,} over {args.months} months (seed {args.seed})")
        print(f"objects          {total:,} ({total / max(1, args.customers):.1f} per customer)")
        print(f"generation time  {elapsed:.1f} s wall, {total / elapsed:,.0f} objects/s")
        for phase, seconds in timings.items():
            print(f"  {phase:<17}{seconds:.1f} s")
        print(f"cpu time         {cpu:.1f} s (this process and its workers)")
        print(f"peak memory      {peak / 1024:.0f} MiB (largest process)")
        print(f"store file       {size / 1e9:.2f} GB")
        print(f"load average     {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after")
        print("objects by kind")
        for kind, count in counts.items():
            print(f"  {kind:<24}{count:>10,}")
    finally:
        world.close()
        if not args.keep:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    return 0


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    raise SystemExit(main())
