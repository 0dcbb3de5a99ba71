"""The JSON form of training events: what `rnnlm train --json` prints, and what the runs log
keeps of a training (the same objects, so `rnnlm runs events` replays `--json`)."""

import math

JSON_EVENTS = ("step", "epoch", "done")
JSON_KEYS = ("event", "epoch", "step", "tokens", "train_ppl", "valid_ppl", "averaged_steps", "lr",
             "grad_norm", "tokens_per_s", "elapsed_s", "reason", "out", "last", "run_id")


def to_json(event):
    """The object --json prints for a trainer event, or None for one it does not print
    (start, progress, warning...). Keys with no value are left out: None, and the NaN or
    infinite gradient norm of a skipped step (JSON has no such numbers)."""
    if event["event"] not in JSON_EVENTS:
        return None
    return {k: v for k in JSON_KEYS if (v := event.get(k)) is not None
            and not (isinstance(v, float) and not math.isfinite(v))}
