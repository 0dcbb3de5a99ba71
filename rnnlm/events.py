"""The JSON form of training events: what `rnnlm train --json` prints, and what the runs log
keeps of a training (the same objects, so `rnnlm runs events` replays `--json`)."""

JSON_EVENTS = ("step", "epoch", "done")
JSON_KEYS = ("event", "epoch", "step", "tokens", "train_ppl", "valid_ppl", "lr", "grad_norm",
             "tokens_per_s", "elapsed_s", "out", "last", "run_id")


def to_json(event):
    """The object --json prints for a trainer event, or None for one it does not print
    (start, progress, warning...). Keys with no value (None) are left out."""
    if event["event"] not in JSON_EVENTS:
        return None
    return {k: event[k] for k in JSON_KEYS if event.get(k) is not None}
