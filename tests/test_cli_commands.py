"""One module per command (fasrnet/commands/, docs/architecture.md): the command line imports only the command it
runs, so a stage's code is its command module's closure (docs/workflow.md, "Code is a dependency")."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from fasrnet.cli import COMMANDS, build_parser, chosen_command, command_module

COMMANDS_DIR = Path(__file__).resolve().parents[1] / "fasrnet" / "commands"


@pytest.mark.parametrize("argv,command", [
    (["train", "--run", "x"], "train"),
    (["--params", "p.yaml", "-S", "loss.alpha=0.3", "--set", "train=1", "train", "--run", "x"], "train"),
    (["--params=p.yaml", "-Sloss.alpha=0.3", "evaluate", "--run", "x"], "evaluate"),
    (["pretrain-backbone"], "pretrain-backbone"),
    (["--help"], None),
    ([], None),
    (["trian", "--run", "x"], None),  # no such command: every parser is built, argparse names the choices
])
def test_the_command_word_is_found_past_the_global_options(argv, command):
    assert chosen_command(argv) == command


def test_every_command_has_its_module_and_every_module_is_a_command():
    modules = {p.stem for p in COMMANDS_DIR.glob("*.py")} - {"__init__", "common"}
    assert modules == {name.replace("-", "_") for name in COMMANDS}
    listed = build_parser().format_help()  # `fasrnet --help`: every command with its help line
    for name in COMMANDS:
        assert callable(command_module(name).register), name
        assert re.search(rf"^ +{re.escape(name)}\s", listed, re.M), name


def test_running_a_command_imports_no_other_command():
    code = ("import sys\nfrom fasrnet.cli import build_parser, chosen_command\n"
            "argv = ['-S', 'loss.alpha=0.3', 'train', '--run', 'main_syn17']\n"
            "build_parser(chosen_command(argv)).parse_args(argv)\n"
            "print(*sorted(m for m in sys.modules if m.startswith('fasrnet.commands')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["fasrnet.commands", "fasrnet.commands.common", "fasrnet.commands.train"]


def test_an_unknown_command_is_answered_with_the_commands_there_are(capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser(chosen_command(["trian"])).parse_args(["trian"])
    assert exc.value.code == 2
    assert "invalid choice: 'trian'" in capsys.readouterr().err
