"""The command digits-report prints for a sweep's best job: its non-default group options and
its own overrides, without the search that sampled them."""

import shlex

from digits.runs import trial_command

HYDRA_YAML = """\
hydra:
  runtime:
    choices:
      experiment: null
      hparams_search: cnn_optuna
      model: cnn
      augmentation: light
      data: mnist
      trainer: default
      logger: [tensorboard, csv]
      hydra/sweeper: optuna
      schema/model: cnn
    config_sources:
    - {path: pkg://digits.conf, schema: pkg, provider: main}
    - {path: file:///home/me/my_conf, schema: file, provider: command-line}
"""


def test_the_command_gives_the_chosen_options_and_the_jobs_overrides(tmp_path):
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "hydra.yaml").write_text(HYDRA_YAML)
    (tmp_path / ".hydra" / "overrides.yaml").write_text(
        "- trainer.learning_rate=0.004\n- model.filters=[48,96]\n- hparams_search=cnn_optuna\n"
        "- data.train_size=2000\n")
    assert shlex.split(trial_command.command(tmp_path)) == [
        "digits-train", "--config-dir", "/home/me/my_conf", "model=cnn", "augmentation=light",
        "logger=[tensorboard,csv]", "trainer.learning_rate=0.004", "model.filters=[48,96]",
        "data.train_size=2000"]


def test_a_job_without_hydra_yaml_gives_its_overrides_alone(tmp_path):
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "overrides.yaml").write_text("- seed=3\n")
    assert trial_command.command(tmp_path) == "digits-train seed=3"
