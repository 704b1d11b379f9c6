"""Check the project's imports: every one resolves, and packages form no cycle.

    python tools/check_imports.py [--list]

import-linter (``.importlinter``) checks the layers and private modules from the
module-level import graph; this script adds what it cannot see:

* imports inside functions count: a cycle between packages that only a
  function-level import closes is still a cycle (and is reported);
* every import of our own modules, at any level and also in tests/, benchmarks/
  and tools/, must resolve (the module exists, and the name exists in it), so a
  moved name cannot hide in a function that a test happens not to run;
* the number of function-level imports of our own packages may not grow past
  ``MAX_FUNCTION_LEVEL``: each one is a lazy import somebody must justify (lower
  the bound when you remove some).  ``--list`` prints them.

A "package" is ``v23py.<name>`` (``v23py.v23.<name>``, ``v23py.v23.services.<name>``,
``v23py.v23.vdlroot.<name>`` and ``v23py.xref.<name>`` for the generated packages,
which sit in different layers), ``syncbased.<name>``, or a top-level package (``fortune``, ``ifc``, ...).
Exit status 1 on any problem.
"""
import ast
import importlib
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OURS = ("v23py", "syncbased", "fortune", "ifc", "fileserver")
ALSO_RESOLVED = ("tests", "benchmarks", "tools")   # their imports must resolve too
MAX_FUNCTION_LEVEL = 391   # (330 at issue 14 stage B; the debug, proxy and discharger work added ~50;
#   issue 18: v23py.rpc loads its model and the context -- Twisted -- on first use, and vrpc its
#   runtime-free call; principal its RPC half, and v23py.security the access-tag validator and
#   the discharge helpers, on first need; issue 19: syncbased's neighborhood loads
#   v23py.discovery when mDNS starts, after the ENDPOINT= line)


def package_of(module):
    parts = module.split(".")
    if parts[0] in ("v23py", "syncbased") and len(parts) > 1:
        if parts[:2] == ["v23py", "v23"] and len(parts) > 2:
            n = 4 if parts[2] in ("services", "vdlroot") and len(parts) > 3 else 3
            return ".".join(parts[:n])
        if parts[:2] == ["v23py", "xref"] and len(parts) > 2:
            return ".".join(parts[:3])
        return ".".join(parts[:2])
    return parts[0]


def module_name(path):
    rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
    return rel[:-len(".__init__")] if rel.endswith(".__init__") else rel


def iter_imports(path):
    """(module, is_package, [(target module, name or None, function level, line)])."""
    mod = module_name(path)
    is_pkg = path.endswith("__init__.py")
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    out = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                      ast.Lambda))
            if isinstance(child, ast.Import):
                for a in child.names:
                    out.append((a.name, None, in_function, child.lineno))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = mod.split(".")
                    if not is_pkg:
                        base = base[:-1]
                    base = base[:len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module
                for a in child.names:
                    out.append((target, a.name, in_function, child.lineno))
            visit(child, inner)
    visit(tree, False)
    return mod, out


def project_files(tops=OURS):
    for top in tops:
        base = os.path.join(ROOT, top)
        for d, dirs, files in os.walk(base):
            dirs[:] = sorted(x for x in dirs if not x.startswith((".", "__")))
            for f in sorted(files):
                if f.endswith(".py") and f != "__main__.py":
                    yield os.path.join(d, f)


def resolves(target, name):
    try:
        m = importlib.import_module(target)
    except ImportError as e:
        return f"cannot import {target}: {e}"
    if name is None or name == "*" or hasattr(m, name):
        return None
    try:
        importlib.import_module(f"{target}.{name}")
        return None
    except ImportError:
        return f"{target} has no {name!r}"


def find_cycles(graph):
    """Strongly connected components with more than one package (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))
    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    sys.path.insert(0, ROOT)
    problems = []
    graph = {}
    edges = {}
    function_level = []
    for path in project_files():
        mod, imports = iter_imports(path)
        for target, name, in_function, line in imports:
            if target.split(".")[0] not in OURS:
                continue
            where = f"{os.path.relpath(path, ROOT)}:{line}"
            err = resolves(target, name)
            if err:
                problems.append(f"{where}: {err}")
            full = target if name is None else f"{target}.{name}"
            a, b = package_of(mod), package_of(full)
            if in_function:
                function_level.append(f"{where}: {full}")
            if a != b:
                graph.setdefault(a, set()).add(b)
                edges.setdefault((a, b), []).append(where + (" (in a function)" if in_function
                                                             else ""))
    for comp in find_cycles(graph):
        problems.append("import cycle between packages: " + " <-> ".join(comp))
        for a in comp:
            for b in comp:
                if b in graph.get(a, ()):
                    problems.append(f"    {a} -> {b}: {', '.join(edges[(a, b)][:3])}")
    for path in project_files(ALSO_RESOLVED):
        mod, imports = iter_imports(path)
        for target, name, in_function, line in imports:
            if target.split(".")[0] in OURS:
                err = resolves(target, name)
                if err:
                    problems.append(f"{os.path.relpath(path, ROOT)}:{line}: {err}")
    if "--list" in argv:
        print("\n".join(function_level))
    print(f"{len(function_level)} function-level imports of our own modules "
          f"(at most {MAX_FUNCTION_LEVEL})")
    if len(function_level) > MAX_FUNCTION_LEVEL:
        problems.append(f"{len(function_level)} function-level imports: more than "
                        f"{MAX_FUNCTION_LEVEL}; import at module level, or justify and raise the bound")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
