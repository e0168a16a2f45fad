"""The documentation tells the truth: README.md is short, every relative link resolves, the
configuration reference matches the composed config row by row, and docs/commands.md lists
exactly the options each tool's parser has."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import importlib
import math
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from helpers import compose_train, with_partner

from digits.config import schemas

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
REFERENCE = DOCS / "configuration.md"
COMMANDS = DOCS / "commands.md"
README_LIMIT = 10_000

# Groups whose options are documented key by key in docs/configuration.md.
SCHEMA_GROUPS = ("data", "augmentation", "model", "trainer", "paths", "logger", "debug")
# Set by each option's schema to tell the code which one it is, not chosen by users.
INTERNAL_KEYS = {"data.source", "model.name"}
REQUIRED = "required"
PLACEHOLDER = "/placeholder/for/a/required/value"


# --- reading Markdown ----------------------------------------------------------------------------
def without_code_blocks(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def headings(text: str) -> list[tuple[int, str]]:
    return [(len(m.group(1)), m.group(2).strip())
            for m in re.finditer(r"^(#{1,6})\s+(.*)$", without_code_blocks(text), re.M)]


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for _, heading in headings(path.read_text()):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def sections(text: str) -> list[tuple[str, list[str]]]:
    """(heading, lines up to the next heading) for every heading, code blocks left out."""
    result: list[tuple[str, list[str]]] = [("", [])]
    for line in without_code_blocks(text).splitlines():
        match = re.match(r"^#{1,6}\s+(.*)$", line)
        if match:
            result.append((match.group(1).strip(), []))
        else:
            result[-1][1].append(line)
    return result


def table_rows(lines: list[str]) -> list[list[str]]:
    """Cells of each Markdown table row, header and separator rows included."""
    return [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in lines if line.strip().startswith("|")]


# --- the configuration reference ---------------------------------------------------------------
@dataclasses.dataclass
class Row:
    heading: str
    key: str
    text: str  # the documented value as written
    line: str

    @property
    def required(self) -> bool:
        return self.text == REQUIRED

    def value(self):
        return yaml.safe_load(self.text)


def option_of(heading: str) -> str | None:
    """'`trainer=smoke`' -> 'trainer=smoke'; 'top level' -> '' (the plain defaults)."""
    if heading.lower() == "top level":
        return ""
    match = re.match(r"^`(\w+=\w+)`", heading)
    return match.group(1) if match else None


def reference() -> dict[str, list[Row]]:
    """Every option heading of docs/configuration.md -> the rows of its table(s)."""
    options: dict[str, list[Row]] = {}
    for heading, lines in sections(REFERENCE.read_text()):
        option = option_of(heading)
        if option is None:
            continue
        rows = options.setdefault(option, [])
        for cells in table_rows(lines):
            key = re.fullmatch(r"`([\w.]+)`", cells[0])
            value = re.fullmatch(r"`([^`]*)`", cells[1]) if len(cells) > 1 else None
            if key and value:
                rows.append(Row(heading, key.group(1), value.group(1),
                                "| " + " | ".join(cells) + " |"))
            elif key:
                pytest.fail(f"{REFERENCE.name}, under {heading!r}: the row {cells} has no "
                            "`value` in its second column")
    return options


def lookup(cfg, key: str):
    value = cfg
    for part in key.split("."):
        value = getattr(value, part)
    return value.value if isinstance(value, enum.Enum) else value


def flat_keys(obj, prefix: str = "") -> list[str]:
    keys = []
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        if dataclasses.is_dataclass(value):
            keys += flat_keys(value, f"{prefix}{field.name}.")
        else:
            keys.append(prefix + field.name)
    return keys


def same(documented, actual) -> bool:
    if isinstance(actual, bool) or isinstance(documented, bool):
        return documented is actual
    if isinstance(actual, (int, float)) and isinstance(documented, (int, float)):
        return math.isclose(documented, actual, rel_tol=1e-12)
    if isinstance(actual, list) and isinstance(documented, list):
        return len(actual) == len(documented) and all(map(same, documented, actual))
    return documented == actual


def compose_option(option: str, rows: list[Row], leave_out: str | None = None):
    """The option composed, a placeholder given for each required key but `leave_out`."""
    extras = [f"{row.key}={PLACEHOLDER}" for row in rows if row.required and row.key != leave_out]
    return compose_train((with_partner(option) if option else []) + extras)


def default_options() -> dict[str, str]:
    """group -> its default option, from conf/train.yaml's defaults list."""
    defaults = yaml.safe_load((ROOT / "conf" / "train.yaml").read_text())["defaults"]
    return {group: option for entry in defaults if isinstance(entry, dict)
            for group, option in entry.items() if group in SCHEMA_GROUPS}


