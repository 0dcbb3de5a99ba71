"""The `rnnlm probe` table: one column per model, one row per group of pairs."""

import json
from pathlib import Path

from rich.table import Table

from ..probe import BUCKETS
from . import stdout_console


def _cell(group):
    """'97.3% (1,050)': the accuracy of a group and its pair count."""
    if group is None:
        return "-"
    accuracy = "-" if group["accuracy"] is None else f"{group['accuracy']:.1%}"
    return f"{accuracy} ({group['pairs']:,})"


def print_probe(results, json_lines=False, console=None):
    """One JSON object per model, or a table: overall, by distance, by attractors."""
    if json_lines:
        for r in results:
            print(json.dumps(r), flush=True)
        return
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("accuracy (pairs)", no_wrap=True)
    for r in results:
        table.add_column(Path(r["model"]).name, justify="right", no_wrap=True)
    table.add_row("overall", *(_cell(r) for r in results))
    # Rows in bucket order, each present in some model (a bucket no model scored is left out).
    for key, title in (("by_distance", "distance"), ("by_attractors", "attractors")):
        present = {label for r in results for label in r[key]}
        labels = [b[2] for b in BUCKETS if b[2] in present] if key == "by_distance" else \
            sorted(present, key=int)
        for i, label in enumerate(labels):
            table.add_row(f"{title} {label}", *(_cell(r[key].get(label)) for r in results),
                          end_section=i == len(labels) - 1)
    (console or stdout_console()).print(table)
