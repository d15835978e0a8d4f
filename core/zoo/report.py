"""What a run shows when it ends: the comparison table it echoes and the loss.png it writes."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .variant import VariantResult


def comparison_table(
    results: list[VariantResult], primary: str, units: dict[str, str] | None = None
) -> str:
    """A plain-text table of the variants' test metrics, primary metric first."""
    units = units or {}
    keys = sorted({k for r in results for k in r.test}, key=lambda k: (k != primary, k))
    header = ["model", "final loss", "SKS queries", *(f"{k} ({units[k]})" if k in units else k for k in keys)]
    rows = [
        [r.name, f"{r.final_loss:.4g}", str(r.sks_queries), *(f"{r.test.get(k, float('nan')):.4g}" for k in keys)]
        for r in results
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    fmt = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    lines = [fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)]
    return "\n".join(lines)


def plot_losses(
    results: list[VariantResult], primary: str, units: dict[str, str] | None = None
) -> bytes | None:
    """Training loss (left) and the primary test metric (right) of every variant, as PNG
    bytes (the caller writes them into the run folder), or None without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    unit = (units or {}).get(primary)
    label = f"{primary} ({unit})" if unit else primary
    fig, (ax, ax_test) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    for r in results:
        if r.losses:
            ax.plot(np.arange(1, len(r.losses) + 1), r.losses, label=r.name)
        points = [(s, m[primary]) for s, m in r.evals if primary in m]
        if points:
            ax_test.plot(*zip(*points), marker=".", label=r.name)
    ax.set(xlabel="step", ylabel="training loss", title="training loss")
    ax_test.set(xlabel="step", ylabel=label, title=f"{primary} on the test set (lower is better)")
    for axis, values in ((ax, [v for r in results for v in r.losses]),
                         (ax_test, [m.get(primary, 1) for r in results for _, m in r.evals])):
        if values and all(v > 0 for v in values):
            axis.set_yscale("log")
        if axis.get_legend_handles_labels()[0]:
            axis.legend()
        axis.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
