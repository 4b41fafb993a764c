"""Time until all bindings are Ready against N: the operator, the write floor before it and
the floor after it, from the newest result per N in a results directory (bench/results).
Writes <dir>/time-to-ready.png. Run by the benchmark (bench/report.ts) with the venv that
scripts/install-plotting.sh provides."""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: render straight to the file
import matplotlib.pyplot as plt  # noqa: E402


def newest_per_n(results: Path) -> list[dict]:
    # File names start with the date, so in sorted order a later run of an N replaces an earlier one.
    by_n = {}
    for file in sorted(results.glob("*.json")):
        result = json.loads(file.read_text())
        by_n[result["n"]] = result
    return [by_n[n] for n in sorted(by_n)]


def main() -> None:
    results = Path(sys.argv[1])
    points = newest_per_n(results)
    ns = [p["n"] for p in points]
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    ax.plot(ns, [p["readySeconds"] for p in points], "o-", color="#d62728", label="operator (all Ready; × its ratio to the floor before)")
    ax.plot(ns, [p["floor"]["seconds"] for p in points], "o-", color="#1f77b4", label="write floor, before")
    after = [p for p in points if p.get("floorAfter")]
    if after:
        ax.plot(
            [p["n"] for p in after],
            [p["floorAfter"]["seconds"] for p in after],
            "o--",
            color="#1f77b4",
            alpha=0.6,
            label="write floor, after",
        )
    for p in points:
        ax.annotate(
            f"{p['floorRatio']:.2f}×",
            (p["n"], p["readySeconds"]),
            textcoords="offset points",
            xytext=(0, 8),
            ha="center",
            color="#d62728",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.margins(x=0.08, y=0.12)  # room for the ratio above the top point
    ax.set_xticks(ns, [f"{n:,}" for n in ns])
    ax.set_xlabel("N bindings")
    ax.set_ylabel("seconds (log scale)")
    ax.set_title("mlsecrets: time until all bindings are Ready, against the write floor")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(results / "time-to-ready.png")


if __name__ == "__main__":
    main()
