"""The ``hand3d`` command: every subcommand has --help; unknown ones fail with one line."""
import shutil
import subprocess
import sys

import pytest

from hand3d_ros import cli


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_subcommand_prints_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([name, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: hand3d {name}")
    assert cli.COMMANDS[name].split(" (")[0] in " ".join(out.split())


def test_unknown_subcommand_one_line_nonzero(capsys):
    assert cli.main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown command 'frobnicate'" in err


def test_no_subcommand_prints_help_and_fails(capsys):
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_installed_entry_point_runs():
    """The console script the package installs is the same CLI (a real process)."""
    exe = shutil.which("hand3d", path=str(__import__("pathlib").Path(sys.executable).parent))
    if exe is None:
        pytest.skip("the hand3d console script is not installed next to this Python")
    done = subprocess.run([exe, "nope"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert "unknown command 'nope'" in done.stderr


def test_python_dash_m_reports_command_errors_in_one_line(tmp_path):
    """``python -m hand3d_ros.cli`` behaves like the console script (no traceback)."""
    done = subprocess.run([sys.executable, "-m", "hand3d_ros.cli", "infer", str(tmp_path / "missing.png")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"hand3d infer: no such file or folder: {tmp_path / 'missing.png'}"]


def test_train_with_a_missing_weight_file_fails_in_one_line(tmp_path, capsys):
    missing = tmp_path / "posenet.pt"
    code = cli.main(["train", "poseprior", "--data", str(tmp_path), "--out", str(tmp_path / "run"),
                     "--maps-from", str(missing)])
    err = capsys.readouterr().err
    assert code == 1 and err.strip().splitlines() == [f"hand3d train: no such weight file: {missing}"]


@pytest.mark.parametrize("args, size", [(("320x240", "--size"), (320, 240)), (("224X168", "--input-size", 8, None, 8),
                                                                            (224, 168))])
def test_parse_wxh_reads_width_then_height(args, size):
    assert cli.parse_wxh(*args) == size


@pytest.mark.parametrize("args, message", [
    (("320", "--size"), "--size must be WxH"), (("axb", "--size"), "must be WxH"),
    (("8x240", "--size"), ">= 16"), (("5000x240", "--size", 16, 4096), "<= 4096"),
    (("220x168", "--input-size", 8, None, 8), "a multiple of 8")])
def test_parse_wxh_names_the_option_and_the_rule(args, message):
    with pytest.raises(ValueError, match=message):
        cli.parse_wxh(*args)
