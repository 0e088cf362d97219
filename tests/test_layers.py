"""The package's layers (``metareweight.LAYERS``): no import runs back up, none forms a cycle,
and no private name crosses a module line.  Imports inside functions count too."""

import ast
from pathlib import Path

import pytest

import metareweight

PACKAGE = Path(metareweight.__file__).parent
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
RANK = {m: k for k, (_, members) in enumerate(metareweight.LAYERS) for m in members}


def imports_of(module: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names imported from it, line) for every import of a package module."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names = [a.name for a in node.names]
            if node.level == 1 and node.module:  # from .x import a, b
                out.append((node.module.split(".")[0], names, node.lineno))
            elif node.level == 1:  # from . import x, y
                out += [(n, [], node.lineno) for n in names]
            elif node.module == "metareweight":
                out += [(n, [], node.lineno) for n in names]
            elif node.module and node.module.startswith("metareweight."):
                out.append((node.module.split(".")[1], names, node.lineno))
        elif isinstance(node, ast.Import):
            out += [(a.name.split(".")[1], [], node.lineno) for a in node.names if a.name.startswith("metareweight.")]
    return out


def graph() -> dict[str, set[str]]:
    return {m: {target for target, _, _ in imports_of(m)} - {m} for m in MODULES}


def cycle_in(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path that returns to its start), or None."""
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(edges.get(m, ())):
            if state.get(n) == "open":
                return stack[stack.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        state[m] = "done"
        stack.pop()
        return None

    for m in sorted(edges):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_every_module_has_a_layer():
    assert sorted(RANK) == MODULES


def test_no_import_runs_back_up_the_layers():
    upward = [f"{m} (layer {metareweight.LAYERS[RANK[m]][0]}) imports {t} (layer "
              f"{metareweight.LAYERS[RANK[t]][0]}), line {line}"
              for m in MODULES for t, _, line in imports_of(m) if t in RANK and RANK[t] > RANK[m]]
    assert not upward, "\n".join(upward)


def test_there_is_no_import_cycle():
    assert cycle_in(graph()) is None, " -> ".join(cycle_in(graph()))


def test_no_private_name_crosses_a_module_line():
    private = [f"{m} imports {t}.{n}, line {line}" for m in MODULES for t, names, line in imports_of(m)
               for n in names if n.startswith("_")]
    for m in MODULES:  # module._name on an imported package module
        tree = ast.parse((PACKAGE / f"{m}.py").read_text())
        bound = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                 and (node.level == 1 and not node.module or node.module == "metareweight") for alias in node.names}
        private += [f"{m} uses {node.value.id}.{node.attr}, line {node.lineno}" for node in ast.walk(tree)
                    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in bound and node.attr.startswith("_") and not node.attr.startswith("__")]
    assert not private, "\n".join(private)


def test_the_checks_see_a_cycle_and_an_upward_import():
    """The checkers themselves, on a made-up graph: they must be able to fail."""
    assert cycle_in({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle_in({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert ("experiment", [], 1) in [(t, n, 1) for t, n, _ in imports_of("sweep")]  # a real edge is seen
    with pytest.raises(KeyError):
        RANK["no_such_module"]


def test_only_settings_reads_the_environment():
    """Other modules may set variables for the processes they start, never read one."""
    readers = []
    for m in MODULES:
        if m == "settings":
            continue
        for node in ast.walk(ast.parse((PACKAGE / f"{m}.py").read_text())):
            call = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            if call and node.func.attr == "getenv" or call and node.func.attr == "get" and \
                    ast.unparse(node.func.value) == "os.environ":
                readers.append(f"{m}, line {node.lineno}: {ast.unparse(node)}")
            if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ" and \
                    isinstance(node.ctx, ast.Load):
                readers.append(f"{m}, line {node.lineno}: {ast.unparse(node)}")
    assert not readers, "\n".join(readers)


def test_one_module_hashes():
    """cache.digest and cache.file_digest are the package's only hashers."""
    users = [m for m in MODULES if m != "cache" and "hashlib" in (PACKAGE / f"{m}.py").read_text()]
    assert not users, users