def experiment_choices(name: str) -> list[str]:
    """The group options an experiment chooses: 'override /model: cnn' -> 'model=cnn'."""
    defaults = yaml.safe_load((ROOT / "conf" / "experiment" / f"{name}.yaml").read_text())
    return [f"{group.split('/')[-1]}={option}" for entry in defaults.get("defaults", [])
            if isinstance(entry, dict) for group, option in entry.items()
            if group.startswith("override /")]


def test_every_reference_row_is_the_composed_value():
    """Each row `| key | value |` under an option's heading is what composing that option gives
    (e.g. trainer=smoke -> cfg.trainer.batch_size); a `required` row fails to compose without it."""
    wrong = []
    for option, rows in reference().items():
        try:
            cfg = compose_option(option, rows)
        except Exception as error:  # e.g. a required key documented with a default
            wrong.append(f"{rows[0].heading if rows else option}: composing it fails: {error}")
            continue
        for row in rows:
            if row.required:
                with pytest.raises(Exception) as missing:
                    compose_option(option, rows, leave_out=row.key)
                if row.key not in str(missing.value):
                    wrong.append(f"{row.heading}: {row.line} (composing without it does not "
                                 f"ask for {row.key}: {missing.value})")
                continue
            try:
                actual = lookup(cfg, row.key)
            except AttributeError:
                wrong.append(f"{row.heading}: {row.line} (no such key)")
                continue
            if not same(row.value(), actual):
                wrong.append(f"{row.heading}: {row.line} (the config has {actual!r})")
    assert not wrong, "docs/configuration.md disagrees with the config:\n" + "\n".join(wrong)


def test_every_key_of_every_option_is_documented():
    """A group's default option documents every key; another option every key whose value
    differs from the default option's; an experiment every key it changes beyond the options it
    chooses; the top level its own keys."""
    options = reference()
    defaults = default_options()
    missing = []
    for option, rows in options.items():
        documented = {row.key for row in rows}
        try:
            cfg = compose_option(option, rows)
        except Exception as error:
            missing.append(f"{option}: composing it fails: {error}")
            continue
        if option == "":
            keys = [f.name for f in dataclasses.fields(cfg) if f.name not in SCHEMA_GROUPS]
            missing += [f"top level: {key}" for key in keys if key not in documented]
            continue
        group, name = option.split("=")
        if group == "experiment":
            baseline = compose_train(experiment_choices(name) + [
                f"{row.key}={PLACEHOLDER}" for row in rows if row.required])
            missing += [f"{option}: {key} = {lookup(cfg, key)!r}" for key in flat_keys(cfg)
                        if key not in INTERNAL_KEYS and key not in documented
                        and not same(lookup(cfg, key), lookup(baseline, key))]
            continue
        default = f"{group}={defaults[group]}"
        default_rows = {row.key: row for row in options.get(default, [])}
        for key in flat_keys(getattr(cfg, group), f"{group}."):
            if key in INTERNAL_KEYS or key in documented:
                continue
            inherited = default_rows.get(key)
            if option == default or inherited is None or inherited.required \
                    or not same(inherited.value(), lookup(cfg, key)):
                missing.append(f"{option}: {key} = {lookup(cfg, key)!r}")
    assert not missing, "keys missing from docs/configuration.md:\n" + "\n".join(missing)


def renamed_in_docs() -> dict[str, dict[str, str]]:
    renamed: dict[str, dict[str, str]] = {}
    for heading, lines in sections(REFERENCE.read_text()):
        if heading.lower() != "renamed options":
            continue
        for cells in table_rows(lines):
            old, new = (re.fullmatch(r"`(\w+)=(\w+)`", cell) for cell in cells[:2])
            if old and new:
                assert old.group(1) == new.group(1), cells
                renamed.setdefault(old.group(1), {})[old.group(2)] = new.group(2)
    return renamed


