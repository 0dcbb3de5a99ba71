"""`rnnlm train`: its options come from the settings declared in config.py, one per setting."""

import inspect
from pathlib import Path

import typer

from .. import display
from ..config import DROPOUT_PLACES, SETTINGS, SETTINGS_BY_NAME, read_config_file
from ..errors import UsageError
from ..files import is_read
from ..outputs import last_path
from .app import app, examples, log_option, option

MODEL_PANEL, TRAIN_PANEL = "Model settings", "Training settings"


def _setting_parameters():
    """One keyword parameter per setting, default None ("not given": a --config file, a
    resumed checkpoint or the setting's own default decides), showing the real default."""
    params = []
    for s in SETTINGS.values():
        flags = (f"--{s.key}/--no-{s.key}",) if s.type is bool else (f"--{s.key}",)
        panel = MODEL_PANEL if s.section == "model" else TRAIN_PANEL
        params.append(inspect.Parameter(
            s.name, inspect.Parameter.KEYWORD_ONLY,
            default=option(None, *flags, help=s.help, shown=s.shown, rich_help_panel=panel),
            annotation=(str if s.parse is not None else s.type) | None))   # --max-time 30m: text
    return params


def _with_settings(command):
    """Give command (which takes **settings) one option per setting, for Typer to read."""
    signature = inspect.signature(command)
    fixed = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    command.__signature__ = signature.replace(parameters=fixed + _setting_parameters())
    return command


@app.command(epilog=examples(
    "rnnlm train corpora/jenny --cell gru --epochs 3",
    "rnnlm train ../shared/corpora/ptb --config benchmarks/ptb/zaremba-small.toml --max-time 30m",
    "zcat corpus.txt.gz | rnnlm train - --level char"))
@_with_settings
def train(
    corpus: Path = typer.Argument(..., help="A text file, a directory with *train*.txt (and "
                                  "*valid*.txt, *test*.txt; or WikiText's .tokens, .raw), or - "
                                  "for stdin."),
    out: Path = option(None, help="Where the best model goes; the latest state goes beside it "
                       "as X.last.npz.", shown="models/<corpus>-<cell>.npz"),
    resume: Path = option(None, help="Continue from a checkpoint (X.last.npz).",
                          shown="a new training"),
    force: bool = option(False, "--force", help="Overwrite an existing --out and its X.last.npz."),
    config: Path = option(None, help="Settings from a TOML file of setting = value (keys as "
                          "the flags: embed-size = 200).", shown="none"),
    json_lines: bool = option(False, "--json", help="One JSON object per event on stdout."),
    quiet: bool = option(False, "--quiet", help="Print only the saved model's path."),
    no_log: bool = log_option(),
    **settings,
):
    """Train a language model on a corpus; the best model by validation perplexity is saved.

    Every setting has a default (shown); a --config file overrides the defaults, and flags
    override the file.
    """
    from .. import runs
    from ..training import train as run_training

    given = {k: v for k, v in settings.items() if v is not None}
    if config is not None and out is not None:
        for path in (out, last_path(out)):          # the model and its X.last.npz
            if is_read(path, [config]):
                raise UsageError(f"--out '{out}' would write over '{path}', the --config "
                                 f"file: choose another --out")
    settings = read_config_file(config) if config is not None else {}
    if "dropout" in given:      # flags override the file: --dropout sets all three places
        for place in DROPOUT_PLACES:
            settings.pop(place, None)
    settings.update({k: SETTINGS_BY_NAME[k].parse(v) if SETTINGS_BY_NAME[k].parse else v
                     for k, v in given.items()})     # --max-time 30m -> 1800.0
    view = display.training_view(json_lines, quiet)
    log = None
    if runs.enabled(no_log):
        announce = None if json_lines or quiet else lambda i: display.print_note(f"run {i}")
        log = runs.TrainingLog(corpus, on_warning=display.print_warning, on_start=announce)
    try:
        run_training(corpus, out=out, resume=resume, force=force, progress=False,
                     callback=[view] if log is None else [log, view],
                     run_id=None if log is None else log.id, **settings)
    except BaseException as e:
        if log is not None:
            log.failed(e)
        raise
    finally:
        view.close()

