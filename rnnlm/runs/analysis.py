"""Reading runs side by side: the settings that differ, and learning curves."""

import json

from ..errors import UsageError


def compare(runs):
    """{"differ": {key: [value per run]}, "metrics": [metrics per run]}: ``differ`` holds exactly
    the settings whose values are not all equal (one a run lacks counts as None)."""
    keys = dict.fromkeys(k for r in runs for k in r["settings"])
    values = {k: [r["settings"].get(k) for r in runs] for k in keys}
    differ = {k: v for k, v in values.items() if len({json.dumps(x) for x in v}) > 1}
    return {"differ": differ, "metrics": [r["metrics"] for r in runs]}


# --- curves ----------------------------------------------------------------------------------

CURVE_METRICS = ("valid_ppl", "train_ppl", "lr", "grad_norm")
CURVE_AXES = ("tokens", "time", "epoch")


def curve(events, metric="valid_ppl", x="tokens"):
    """A training's learning curve from its logged events -> (xs, ys).

    valid_ppl: every validation (epoch ends and --eval-every steps). train_ppl, lr: the step
    events (each over the steps since the one before), or the epoch events when the run logged
    no steps; grad_norm: the step events. x: training tokens, training seconds, or epochs
    (fractional for step events: tokens over the tokens of one epoch).
    """
    if metric not in CURVE_METRICS:
        raise UsageError(f"--metric must be one of {', '.join(CURVE_METRICS)}, got {metric!r}")
    if x not in CURVE_AXES:
        raise UsageError(f"--x must be one of {', '.join(CURVE_AXES)}, got {x!r}")
    kinds = {"step", "epoch"}
    if metric in ("train_ppl", "lr", "grad_norm") and any(e.get("event") == "step"
                                                          for e in events):
        kinds = {"step"}
    whole = next((e for e in events if e.get("event") == "epoch" and e.get("epoch")), None)
    per_epoch = whole["tokens"] / whole["epoch"] if whole else None
    points = []                         # (tokens, x, y)
    for e in events:
        if e.get("event") not in kinds or e.get(metric) is None:
            continue
        if x == "epoch" and per_epoch is None:
            continue                    # no epoch has ended: epochs cannot be placed yet
        # A training resumed after a kill repeats the steps since its last checkpoint: the
        # repeated ones replace what the killed process had logged past that point.
        while points and points[-1][0] > e["tokens"]:
            points.pop()
        place = {"tokens": e["tokens"], "time": e["elapsed_s"],
                 "epoch": e["tokens"] / per_epoch if per_epoch else None}[x]
        points.append((e["tokens"], place, e[metric]))
    return [p[1] for p in points], [p[2] for p in points]