def test_every_option_in_conf_has_its_section_and_renames_are_listed():
    renamed = getattr(schemas, "RENAMED_OPTIONS", {})
    assert renamed_in_docs() == {group: dict(names) for group, names in renamed.items() if names}
    documented = set(reference())
    text = REFERENCE.read_text()
    missing = []
    for folder in sorted((ROOT / "conf").iterdir()):
        if not folder.is_dir() or folder.name.startswith("_"):
            continue
        for path in sorted(folder.glob("*.yaml")):
            option = f"{folder.name}={path.stem}"
            if path.stem in renamed.get(folder.name, {}):
                continue
            if folder.name in (*SCHEMA_GROUPS, "experiment"):
                if option not in documented:
                    missing.append(f"a section `{option}`")
            elif option not in text:
                missing.append(f"a mention of {option}")
    assert not missing, "docs/configuration.md lacks " + ", ".join(missing)


# --- README and links ----------------------------------------------------------------------------
def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def test_readme_is_short():
    length = len(README.read_text())
    assert length <= README_LIMIT, f"README.md has {length} characters (at most {README_LIMIT})"


def test_every_relative_link_resolves():
    broken = []
    for path in markdown_files():
        text = without_code_blocks(path.read_text())
        for target in re.findall(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text):
            if re.match(r"^[a-z]+:", target):
                continue  # http(s), mailto: not checked here
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists():
                broken.append(f"{path.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{path.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_index_lists_every_docs_page():
    text = (DOCS / "index.md").read_text()
    linked = set(re.findall(r"\]\(([\w-]+\.md)(?:#[^)]*)?\)", text))
    pages = {path.name for path in DOCS.glob("*.md")} - {"index.md"}
    assert pages <= linked, f"docs/index.md does not link {sorted(pages - linked)}"


def test_layout_names_every_module_and_benchmark():
    text = (DOCS / "layout.md").read_text()
    files = [*sorted((ROOT / "digits").glob("*.py")), *sorted((ROOT / "benchmarks").glob("*.py"))]
    unnamed = [str(path.relative_to(ROOT)) for path in files
               if path.name != "__init__.py" and f"`{path.name}`" not in text]
    assert not unnamed, f"docs/layout.md does not describe {unnamed}"


# --- docs/commands.md against each tool's parser ------------------------------------------------
class Parsed(Exception):
    """Raised in place of parsing, carrying the parser a tool's main() built."""

    def __init__(self, parser: argparse.ArgumentParser):
        super().__init__(parser.prog)
        self.parser = parser


def tools() -> dict[str, str]:
    """Every console script but digits-train (a Hydra app) -> its module."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    return {name: target.split(":")[0] for name, target in scripts.items()
            if name != "digits-train"}


def parser_of(module_name: str, monkeypatch) -> argparse.ArgumentParser:
    """The tool's parser: its build_parser() if it has one, else the one main() builds (caught
    when main asks it to parse, before the tool does anything)."""
    module = importlib.import_module(module_name)
    if hasattr(module, "build_parser"):
        return module.build_parser()

    def capture(self, *args, **kwargs):
        raise Parsed(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", capture)
    with pytest.raises(Parsed) as parsed:
        module.main([])
    return parsed.value.parser


def command_section(tool: str) -> str:
    if not COMMANDS.exists():
        pytest.fail("docs/commands.md does not exist")
    for heading, lines in sections(COMMANDS.read_text()):
        if re.fullmatch(rf"`?{re.escape(tool)}`?", heading):
            return "\n".join(lines)
    pytest.fail(f"docs/commands.md has no section headed {tool}")


def documented_options(section: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", section)) - {"-"}


@pytest.mark.parametrize("tool", sorted(tools()))
def test_commands_doc_lists_exactly_the_parser_options(tool, monkeypatch):
    """Every option of the tool's parser is in its section of docs/commands.md, and every
    option named there exists."""
    parser = parser_of(tools()[tool], monkeypatch)
    options = {string for action in parser._actions if action.help != argparse.SUPPRESS
               for string in action.option_strings} - {"-h", "--help"}
    section = command_section(tool)
    named = documented_options(section)
    assert not options - named, f"{tool}: docs/commands.md does not describe {options - named}"
    unknown = {name for name in named if name.startswith("--")} - options - {"--help"}
    assert not unknown, f"{tool}: docs/commands.md names options the parser lacks: {unknown}"
