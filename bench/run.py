"""Run every benchmark, write bench/results.json and the results table in bench/README.md.

    python -m bench.run            the full settings (the figures quoted in bench/README.md)
    python -m bench.run --quick    smaller runs, for a quick look
    python -m bench.run --only qr --only central

Each benchmark module runs in a process of its own, so one's threads, pinning and memory do not
bend another's figures.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench.harness import Figure

HERE = Path(__file__).resolve().parent
START, END = "<!-- results:start -->", "<!-- results:end -->"
console = Console()


def modules() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def run_one(name: str, quick: bool) -> tuple[list[Figure], float, str]:
    """Benchmark `name` in a child process (`python -m bench.run --figures-of NAME`)."""
    args = [sys.executable, "-m", "bench.run", "--figures-of", name, *(["--quick"] if quick else [])]
    t0 = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, cwd=HERE.parent)
    seconds = time.monotonic() - t0
    if done.returncode != 0 or "\x1eFIGURES" not in done.stdout:
        return [], seconds, (done.stderr or done.stdout)[-2000:]
    payload = done.stdout.rsplit("\x1eFIGURES", 1)[1]
    return [Figure.model_validate(f) for f in json.loads(payload)], seconds, ""


def figures_of(name: str, quick: bool) -> None:
    """What the child process of `run_one` does: run the benchmark, print its figures after a marker
    (the benchmark may print other things)."""
    bench = importlib.import_module(f"bench.bench_{name}")
    print("\x1eFIGURES" + json.dumps([f.model_dump() for f in bench.run(quick)]))


def table_markdown(figures: list[Figure]) -> str:
    lines = [
        "| benchmark | figure | value | baseline (same run) | ratio | target | met |",
        "|---|---|---:|---|---:|---|:-:|",
    ]
    for f in figures:
        met = {True: "yes", False: "**no**", None: ""}[f.met]
        lines.append(
            f"| {f.bench} | {f.name} | {f.value:,.3g} {f.unit} | {f.baseline_name}: {f.baseline:,.3g} {f.unit} "
            f"| {f.ratio:.2f} | {f.target} | {met} |"
        )
    return "\n".join(lines)


def update_readme(figures: list[Figure], when: str, quick: bool) -> None:
    readme = HERE / "README.md"
    text = readme.read_text() if readme.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    mode = "quick" if quick else "full"
    body = f"\nLatest run: {when} ({mode} settings, {platform.machine()}, {os.cpu_count()} cores).\n\n"
    readme.write_text(head + START + body + table_markdown(figures) + "\n" + END + tail)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", action="append", choices=modules())
    parser.add_argument("--figures-of", choices=modules(), help="run one in this process, print its figures (JSON)")
    args = parser.parse_args()
    if args.figures_of:
        figures_of(args.figures_of, args.quick)
        return 0
    names = args.only or modules()
    figures: list[Figure] = []
    failed: dict[str, str] = {}
    with Progress(console=console) as progress:
        task = progress.add_task("benchmarks", total=len(names))
        for name in names:
            progress.update(task, description=f"bench_{name}")
            got, seconds, error = run_one(name, args.quick)
            figures += got
            if error:
                failed[name] = error
            progress.console.print(
                f"bench_{name}: {len(got)} figures in {seconds:.0f} s" + (" (failed)" if error else "")
            )
            progress.advance(task)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    previous = json.loads((HERE / "results.json").read_text())["figures"] if (HERE / "results.json").exists() else []
    kept = [f for f in previous if f["bench"] not in names]  # a partial run keeps the others' figures
    all_figures = [Figure.model_validate(f) for f in kept] + figures
    (HERE / "results.json").write_text(
        json.dumps(
            {"when": when, "quick": args.quick, "figures": [f.model_dump() | {"ratio": f.ratio} for f in all_figures]},
            indent=1,
            ensure_ascii=False,
        )
        + "\n"
    )
    update_readme(all_figures, when, args.quick)
    table = Table("benchmark", "figure", "value", "baseline", "ratio", "met")
    for f in figures:
        table.add_row(f.bench, f.name, f"{f.value:,.3g} {f.unit}", f"{f.baseline:,.3g}", f"{f.ratio:.2f}", str(f.met))
    console.print(table)
    for name, error in failed.items():
        console.print(f"[red]bench_{name} failed:[/red]\n{error}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
