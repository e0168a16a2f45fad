"""The one convention of every digits-* command: --model, exit codes, one-line errors, --help with
examples, never replacing a user's path, and a quiet start (no TensorFlow start-up log)."""

import argparse
import os
import re
import sys

import pytest
from hydra import initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from digits import cli, evaluate, export, handwriting, predict, report
from digits.models import model_files
from digits.models import model_option
from helpers import PHOTOS, SMALL_CNN, run_cli

PARSERS = {"digits-predict": predict.build_parser, "digits-evaluate": evaluate.build_parser,
           "digits-export": export.build_parser, "digits-report": report.build_parser,
           "digits-handwriting": handwriting.build_parser}
MAINS = {"digits-predict": predict.main, "digits-evaluate": evaluate.main,
         "digits-export": export.main, "digits-report": report.main,
         "digits-handwriting": handwriting.main}
# What TensorFlow 2.21 prints on start-up (absl before InitializeLog, oneDNN, CUDA, CPU flags).
TF_START_UP = re.compile(r"absl::InitializeLog|oneDNN|cuda|cuInit|cpu_feature_guard|"
                         r"^[IWE]0000 ", re.IGNORECASE | re.MULTILINE)


@pytest.mark.parametrize("prog", PARSERS)
def test_every_help_has_a_description_examples_and_the_exit_codes(prog):
    text = PARSERS[prog]().format_help()
    assert text.startswith(f"usage: {prog} ")
    description = text.split("\n\n")[1]
    assert len(description) > 40 and description.rstrip().endswith((".", ")"))
    examples = text.split("examples:\n")[1].split("\n\n")[0].splitlines()
    assert sum(line.strip().startswith(prog) for line in examples) >= 2
    assert "exit codes: 0 done; 1 some inputs or outputs failed" in text
    assert "2 usage error, unloadable model or refused overwrite; 130 interrupted" in text
    assert "--verbose" in text


@pytest.mark.parametrize("prog", ["digits-predict", "digits-evaluate", "digits-export"])
def test_the_model_is_given_as_model_path(prog):
    options = {option for action in PARSERS[prog]()._actions for option in action.option_strings}
    assert "--model" in options


@pytest.mark.parametrize("prog", PARSERS)
def test_a_usage_error_is_one_line_and_exit_2(prog, capsys):
    with pytest.raises(SystemExit) as stop:
        MAINS[prog](["--no-such-option"])
    assert stop.value.code == cli.USAGE
    error = capsys.readouterr().err
    assert error.startswith(f"{prog}: ") and error.count("\n") == 1
    assert error.endswith(f"(see {prog} --help)\n")


@pytest.mark.parametrize("prog, arguments", [
    ("digits-predict", [str(PHOTOS / "Humor-Sans_4_0.jpg")]),
    ("digits-evaluate", []),
    ("digits-export", ["--format", "tflite"]),
])
def test_no_model_is_exit_2_asking_for_model(prog, arguments, capsys, monkeypatch):
    # What happens while the package ships no model (tests/test_shipped_models.py: when it does).
    monkeypatch.setattr(model_files, "default_model_path", lambda kind="digit": None)
    assert MAINS[prog](arguments) == cli.USAGE
    assert capsys.readouterr().err == (f"{prog}: no model given: add --model PATH (a run folder "
                                       "or a .keras file)\n")


def test_the_shipped_model_is_used_when_there_is_one(monkeypatch):
    monkeypatch.setattr(model_files, "default_model_path", lambda kind="digit": SMALL_CNN)
    args = argparse.Namespace(model=None, deprecated_model=None)
    assert model_option.model_path("digits-predict", args) == SMALL_CNN
    args.model = "elsewhere.keras"
    assert str(model_option.model_path("digits-predict", args)) == "elsewhere.keras"


def test_a_positional_run_folder_is_deprecated_but_taken(capsys):
    args = export.build_parser().parse_args(["runs/a", "--format", "tflite"])
    assert str(model_option.model_path("digits-export", args)) == "runs/a"
    assert capsys.readouterr().err == ("digits-export: the positional RUN_DIR is deprecated; use "
                                       "--model RUN_DIR\n")
    both = export.build_parser().parse_args(["runs/a", "--model", "runs/b", "--format", "tflite"])
    with pytest.raises(cli.CommandError, match="give the model once"):
        model_option.model_path("digits-export", both)


