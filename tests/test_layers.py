"""The package's layers (``metareweight.LAYERS``): no import runs back up, none forms a cycle,
and no private name crosses a module line.  Imports inside functions count too."""

import ast
from pathlib import Path

import pytest

import metareweight

PACKAGE = Path(metareweight.__file__).parent
SUBPACKAGES = ("chapters",)  # each a layer of its own, its modules named "chapters.<name>"
MODULES = sorted([p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"]
                 + [f"{sub}.{p.stem}" for sub in SUBPACKAGES for p in (PACKAGE / sub).glob("*.py")])
LAYER_RANK = {m: k for k, (_, members) in enumerate(metareweight.LAYERS) for m in members}
RANK = {m: LAYER_RANK[m.split(".")[0]] for m in MODULES if m.split(".")[0] in LAYER_RANK}


def path_of(module: str) -> Path:
    return PACKAGE / (module.replace(".", "/") + ".py")


def resolve(package: str, dotted: str) -> str:
    """The module that ``dotted`` (relative to ``package``: "" for the top) names: "x" for a
    top-level module, "sub.x" for one of a subpackage, "sub.__init__" for the subpackage itself."""
    parts = [p for p in (package.split(".") if package else []) + dotted.split(".") if p]
    if parts and parts[0] in SUBPACKAGES:
        return ".".join(parts[:2]) if len(parts) > 1 else f"{parts[0]}.__init__"
    return parts[0]


def imports_of(module: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names imported from it, line) for every import of a package module."""
    tree = ast.parse(path_of(module).read_text())
    package = module.rsplit(".", 1)[0] if "." in module else ""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names = [a.name for a in node.names]
            if node.level:  # relative: the package this import starts from
                base = package if node.level == 1 else ".".join(package.split(".")[: 1 - node.level])
            elif node.module == "metareweight" or (node.module or "").startswith("metareweight."):
                base = ""
            else:
                continue
            dotted = (node.module or "") if node.level else (node.module or "").removeprefix("metareweight")
            if dotted.strip("."):
                target = resolve(base, dotted)
                if target.endswith(".__init__"):  # from .chapters import x: the module chapters.x
                    out += [(resolve(base, f"{dotted}.{n}"), [], node.lineno) for n in names]
                else:
                    out.append((target, names, node.lineno))
            else:  # from . import x, y
                out += [(resolve(base, n), [], node.lineno) for n in names]
        elif isinstance(node, ast.Import):
            out += [(resolve("", a.name.split(".", 1)[1]), [], node.lineno) for a in node.names
                    if a.name.startswith("metareweight.")]
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
        tree = ast.parse(path_of(m).read_text())
        bound = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                 and (node.level and not node.module or node.module == "metareweight") for alias in node.names}
        private += [f"{m} uses {node.value.id}.{node.attr}, line {node.lineno}" for node in ast.walk(tree)
                    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in bound and node.attr.startswith("_") and not node.attr.startswith("__")]
    assert not private, "\n".join(private)


def test_the_checks_see_a_cycle_and_an_upward_import():
    """The checkers themselves, on a made-up graph: they must be able to fail."""
    assert cycle_in({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle_in({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert ("experiment", [], 1) in [(t, n, 1) for t, n, _ in imports_of("sweep")]  # a real edge is seen
    assert resolve("", "chapters.ablations") == "chapters.ablations" and resolve("", "chapters") == "chapters.__init__"
    with pytest.raises(KeyError):
        RANK["no_such_module"]


def test_only_settings_reads_the_environment():
    """Other modules may set variables for the processes they start, never read one."""
    readers = []
    for m in MODULES:
        if m == "settings":
            continue
        for node in ast.walk(ast.parse(path_of(m).read_text())):
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
    users = [m for m in MODULES if m != "cache" and "hashlib" in path_of(m).read_text()]
    assert not users, users


def test_imports_of_a_subpackage_module(tmp_path, monkeypatch):
    """Relative imports inside a subpackage: ``..x`` is the package's x, ``.y`` the subpackage's y."""
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "one.py").write_text(
        "from ..experiment import run_all\nfrom . import two\nfrom .three import f\n"
        "from metareweight import stats\nimport metareweight.chapters.four\n")
    monkeypatch.setitem(globals(), "PACKAGE", tmp_path)
    assert [t for t, _, _ in imports_of("chapters.one")] == [
        "experiment", "chapters.two", "chapters.three", "stats", "chapters.four"]
