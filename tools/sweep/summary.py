"""What a sweep shows at the end: a table of its runs, and each metric plotted against each swept parameter."""

import math

from helpers.files import atomic_output
from tools.sweep.plan import plain
from tools.sweep.store import flat_metrics


def numeric_metrics(results):
    """Names of the metrics that are numbers in at least one successful run, in order of appearance."""
    names = {}
    for r in results:
        for name, value in flat_metrics(r.get("metrics") or {}).items():
            if r["status"] == "ok" and isinstance(value, (int, float)) and not isinstance(value, bool):
                names[name] = True
    return list(names)


def summary_table(sweep, results, max_metrics=6):
    """The runs as a text table: swept parameters, status, the first metrics, seconds, error."""
    import pandas as pd

    metrics = numeric_metrics(results)[:max_metrics]
    rows = []
    for r in results:
        flat = flat_metrics(r.get("metrics") or {})
        rows.append({**{p: plain(r["params"][p]) for p in sweep.swept}, "status": r["status"],
                     **{m: flat.get(m, "") for m in metrics}, "seconds": round(r["seconds"], 1),
                     "error": r["error"][:70]})
    return pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.4g}")


def plot_results(sweep, results, max_metrics=12):
    """DIR/plot_<notebook>_vs_<swept names>.png: for each swept parameter and numeric metric, a panel of the
    metric against the parameter, one line per combination of the other swept parameters (four panels a row).
    Returns its path, or None when no run succeeded with a numeric metric."""
    from matplotlib.figure import Figure

    ok = [r for r in results if r["status"] == "ok"]
    panels = [(name, metric) for name in sweep.swept for metric in numeric_metrics(ok)[:max_metrics]]
    if not panels:
        return None
    columns = min(4, len(panels))
    rows = math.ceil(len(panels) / columns)
    fig = Figure(figsize=(0.5 + 3.6 * columns, 0.6 + 2.8 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).flat
    for ax, (name, metric) in zip(axes, panels):
        values = sweep.grid[name]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        position = {plain(v): v if numeric else i for i, v in enumerate(values)}
        others = [p for p in sweep.swept if p != name]
        lines = {}
        for r in ok:
            y = flat_metrics(r["metrics"]).get(metric)
            if isinstance(y, (int, float)) and not isinstance(y, bool):
                label = ", ".join(f"{p}={plain(r['params'][p])}" for p in others)
                lines.setdefault(label, []).append((position[plain(r["params"][name])], y))
        for label, points in lines.items():
            ax.plot(*zip(*sorted(points)), marker="o", label=label or None)
        if numeric and min(values) > 0 and max(values) / min(values) >= 50:
            ax.set_xscale("log")                # latent sizes 8..512, learning rates 1e-4..1e-2
        if not numeric or len(values) <= 8:
            ax.set_xticks([position[plain(v)] for v in values], [plain(v) for v in values])
        ax.set(xlabel=name, ylabel=metric)
        ax.grid(alpha=0.3)
        if 1 < len(lines) <= 6:
            ax.legend(fontsize="x-small")
    for ax in axes:                             # the empty places of the last row
        ax.set_visible(False)
    fig.suptitle(f"{sweep.notebook.name}: {len(ok)} of {len(results)} runs ok")
    path = sweep.out / f"plot_{sweep.notebook.stem}_vs_{'_'.join(sweep.swept)}.png"
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=100)
    return path
