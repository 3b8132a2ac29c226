"""`fenxiao bench`: run every benchmark under tests/bench and write bench/REPORT.md and bench/results.json.

The benchmarks print figures measured in one run (the floor and ours side by side, so ratios compare like
with like); none is a pass/fail timing. Each benchmark file runs in a pytest process of its own. They run on
the local stand-ins (moto in-process, or the local stack over HTTP for throughput).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench"

# DynamoDB on-demand prices, us-east-1 (per million request units), as published after AWS's
# November 2024 reduction. Writes: 1 WRU per KB written (2 in a transaction); reads: 1 RRU per 4 KB
# strongly consistent (0.5 eventually consistent).
PRICE_PER_MILLION_WRU = 0.625
PRICE_PER_MILLION_RRU = 0.125


def add_parser(commands: Any) -> None:
    bench = commands.add_parser("bench", help="run the benchmarks and write bench/REPORT.md")
    bench.add_argument("-k", default=None, help="only benchmarks matching this pytest -k expression")
    bench.add_argument("--orders", type=int, default=200, help="orders for the local-stack throughput run")
    bench.add_argument(
        "--storm-orders",
        type=int,
        default=None,
        help="also run the fault storm with this many orders (e.g. 10000)",
    )


def command(args: Any, out: Any = print) -> int:
    if not (ROOT / "tests" / "bench").is_dir():
        out("fenxiao bench runs from a checkout of the repository (tests/bench not found)")
        return 2
    OUT.mkdir(exist_ok=True)
    results = OUT / "results.json"
    results.unlink(missing_ok=True)
    env = {**os.environ, "FENXIAO_BENCH_OUT": str(results), "FENXIAO_BENCH_ORDERS": str(args.orders)}
    selection = ["-m", "bench"] + (["-k", args.k] if args.k else [])
    started = time.monotonic()
    code = 0
    files = bench_files(selection, env)
    if files is None:
        out("[bench] collecting the benchmarks failed")
        code = 1
    # One fresh process per file: a benchmark's figures must not depend on what ran before it in the
    # process (patches, moto data, a heap grown by another benchmark's 100 000 items); each process adds
    # its figures to results.json in turn.
    for path in files or []:
        cmd = [sys.executable, "-m", "pytest", path, *selection, "-s", "-q", "-p", "no:cacheprovider"]
        out(f"[bench] running {' '.join(cmd[2:])}")
        ran = subprocess.call(cmd, cwd=ROOT, env=env)
        code = code or ran
    if args.storm_orders:
        storm_env = {**env, "FENXIAO_STORM_ORDERS": str(args.storm_orders)}
        out(f"[bench] fault storm with {args.storm_orders} orders")
        code = code or subprocess.call(
            [sys.executable, "-m", "pytest", "tests/storm", "-s", "-q", "-p", "no:cacheprovider"],
            cwd=ROOT,
            env=storm_env,
        )
    figures = json.loads(results.read_text()) if results.exists() else {}
    (OUT / "REPORT.md").write_text(render(figures, time.monotonic() - started))
    out(f"[bench] wrote {OUT / 'REPORT.md'} and {results} ({len(figures)} benchmarks)")
    return code


def bench_files(selection: list[str], env: dict[str, str]) -> list[str] | None:
    """The benchmark files with a benchmark the selection keeps, in collection order (None: collection
    failed)."""
    collect = ["tests/bench", *selection, "--collect-only", "-q", "-p", "no:cacheprovider"]
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", *collect],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode not in (0, 5):  # 5: nothing selected
        print(listed.stdout + listed.stderr, file=sys.stderr)
        return None
    files = [line.split("::", 1)[0] for line in listed.stdout.splitlines() if "::" in line]
    return list(dict.fromkeys(files))


def _paid_order_cost(figures: dict[str, Any]) -> list[str]:
    for name, values in figures.items():
        if name.startswith("paid order") and "write units" in values:
            wcu = float(values["write units"])
            reads = 8.0
            summary = str(values.get("from nudge to stored commissions", ""))
            if "items read" in summary:
                reads = float(summary.split(";")[-1].split("items read")[0].strip() or 8)
            write_cost = wcu * PRICE_PER_MILLION_WRU
            read_cost = reads * PRICE_PER_MILLION_RRU
            return [
                "",
                "### DynamoDB on-demand cost per million paid orders (commission path)",
                "",
                "| item | per order | price per million units | per million orders |",
                "| --- | --- | --- | --- |",
                f"| write request units | {wcu:g} | ${PRICE_PER_MILLION_WRU} | ${write_cost:,.2f} |",
                f"| read request units (strongly consistent, ≤ 4 KB each) | {reads:g} | ${PRICE_PER_MILLION_RRU} | ${read_cost:,.2f} |",
                f"| total | | | **${write_cost + read_cost:,.2f}** |",
                "",
                "Prices: us-east-1 on-demand after AWS's November 2024 reduction; the notification accept path adds"
                " 1 conditional put (1 WRU) and 1 SQS request per notification.",
            ]
    return []


def render(figures: dict[str, Any], seconds: float) -> str:
    lines = [
        "# fenxiao benchmark report",
        "",
        f"Generated by `fenxiao bench` in {math.ceil(seconds)} s on {os.cpu_count()} cores."
        " Every ratio compares two figures measured in the same run; each benchmark file ran in a pytest"
        " process of its own. Stand-ins: moto (in-process, or the local"
        " stack over HTTP for throughput); moto's own request handling is inside every CPU figure.",
        "",
    ]
    for name, values in figures.items():
        lines += [f"## {name}", "", "| figure | value |", "| --- | --- |"]
        lines += [f"| {key} | {value} |" for key, value in values.items()]
        lines.append("")
    lines += _paid_order_cost(figures)
    return "\n".join(lines) + "\n"