def test_existing_paths_are_refused_unless_overwrite(tmp_path):
    cli.refuse_existing(tmp_path / "new", False, "--out")  # absent: fine
    (tmp_path / "empty").mkdir()
    cli.refuse_existing(tmp_path / "empty", False, "--out")  # an empty folder holds nothing
    (tmp_path / "file").write_text("x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "kept").write_text("x")
    for name in ("file", "full"):
        with pytest.raises(cli.CommandError) as refused:
            cli.refuse_existing(tmp_path / name, False, "--out")
        assert refused.value.status == cli.USAGE
        assert str(refused.value) == (f"--out {tmp_path / name} already exists; add --overwrite "
                                      "to replace it")
        cli.refuse_existing(tmp_path / name, True, "--out")


@pytest.mark.parametrize("raised, status, message", [
    (KeyboardInterrupt(), cli.INTERRUPTED, "digits-x: interrupted\n"),
    (OSError(28, "No space left on device"), cli.FAILED,
     "digits-x: [Errno 28] No space left on device\n"),
    (cli.CommandError("bad\nthing"), cli.USAGE, "digits-x: bad thing\n"),
])
def test_run_turns_interrupts_and_errors_into_exit_codes_and_one_line(capsys, raised, status,
                                                                      message):
    def command():
        raise raised
    assert cli.run("digits-x", command) == status
    assert capsys.readouterr().err == message


@pytest.mark.parametrize("prog, arguments", [
    ("digits-predict", [str(PHOTOS / "Humor-Sans_4_0.jpg"), "--model", str(SMALL_CNN)]),
    ("digits-evaluate", ["--model", str(SMALL_CNN)]),
    ("digits-export", ["--model", str(SMALL_CNN), "--format", "tflite"]),
    ("digits-report", ["sweep"]),
    ("digits-handwriting", ["photos"]),
])
@pytest.mark.parametrize("raised, status, said", [
    (KeyboardInterrupt(), cli.INTERRUPTED, "interrupted"),
    (OSError(28, "No space left on device"), cli.FAILED, "[Errno 28] No space left on device"),
])
def test_every_command_ends_a_ctrl_c_or_a_disk_error_with_its_exit_code_and_one_line(
        prog, arguments, raised, status, said, monkeypatch, capsys):
    def interrupted(*args):
        raise raised
    monkeypatch.setattr(sys.modules[MAINS[prog].__module__], "command", interrupted)
    assert MAINS[prog](arguments) == status
    assert capsys.readouterr().err == f"{prog}: {said}\n"


def tf_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if TF_START_UP.search(line)]


def test_a_command_starts_quietly_and_verbose_brings_tensorflows_log_back(tmp_path):
    photo = str(PHOTOS / "Humor-Sans_4_0.jpg")
    environment = {key: value for key, value in os.environ.items() if key != "DIGITS_VERBOSE"}
    quiet = run_cli("digits.predict", "--model", str(SMALL_CNN), photo, env=environment)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert quiet.stderr == ""
    verbose = run_cli("digits.predict", "--model", str(SMALL_CNN), "--verbose", photo,
                      env=environment)
    assert verbose.returncode == 0
    assert tf_lines(verbose.stderr), verbose.stderr[-2000:]
    assert verbose.stdout == quiet.stdout


def test_digits_train_help_is_quiet_and_lists_the_groups_users_choose():
    environment = {key: value for key, value in os.environ.items() if key != "DIGITS_VERBOSE"}
    result = run_cli("digits.train", "--help", env=environment)
    assert result.returncode == 0 and result.stderr == ""
    text = result.stdout
    assert text.startswith("digits-train: ") and "schema" not in text
    groups = text.split("== Config groups (GROUP=OPTION) ==\n")[1].split("\n\n")[0]
    listed = {}
    for line in groups.splitlines():
        if not line.startswith("    "):
            group = line.split()[0]
        listed[group] = listed.get(group, "") + line
    with initialize_config_module("digits.conf", version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        user_groups = [g for g in loader.list_groups("") if g not in ("hydra", "schema")]
        assert sorted(listed) == sorted(user_groups)
        conf = os.path.join(os.path.dirname(__file__), "..", "conf")
        for group in user_groups:
            for option in loader.get_group_options(group):
                path = os.path.join(conf, group, option + ".yaml")
                if "# Deprecated name" in "".join(open(path).readlines()[:3]):
                    assert not re.search(rf"\b{option}\b", listed[group]), (group, option)
                else:
                    assert re.search(rf"\b{option}\b", listed[group]), (group, option)
    composed = OmegaConf.create(text.split("(override any as KEY=VALUE) ==\n")[1]
                                .split("\nHydra's own flags")[0])
    for key in re.findall(r"\b([a-z_.]+)=[A-Z]", text.split("== Main options")[1]
                          .split("== Examples")[0]):
        if not key.startswith("hydra."):
            assert OmegaConf.select(composed, key, default="absent") != "absent", key


def test_digits_verbose_brings_tensorflows_log_back_to_digits_train():
    result = run_cli("digits.train", "--help", env={**os.environ, "DIGITS_VERBOSE": "1"})
    assert result.returncode == 0 and tf_lines(result.stderr), result.stderr[-2000:]


@pytest.mark.parametrize("prog, existing, arguments", [
    ("digits-evaluate", "evaluation.json", []),
    ("digits-evaluate", "plots/errors.png", []),
    ("digits-export", "model.tflite", ["--format", "tflite"]),
    ("digits-export", "saved_model/keep.txt", ["--format", "savedmodel"]),
])
def test_beside_a_model_outside_a_run_folder_the_users_files_are_kept(tmp_path, capsys, prog,
                                                                        existing, arguments):
    model = tmp_path / "mine.keras"
    model.write_bytes(SMALL_CNN.read_bytes())
    (tmp_path / existing).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / existing).write_text("the user's own")
    assert MAINS[prog](["--model", str(model), *arguments]) == cli.USAGE
    error = capsys.readouterr().err
    assert error.startswith(f"{prog}: {tmp_path} is not a run folder and already holds ")
    assert "add --overwrite" in error and error.count("\n") == 1
    assert (tmp_path / existing).read_text() == "the user's own"
