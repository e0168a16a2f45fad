"""The single `digits-train` command that trains a multirun's job again: a search's best trial,
as digits-report prints it.

A job folder's .hydra/overrides.yaml holds what the sweep gave that job (the trial's sampled
values, the command line's own overrides, hparams_search=NAME); .hydra/hydra.yaml the group
options it was composed with, among them those a search or an experiment chose. The command
gives every group option that is not digits-train's default, then the job's key=value overrides,
without hparams_search (which would start the search again).
"""

from __future__ import annotations

import shlex
from importlib import resources
from pathlib import Path

from omegaconf import OmegaConf

SEARCH_GROUP = "hparams_search"


def default_choices() -> dict[str, str | None]:
    """group -> its option in conf/train.yaml's defaults list (shipped as digits.conf)."""
    text = (resources.files("digits.conf") / "train.yaml").read_text()
    choices = {}
    for entry in OmegaConf.create(text).defaults:
        if isinstance(entry, str):
            continue
        for group, option in entry.items():
            choices[group.replace("optional ", "")] = option
    return choices


def overrides_of(job_dir: Path) -> list[str]:
    path = job_dir / ".hydra" / "overrides.yaml"
    return [str(item) for item in OmegaConf.load(path)] if path.is_file() else []


def runtime(job_dir: Path) -> dict:
    path = job_dir / ".hydra" / "hydra.yaml"
    if not path.is_file():
        return {}
    return OmegaConf.to_container(OmegaConf.load(path).hydra.runtime)


def chosen_options(job_dir: Path) -> list[str]:
    """GROUP=OPTION (or GROUP=[A,B]) for every user group whose option is not the default."""
    defaults = default_choices()
    options = []
    for group, option in runtime(job_dir).get("choices", {}).items():
        if option is None or group.startswith(("hydra", "schema")) or group == SEARCH_GROUP \
                or defaults.get(group, "absent") == option:
            continue
        options.append(f"{group}=[{','.join(option)}]" if isinstance(option, list)
                       else f"{group}={option}")
    return options


def config_dirs(job_dir: Path) -> list[str]:
    """--config-dir DIR, if the job was composed with a user's config folder."""
    sources = runtime(job_dir).get("config_sources", [])
    return [part for source in sources if source.get("provider") == "command-line"
            for part in ("--config-dir", source["path"].removeprefix("file://"))]


def command(job_dir: Path) -> str:
    """`digits-train ...` training the job of `job_dir` again as a single run."""
    options = chosen_options(job_dir)
    groups = {option.split("=", 1)[0] for option in options}
    rest = [override for override in overrides_of(job_dir)
            if override.split("=", 1)[0].lstrip("+~") not in groups | {SEARCH_GROUP}
            and not override.startswith("hydra.")]
    return shlex.join(["digits-train", *config_dirs(job_dir), *options, *rest])
