"""Which of the package's files a module can run, found by following its imports, and a hash of
each one's code. A cache keyed on them changes exactly when the code it depends on does: the
run key follows `engine/training.py`, the decoded-data cache `data/datasets.py` and
`data/label_specs.py` (whose specs' decode rules the datasets are handed).

A file's hash is of its syntax tree without docstrings and without `help=` texts (comments are
not in the tree): rewording an explanation never retrains a run, changing what runs does.
"""
import ast
import hashlib
from functools import lru_cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def _module_file(name):
    """The file of package module `hw2lib.a.b` (a module or a package's __init__), or None."""
    path = PACKAGE.joinpath(*name.split(".")[1:])
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(path):
    """The package modules that the file at `path` imports (at any depth of its code)."""
    module = ".".join(("hw2lib", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            target = f"{base}.{node.module}" if node.module and base else (node.module or base)
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)  # `from . import x`
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("hw2lib.") or name == "hw2lib"}


@lru_cache
def files_reached_from(*relative_paths):
    """Every package file that the modules at `relative_paths` (e.g. "engine/training.py") can
    run: themselves and whatever their imports reach, sorted."""
    todo, seen = [PACKAGE / p for p in relative_paths], set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo += [f for f in map(_module_file, _imported_modules(path)) if f is not None]
    return sorted(seen)


class _WithoutExplanations(ast.NodeTransformer):
    """Drops docstrings and `help=` keyword arguments from a syntax tree."""

    def generic_visit(self, node):
        super().generic_visit(node)
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
        if isinstance(node, ast.Call):
            node.keywords = [k for k in node.keywords if k.arg != "help"]
        return node


def code_hash(path):
    """A hash of the code in the file at `path`: its syntax tree without explanations."""
    tree = _WithoutExplanations().visit(ast.parse(Path(path).read_text()))
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()[:16]


@lru_cache
def code_hashes(*relative_paths):
    """{file relative to the package: code_hash} of `files_reached_from(*relative_paths)`."""
    return {str(p.relative_to(PACKAGE)): code_hash(p) for p in files_reached_from(*relative_paths)}
