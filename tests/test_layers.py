"""The package's layers are what its imports make them: no import cycle between its parts."""
from hw2lib.code_files import PACKAGE, _imported_modules


def part(path_or_module):
    """The part of the package a file or module belongs to: its sub-package, or the top module."""
    parts = str(path_or_module).removeprefix("hw2lib.").split(".")
    return parts[0]


def import_graph():
    """{part: the other parts it imports}."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        here = part(".".join(path.relative_to(PACKAGE).with_suffix("").parts))
        graph.setdefault(here, set()).update(part(m) for m in _imported_modules(path) if m != "hw2lib")
    return {k: v - {k} for k, v in graph.items()}


def a_cycle(graph):
    """One cycle of the graph as a list of parts, or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, path + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [node])
            if found:
                return found
    return None


def test_no_part_of_the_package_imports_a_part_that_imports_it_back():
    assert a_cycle(import_graph()) is None, " -> ".join(a_cycle(import_graph()))


def test_the_cycle_finder_finds_a_cycle():
    assert a_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert a_cycle({"a": {"b"}, "b": set()}) is None


def test_the_lower_layers_never_import_the_higher_ones():
    graph = import_graph()
    assert not graph["data"] & {"engine", "runs", "analysis", "report", "models", "settings", "tasks"}
    assert not graph["engine"] & {"runs", "analysis", "report", "cli"}
    assert not graph["settings"] & {"engine", "runs", "analysis", "report", "tasks"}
