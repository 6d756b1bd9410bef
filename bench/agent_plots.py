"""The agent benchmark's plots, written next to bench/README.md: agent_latency.png (CDFs of the two
latencies), agent_drain.png (the outbox drain over time), agent_resources.png (RSS over time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.agent_drain import Drain, RawDrain
from bench.agent_resources import Resources
from bench.harness import percentile

HERE = Path(__file__).resolve().parent


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _cdf(ax: Any, values: list[float], label: str) -> None:
    ordered = sorted(values)
    ax.step(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], where="post", label=label)


def latency(shown: list[float], commit: list[float], agents: dict[str, list[float]], raw: list[float]) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, title, series, target in (
        (
            axes[0],
            "input complete → verdict shown",
            [("station → on_state", shown), ("Outbox.append alone", commit)],
            20,
        ),
        (
            axes[1],
            "input complete → PUBACK",
            [*agents.items(), ("bare paho QoS 1", raw)],
            50,
        ),
    ):
        for label, values in series:
            _cdf(ax, values, f"{label}: p50 {percentile(values, 50):.1f}, p95 {percentile(values, 95):.1f} ms")
        ax.axvline(target, color="red", linestyle="--", linewidth=1, label=f"target p95 < {target} ms")
        ax.axhline(0.95, color="grey", linestyle=":", linewidth=1)
        ax.set_xscale("log")
        ax.set_xlabel("ms (log)")
        ax.set_ylabel("fraction of passages")
        ax.set_title(title)
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(HERE / "agent_latency.png", dpi=110)
    plt.close(fig)


def drain(result: Drain, raw: RawDrain) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.2))
    ax.plot(
        [t for t, _ in result.depth],
        [result.n - d for _, d in result.depth],
        label="agent: rows deleted (central's receipts)",
    )
    ax.plot(result.acks, range(1, len(result.acks) + 1), label="agent: PUBACKs")
    ax.plot(raw.acks, range(1, len(raw.acks) + 1), label="bare paho: PUBACKs", linestyle="--")
    ax.plot([raw.received_at], [result.n], "o", label="bare paho: all received by the subscriber")
    ax.set_xlabel("s since the broker came back (CONNACK)")
    ax.set_ylabel("verdicts")
    ax.set_title(f"outbox drain after an outage: {result.n:,} verdicts, {result.rate:,.0f}/s (target ≥ 2,000/s)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "agent_drain.png", dpi=110)
    plt.close(fig)


def resources(res: Resources) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for sampled in (res.busy, res.cli, res.idle, res.deployed):
        label = f"{sampled.label}: max {sampled.max_rss_mb:.0f} MB, CPU {sampled.cpu_percent:.0f} %"
        ax.plot([t for t, _ in sampled.rss_mb], [mb for _, mb in sampled.rss_mb], label=label)
    ax.axhline(150, color="red", linestyle="--", linewidth=1, label="target < 150 MB")
    ax.axhline(res.floor_mb, color="grey", linestyle=":", linewidth=1, label=f"import floor {res.floor_mb:.0f} MB")
    ax.set_xlabel("s since start")
    ax.set_ylabel("RSS, MB")
    ax.set_title("agent memory: simulated station, and as deployed with a clip as its camera")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "agent_resources.png", dpi=110)
    plt.close(fig)
