"""Draws bench/cost_per_call.png from the per-call costs bench/verify.py wrote."""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(source, target):
    with open(source) as f:
        costs = json.load(f)
    names = list(costs)
    labels = ["PL/pgSQL +\npgcrypto HS256" if n == "plpgsql_hs256" else n for n in names]
    values = [costs[n] for n in names]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    bars = ax.bar(labels, values,
                  color=["#c44e52" if n == "plpgsql_hs256" else "#4c72b0" for n in names])
    ax.set_yscale("log")
    ax.set_ylabel("microseconds per call (log scale)")
    ax.set_title("Cost of one verification inside PostgreSQL 15 (median, 2-core machine)")
    for bar, value in zip(bars, values):
        ax.annotate(f"{value:.1f}", (bar.get_x() + bar.get_width() / 2, value),
                    ha="center", va="bottom", fontsize=9)
    fig.tight_layout()
    fig.savefig(target)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
