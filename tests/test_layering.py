"""The import rules of the project, checked on the source with `ast`.

digits is built in layers, each a package (or, at the top, the commands): a module imports only
from its own package or from a lower layer, never from a higher one nor from another package of
its own layer, and only at module level (an import inside a function or under TYPE_CHECKING
hides a circle). So no circle can form. Benchmarks never import tests; tests never import tests.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE, BENCHMARKS, TESTS = ROOT / "digits", ROOT / "benchmarks", ROOT / "tests"
# Lowest first. Packages of one layer never import each other.
LAYERS = [
    {"utils"},
    {"config"},
    {"vision"},
    {"synth"},
    {"data"},
    {"runs"},
    {"models"},
    {"reading"},
    {"evaluation"},
    {"calibration", "training"},
    {"serving"},
    {"commands"},  # digits/*.py: the console scripts and cli.py
]
RANK = {name: rank for rank, layer in enumerate(LAYERS) for name in layer}


def part_of(path: Path) -> str:
    """The layer name of a module of digits/: its package, or "commands" at the top."""
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else "commands"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[int, str, bool]]:
    """(line, dotted name, at module level) of every module `path` imports, wherever the import
    statement is; `from digits.x import y` counts as importing digits.x and digits.x.y."""
    tree = ast.parse(path.read_text(), str(path))
    top_level = {id(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))}
    own = module_name(path).split(".")
    found = []
    for node in ast.walk(tree):
        at_top = id(node) in top_level
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, at_top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's own package upwards
                package = own if path.name == "__init__.py" else own[:-1]
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            found.append((node.lineno, base, at_top))
            found += [(node.lineno, f"{base}.{alias.name}", at_top) for alias in node.names]
    return found


def digits_modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if "conf" not in path.relative_to(PACKAGE).parts)


def layer_of_name(name: str) -> str | None:
    """The layer a dotted digits name belongs to (None outside digits)."""
    parts = name.split(".")
    if parts[0] != "digits" or len(parts) < 2:
        return None
    return parts[1] if (PACKAGE / parts[1]).is_dir() and parts[1] in RANK else "commands"


def violations() -> list[str]:
    found = []
    for path in digits_modules():
        here = part_of(path)
        for line, name, at_top in imports(path):
            there = layer_of_name(name)
            if there is None or name in ("digits", "digits.conf") or name.startswith("digits.conf."):
                continue
            where = f"{path.relative_to(ROOT)}:{line} imports {name}"
            if not at_top:
                found.append(f"{where} inside a function or block (imports run at module level)")
            elif there == "commands" and here == "commands" and name != "digits.cli" \
                    and name != module_name(path):
                found.append(f"{where}: a command imports a command")
            elif there != here and RANK[there] >= RANK[here]:
                found.append(f"{where}: {here} may import only lower layers, and {there} is not")
    return found


def test_every_package_of_digits_has_a_layer():
    packages = {path.name for path in PACKAGE.iterdir()
                if path.is_dir() and (path / "__init__.py").is_file() and path.name != "conf"}
    assert packages == set(RANK) - {"commands"}


def test_the_top_of_digits_holds_only_the_commands():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    commands = {target.split(":")[0].removeprefix("digits.") for target in scripts.values()}
    top = {path.stem for path in PACKAGE.glob("*.py")}
    assert top == commands | {"cli", "__init__"}


def test_pyproject_ships_every_package():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = {module_name(path / "__init__.py") for path in PACKAGE.rglob("*")
                if path.is_dir() and (path / "__init__.py").is_file() and path.name != "conf"}
    assert packages <= set(setuptools["packages"])


def test_imports_run_down_the_layers_at_module_level_only():
    found = violations()
    assert not found, "imports against the layering:\n" + "\n".join(found)


def module_graph() -> dict[str, set[str]]:
    """digits module -> the digits modules it imports (a package's import counts as its
    __init__'s)."""
    paths = {module_name(path): path for path in digits_modules()}
    graph = {}
    for name, path in paths.items():
        targets = set()
        for _, imported, _ in imports(path):
            while imported and imported not in paths:  # digits.x.y.NAME -> digits.x.y
                imported = imported.rpartition(".")[0]
            if imported and imported != name and imported != "digits":
                targets.add(imported)
        graph[name] = targets
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every loop of imports, as the modules along it (depth-first search)."""
    found, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                found.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_no_module_imports_itself_through_others():
    loops = circles(module_graph())
    assert not loops, "import circles:\n" + "\n".join(" -> ".join(loop) for loop in loops)
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_the_check_sees_upward_sideways_and_hidden_imports(tmp_path, monkeypatch):
    fake = tmp_path / "digits"
    for package in ("vision", "models", "training", "calibration"):
        (fake / package).mkdir(parents=True)
        (fake / package / "__init__.py").write_text("")
    (fake / "vision" / "ink.py").write_text("from digits.models import crnn\n")
    (fake / "training" / "fit.py").write_text("from digits.calibration import tool\n")
    (fake / "models" / "crnn.py").write_text("def f():\n    from digits.vision import ink\n")
    (fake / "predict.py").write_text("from digits import serve\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    found = "\n".join(violations())
    assert "vision/ink.py:1 imports digits.models" in found
    assert "training/fit.py:1 imports digits.calibration" in found
    assert "models/crnn.py:2 imports digits.vision.ink inside a function" in found
    assert "predict.py:1 imports digits.serve: a command imports a command" in found


def is_test_module(name: str) -> bool:
    top = name.split(".")[0]
    return top in ("tests", "conftest") or top.startswith("test_")


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


@pytest.mark.parametrize("folder", [BENCHMARKS, TESTS])
def test_benchmarks_and_tests_never_import_test_files_nor_edit_sys_path(folder):
    test_names = {path.stem for path in TESTS.glob("*.py")}
    found = [f"{path.relative_to(ROOT)}:{line} imports {name}"
             for path in sorted(folder.glob("*.py")) for line, name, _ in imports(path)
             if is_test_module(name) or (folder == BENCHMARKS and name.split(".")[0] in test_names)]
    if folder == BENCHMARKS:
        found += [f"{path.relative_to(ROOT)}:{line} changes sys.path"
                  for path in sorted(folder.glob("*.py")) for line in sys_path_edits(path)]
    assert not found, "\n".join(found)
