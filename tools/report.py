"""The report of a `make run`: one page that gathers every notebook's key metrics and figures.

Each notebook writes into its output folder a ``metrics.json`` (a flat mapping of names to numbers or strings)
and its key figures as PNG files (``helpers.record``: :func:`save_metrics` and :func:`save_figure`).
:func:`write_report` reads them from a run folder and writes ``report.md`` and ``report.html`` beside them.
"""

import html
import json
from pathlib import Path

from helpers.files import atomic_write
from helpers.record import METRICS_FILE

from .targets import check_targets


def _format(value):
    if isinstance(value, float):
        return f"{value:.4g}"  # also "inf", "-inf", "nan"
    return str(value)


def _flatten(metrics, prefix=""):
    """{"variants": {"tanh": 24.4}} -> {"variants: tanh": 24.4}, so nested metrics read as table rows."""
    flat = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}: "))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _sections(run_dir, timings):
    """(notebook name, seconds, metrics dict, [figure paths relative to run_dir]) for each notebook that ran."""
    for name in timings:
        folder = Path(run_dir) / name
        metrics_path = folder / METRICS_FILE
        metrics = _flatten(json.loads(metrics_path.read_text())) if metrics_path.exists() else {}
        figures = sorted(p.relative_to(run_dir) for p in folder.glob("*.png")) if folder.exists() else []
        yield name, timings[name], metrics, figures


def write_report(run_dir, timings):
    """Write run_dir/report.md and run_dir/report.html; return the path of the HTML page."""
    run_dir = Path(run_dir)
    sections = list(_sections(run_dir, timings))
    total = sum(timings.values())
    md = [f"# Report of the run {run_dir.name}", "",
          f"{len(timings)} notebook(s), {total:.0f} s in all. Executed notebooks are beside this file.", "",
          "| notebook | seconds |", "|---|---|"]
    md += [f"| {name} | {seconds:.0f} |" for name, seconds, _, _ in sections]
    page = [f"<h1>Report of the run {html.escape(run_dir.name)}</h1>",
            f"<p>{len(timings)} notebook(s), {total:.0f} s in all. Executed notebooks are beside this file.</p>"]
    targets = check_targets(run_dir, timings)
    verdict = {True: "met", False: "NOT MET", None: "not measured"}
    md += ["", "## Course targets", "", "| target | measured | |", "|---|---|---|"]
    md += [f"| {t['target']} | {t['measured']} | {verdict[t['met']]} |" for t in targets]
    page += ["<h2>Course targets</h2><table border='1' cellpadding='3'><tr><th>target</th><th>measured</th><th></th></tr>"
             + "".join(f"<tr><td>{html.escape(t['target'])}</td><td>{html.escape(t['measured'])}</td>"
                       f"<td>{verdict[t['met']]}</td></tr>" for t in targets) + "</table>"]
    for name, seconds, metrics, figures in sections:
        md += ["", f"## {name} ({seconds:.0f} s)", "", "| metric | value |", "|---|---|"]
        md += [f"| {k} | {_format(v)} |" for k, v in sorted(metrics.items())]
        md += [f"![{f.stem}]({f.as_posix()})" for f in figures]
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(_format(v))}</td></tr>"
                       for k, v in sorted(metrics.items()))
        page += [f"<h2>{html.escape(name)} ({seconds:.0f} s)</h2>",
                 f"<table border='1' cellpadding='3'><tr><th>metric</th><th>value</th></tr>{rows}</table>"]
        page += [f"<figure><img src='{html.escape(f.as_posix())}' style='max-width:100%'>"
                 f"<figcaption>{html.escape(f.stem)}</figcaption></figure>" for f in figures]
    atomic_write(run_dir / "report.md", "\n".join(md) + "\n")
    atomic_write(run_dir / "report.html", "<!doctype html><meta charset='utf-8'><title>Report</title>"
                                         "<body style='font-family:sans-serif;max-width:1100px;margin:auto'>"
                                         + "\n".join(page) + "</body>\n")
    return run_dir / "report.html"
