"""The `rnnlm gradients` tables: per model, one row per lag, the mean gradient norm and its
ratio to lag 0 for each layer."""

import json

from rich.table import Table

from . import stdout_console


def _norm(value):
    return "-" if value is None else f"{value:.3e}"


def _ratio(value, first):
    return "-" if value is None or not first else f"{value / first:.3g}"


def print_gradients(results, json_lines=False, console=None):
    """One JSON line per model, or per model a table: lag, then norm and ratio per layer."""
    if json_lines:
        for result in results:
            print(json.dumps(result), flush=True)
        return
    console = console or stdout_console()
    for result in results:
        untrained = " (untrained)" if result["untrained"] else ""
        console.print(f"{result['model']}{untrained}: mean ||d loss_t / d h_(t-k)|| over "
                      f"{result['tokens']:,} tokens")
        layers = result["layers"]
        table = Table(show_edge=False, pad_edge=False)
        table.add_column("lag", justify="right", no_wrap=True)
        for layer in layers:
            table.add_column(f"layer {layer['layer']} norm", justify="right", no_wrap=True)
            table.add_column("ratio", justify="right", no_wrap=True)
        for row, lag in enumerate(layers[0]["lags"]):
            cells = []
            for layer in layers:
                norms = layer["norm"]
                cells += [_norm(norms[row]), _ratio(norms[row], norms[0])]
            table.add_row(str(lag), *cells)
        console.print(table)
