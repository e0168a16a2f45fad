"""The import rules of the project, checked on the source with `ast` (imports inside functions too):
library modules never import CLI modules, benchmarks never import tests, tests never import tests."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE, BENCHMARKS, TESTS = ROOT / "digits", ROOT / "benchmarks", ROOT / "tests"
# Command-line modules (their main() is a tool); the rules name these, pyproject adds any new tool.
NAMED_CLI_MODULES = {"predict", "evaluate", "export", "report", "handwriting", "train", "serve",
                     "ensemble"}


def cli_modules() -> set[str]:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    from_scripts = {target.split(":")[0].removeprefix("digits.") for target in scripts.values()}
    return NAMED_CLI_MODULES | from_scripts


def imported_modules(path: Path, package: Path = PACKAGE) -> list[tuple[int, str]]:
    """(line, dotted name) of every module `path` imports, wherever the import statement is;
    `from digits import predict` counts as importing digits.predict."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level and path.parent == package:  # relative import inside the package
                base = "digits" + ("." + base if base else "")
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def sys_path_edits(path: Path) -> list[int]:
    """Lines that change sys.path (sys.path.insert/append/extend, sys.path += ...)."""
    def is_sys_path(node) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "path"
                and isinstance(node.value, ast.Name) and node.value.id == "sys")
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and is_sys_path(node.func.value)):
            lines.append(node.lineno)
        elif isinstance(node, ast.AugAssign) and is_sys_path(node.target):
            lines.append(node.lineno)
    return lines


def is_test_module(name: str) -> bool:
    top = name.split(".")[0]
    return top in ("tests", "conftest") or top.startswith("test_")


def test_library_modules_never_import_command_line_modules():
    cli = cli_modules()
    violations = [f"{path.relative_to(ROOT)}:{line} imports {name}"
                  for path in sorted(PACKAGE.glob("*.py")) if path.stem not in cli
                  for line, name in imported_modules(path)
                  if name.startswith("digits.") and name.split(".")[1] in cli]
    assert not violations, "library modules import CLI modules:\n" + "\n".join(violations)


def test_benchmarks_never_import_tests_nor_reach_them_through_sys_path():
    test_names = {path.stem for path in TESTS.glob("*.py")}
    violations = [f"{path.relative_to(ROOT)}:{line} imports {name}"
                  for path in sorted(BENCHMARKS.glob("*.py"))
                  for line, name in imported_modules(path)
                  if is_test_module(name) or name.split(".")[0] in test_names]
    # Scripts find their neighbours (_common.py) without help; a sys.path edit is how tests/ was
    # reached before, so none is allowed.
    violations += [f"{path.relative_to(ROOT)}:{line} changes sys.path"
                   for path in sorted(BENCHMARKS.glob("*.py")) for line in sys_path_edits(path)]
    assert not violations, "benchmarks reach into tests/:\n" + "\n".join(violations)


def test_test_files_never_import_other_test_files_or_conftest():
    violations = [f"{path.relative_to(ROOT)}:{line} imports {name}"
                  for path in sorted(TESTS.glob("*.py"))
                  for line, name in imported_modules(path) if is_test_module(name)]
    assert not violations, ("tests import test modules (share helpers through conftest.py "
                            "fixtures or tests/helpers.py):\n" + "\n".join(violations))


def test_the_checks_see_imports_inside_functions_relative_imports_and_sys_path(tmp_path):
    source = tmp_path / "sample.py"
    source.write_text("import sys\ndef f():\n    from . import predict\n    import test_other\n"
                      "    from digits.evaluate import main\n    sys.path.insert(0, 'tests')\n")
    names = [name for _, name in imported_modules(source, package=tmp_path)]
    assert "digits.predict" in names and "digits.evaluate" in names
    assert [name for name in names if is_test_module(name)] == ["test_other"]
    assert sys_path_edits(source) == [6]
