"""Help that answers: every option shows its default, every command ends with examples, and
shell completion completes commands and options."""

import pytest
import typer

from conftest import run_cli
from rnnlm.cli import app
from rnnlm.cli.app import COMMAND_ORDER

# Options with no default to show: they act at once and exit.
ACTIONS = {"--help", "--version", "--install-completion", "--show-completion"}


def _commands(group, prefix="rnnlm"):
    """(name, click command) for every command and group, depth first."""
    yield prefix, group
    for name, command in getattr(group, "commands", {}).items():
        yield from _commands(command, f"{prefix} {name}")


def test_every_option_shows_its_default_and_every_command_has_examples():
    for name, command in _commands(typer.main.get_command(app)):
        for param in command.params:
            flags = set(param.opts)
            if param.param_type_name != "option" or flags & ACTIONS:
                continue
            assert "[default: " in (param.help or ""), f"{name} {param.opts[0]}: no default"
        if name != "rnnlm":
            assert "Example" in (command.help or "") + (command.epilog or ""), name


def test_rendered_help_keeps_the_defaults_and_examples(tmp_path):
    text = run_cli("runs", "plot", "--help", cwd=tmp_path, env={"COLUMNS": "160"}).stdout
    assert "[default: valid_ppl]" in text and "[default: tokens]" in text
    assert "rnnlm runs plot 3kq 9x1 a7c" in text
    text = run_cli("generate", "--help", cwd=tmp_path, env={"COLUMNS": "160"}).stdout
    assert "[default: the shipped model]" in text and "while read" in text


def test_shell_completion_completes_commands_and_options(tmp_path):
    def complete(words, index):
        return run_cli(cwd=tmp_path, env={"_RNNLM_COMPLETE": "complete_bash",
                                          "COMP_WORDS": words, "COMP_CWORD": index}).stdout
    assert complete("rnnlm runs com", 2).split() == ["compare"]
    assert complete("rnnlm train x --hidd", 3).split() == ["--hidden-size"]


@pytest.mark.parametrize("args,path", [
    (["gradients", "--max-lag"], "rnnlm gradients"),           # missing value: before its context
    (["gradients", "--max-lag", "x"], "rnnlm gradients"),
    (["runs", "plot", "last", "--metric"], "rnnlm runs plot"),
    (["runs", "--limit"], "rnnlm runs"),
    (["runs", "bogus"], "rnnlm runs"),
    (["--bogus"], "rnnlm"),
])
def test_a_usage_error_points_to_the_help_of_its_command(tmp_path, args, path):
    proc = run_cli(*args, cwd=tmp_path, check=False)
    assert proc.returncode == 2
    [line] = proc.stderr.splitlines()
    assert line.startswith("rnnlm: error: ") and line.endswith(f" (see '{path} --help')")


def test_the_help_lists_train_first_then_what_reads_a_model_then_logs_and_interop(tmp_path):
    text = run_cli("--help", cwd=tmp_path, env={"COLUMNS": "160"}).stdout
    panel = text[text.index("Commands"):]
    panel = panel[:panel.index("╰")]
    listed = [line.split()[1] for line in panel.splitlines()
              if len(line.split()) > 1 and line.split()[1] in COMMAND_ORDER]
    assert listed == list(COMMAND_ORDER)
    assert set(COMMAND_ORDER) == set(typer.main.get_command(app).commands)


@pytest.mark.parametrize("args", [
    ["generate", "m.npz", "--seed", "Jenny has"],
    ["inspect-gates", "m.npz", "Jenny has"],
])
def test_a_model_given_as_an_argument_is_told_to_use_model(tmp_path, args):
    proc = run_cli(*args, cwd=tmp_path, check=False)
    assert proc.returncode == 2
    [line] = proc.stderr.splitlines()
    assert "; a model is given as --model m.npz (see 'rnnlm " in line
    # an extra argument that is no model gets no such hint
    proc = run_cli("generate", "--seed", "a", "b", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "--model" not in proc.stderr


@pytest.mark.parametrize("args", [["test.txt"], ["--batch-size", "5", "test.txt"],
                                  ["--json", "test.txt"]])
def test_eval_given_only_the_text_says_the_model_comes_first(tmp_path, args):
    proc = run_cli("eval", *args, cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert proc.stderr == "rnnlm: error: Missing argument 'files'; the model comes first: " \
                          "rnnlm eval MODEL.npz test.txt (see 'rnnlm eval --help')\n"
    proc = run_cli("eval", "m.npz", cwd=tmp_path, check=False)     # a model and no text
    assert proc.stderr == "rnnlm: error: Missing argument 'files'. (see 'rnnlm eval --help')\n"
