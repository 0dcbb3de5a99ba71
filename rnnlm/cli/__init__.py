"""The command line: thin Typer commands over the Python API (Typer is imported only here,
in this package). One module per group of commands: ``train``; ``text`` (eval, generate,
inspect-gates); ``probe`` and ``gradients`` (why gates win, measured); ``runs`` (the runs
log); ``models`` (models, info); ``interop`` (export, import: PyTorch); ``app`` holds the
application they register with and the options they share.

Errors rnnlm expects (RnnlmError) and usage errors Typer finds become one line on stderr,
``rnnlm: error: ...``, and exit 2 (bad usage) or 1 (bad files, data, checkpoints).
"""

import os
import sys

import typer

from .. import display
from ..errors import RnnlmError
from . import gradients, interop, models, probe, runs, text, train  # noqa: F401  (registers)
from .app import OutputClosed, _TyperUsageError, app

__all__ = ["app", "main"]


def main():
    """Console entry point: one line on stderr and a clear exit code for expected errors."""
    from ..training import TrainingInterrupted

    try:
        code = app(standalone_mode=False, prog_name="rnnlm")
    except TrainingInterrupted as e:
        display.print_warning(str(e))
        code = e.exit_code
    except RnnlmError as e:
        display.print_error(str(e))
        code = e.exit_code
    except _TyperUsageError as e:
        if type(e).__name__ == "NoArgsIsHelpError":     # bare `rnnlm`: the help was shown
            sys.exit(0)
        hint = _model_hint(e)
        message = e.format_message().replace("\n", " ")
        display.print_error((message.rstrip(".") + hint if hint else message) +
                            f" (see '{_command_path(e.ctx)} --help')")
        code = 2
    except typer.Abort:
        code = 130
    except OutputClosed:
        code = 0         # `rnnlm ... | head` closed the pipe: not an error
    except OSError as e:
        if e.filename is None:          # not about a file the user named: a bug to see whole
            raise
        # a path the system refuses where rnnlm did not foresee it (a name too long to look
        # up, a loop of links): the file's problem, said in one line
        display.print_error(f"'{e.filename}': {e.strerror or e}")
        code = 1
    except MemoryError as e:
        display.print_error(f"not enough memory: {e or 'an allocation failed'}; ask for less "
                            f"(smaller sizes, fewer samples, a shorter --length)")
        code = 1
    _flush_stdout()
    sys.exit(code if isinstance(code, int) else 0)


def _command_path(ctx):
    """'rnnlm gradients' for an error of that command. An option missing its value fails
    before the command's context exists (ctx is the group's): its name is then in argv."""
    if ctx is not None and ctx.parent is not None:
        return ctx.command_path
    words, group = ["rnnlm"], typer.main.get_command(app)
    for arg in sys.argv[1:]:
        group = getattr(group, "commands", {}).get(arg)
        if group is None:
            break
        words.append(arg)
    return " ".join(words)


def _model_hint(e):
    """Where the model was given as the other commands take it: '; a model is given as
    --model m.npz' for generate and inspect-gates given one as an argument, and '; the model
    comes first' for eval given only the text."""
    command = e.ctx.command if e.ctx is not None else None
    if command is None:
        return ""
    message, words = e.format_message(), sys.argv[1:]
    if "unexpected extra argument" in message and \
            any("--model" in param.opts for param in command.params):
        for before, word in zip(["", *words], words):
            if word.endswith(".npz") and not word.startswith("-") and before != "--model":
                return f"; a model is given as --model {word}"
    if command.name == "eval" and "Missing argument 'files'" in message:
        valued = {opt for param in command.params if param.param_type_name == "option"
                  and not param.is_flag for opt in param.opts}
        given = [w for before, w in zip(words, words[1:])
                 if not w.startswith("-") and before not in valued]
        if len(given) == 1 and not given[0].endswith(".npz"):
            return f"; the model comes first: rnnlm eval MODEL.npz {given[0]}"
    return ""


def _flush_stdout():
    """Flush stdout now; if its reader has gone, point it at /dev/null so that Python's own
    flush at exit finds no broken pipe to print a traceback about."""
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
