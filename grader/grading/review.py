"""Submissions for the instructor to review: code that reaches for what these exercises never need.

A static look at each graded module (parsed with ``ast``, never imported or run): calls into the
interpreter's memory through ``ctypes``, walks over frames or the object graph, surgery on
``sys.modules`` or ``builtins``, imports of the kit, custom pickling (``__reduce__``), writes to raw
file descriptors, and looks through folders or at the kit's own files. None of the exercises needs
any of it; an honest program with one of them is rare, so a hit asks for a look, never changes a
point, and goes to the instructor (``results.json``'s ``extra_data``, ``summary.md``), not to the
student. ``multiprocessing.Value(ctypes.c_int)``, ``gc.collect()`` and ``inspect.signature`` are
ordinary and not flagged.
"""

from __future__ import annotations

import ast
from pathlib import Path

# attribute -> why, when it is read from the module named
FLAGGED_ATTRIBUTES = {
    "ctypes": {name: "reaches into memory or C libraries with ctypes" for name in
               ("pythonapi", "CDLL", "cdll", "PyDLL", "pydll", "memmove", "memset", "cast", "string_at",
                "addressof", "LibraryLoader")},
    "sys": {"_getframe": "walks the interpreter's frames", "modules": "looks into or changes sys.modules",
            "settrace": "traces the interpreter", "setprofile": "traces the interpreter",
            "addaudithook": "hooks the interpreter"},
    "inspect": {name: "walks the interpreter's frames" for name in
                ("currentframe", "stack", "getouterframes", "getinnerframes", "getmembers")},
    "gc": {name: "walks the object graph" for name in ("get_objects", "get_referrers", "get_referents")},
    "os": {"write": "writes to a raw file descriptor", "fdopen": "opens a raw file descriptor",
           "open": "opens a raw file descriptor", "dup2": "redirects a raw file descriptor",
           "walk": "looks through folders", "listdir": "looks through folders",
           "scandir": "looks through folders",
           **{name: "writes files" for name in ("replace", "rename", "renames", "link", "symlink", "utime")},
           **{name: "runs other programs" for name in ("system", "popen", "execv", "execve", "execvp",
                                                        "execl", "posix_spawn", "spawnv", "spawnl")}},
    "glob": {name: "looks through folders" for name in ("glob", "iglob")},
}
# attributes that only a frame, a traceback or a generator has
FRAME_ATTRIBUTES = {"f_back", "f_globals", "f_locals", "f_builtins", "tb_frame", "gi_frame", "cr_frame",
                    "ag_frame"}
FLAGGED_IMPORTS = {"grader": "imports the grading kit", "builtins": "changes builtins",
                   "_ctypes": "reaches into memory or C libraries with ctypes",
                   "importlib": "imports by name at run time", "subprocess": "runs other programs",
                   "shutil": "copies or moves files"}
# calls that open a file: writing one is something these exercises never do (the kit keeps its
# records in files beside the check), reading one is left alone
OPENERS = {"open"}
WRITE_METHODS = {"write_text", "write_bytes", "touch"}
FLAGGED_NAMES = {"__builtins__": "changes builtins", "__import__": "imports by name at run time"}
FLAGGED_METHODS = {"__reduce__": "pickles itself in a custom way", "__reduce_ex__": "pickles itself in a custom way"}
# words in a string that name the kit's own files
KIT_WORDS = ("solutions", "hidden", "grader", "site-packages", "egg-info", "dist-packages")
KIT_VARIABLES = "BAOZI_"  # how the kit's environment variables begin (where its records are kept)
MAX_HITS = 20  # per module: enough to judge, not a flood


def scan_source(text: str, file: str) -> list[str]:
    """``file:line: what`` for every flagged spot of one module's source."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return []  # it does not compile: its checks say so
    nodes = list(ast.walk(tree))  # walked once: a walk costs more than the looks below
    aliases = _aliases(nodes)
    prose = {id(n.value) for n in nodes if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
    hits: list[tuple[int, str]] = []
    for node in nodes:
        why = None if id(node) in prose else _why(node, aliases)
        if why:
            hits.append((getattr(node, "lineno", 0), why))
    seen, out = set(), []
    for line, why in sorted(hits):
        if (line, why) not in seen:
            seen.add((line, why))
            out.append(f"{file}:{line}: {why}")
    return out[:MAX_HITS]


def scan_modules(root: Path) -> list[str]:
    """Every graded module under `root` (a laid-out submission), scanned."""
    hits = []
    for path in sorted(root.glob("*/*.py")):
        hits += scan_source(path.read_text(encoding="utf-8", errors="replace"), path.name)
    return hits


# What a check reports when the answer of the process that ran the student's code was not an
# answer, or did not match what the kit saw (grader.checking.kit.explain): tampering seen at run time.
RUNTIME_MARKS = ("UNREADABLE ANSWER", "INCONSISTENT")


def scan_results(results: list[dict]) -> list[str]:
    """``exercise/check: what`` for each check whose run showed tampering (RUNTIME_MARKS, or the
    flags its runs raised: ``Outcome.flags``), once per check and kind of evidence however many
    start methods showed it."""
    hits: dict[str, None] = {}
    for result in results:
        where = f"{result.get('exercise', '?')}/{result.get('check', '?')}: at run time, "
        message = str(result.get("message", ""))
        if message.startswith(RUNTIME_MARKS):
            hits[where + message.split(": ", 1)[-1].split(". Code that")[0]] = None
        flags = result.get("flags")
        for flag in flags if isinstance(flags, list) else []:
            hits[where + str(flag)[:300]] = None
    return list(hits)[:MAX_HITS]


def _aliases(nodes: list[ast.AST]) -> dict[str, str]:
    """Local name -> the module it stands for (``import ctypes as c``, ``from os import walk``)."""
    names = {}
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module.split('.')[0]}.{alias.name}"
    return names


def _why(node: ast.AST, aliases: dict[str, str]) -> str | None:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        for module in modules:
            why = FLAGGED_IMPORTS.get(module.split(".")[0])
            if why:
                return why
        if isinstance(node, ast.ImportFrom):  # from ctypes import pythonapi
            table = FLAGGED_ATTRIBUTES.get((node.module or "").split(".")[0], {})
            return next((table[a.name] for a in node.names if a.name in table), None)
        return None
    if isinstance(node, ast.Attribute):
        if node.attr in FRAME_ATTRIBUTES:
            return "walks the interpreter's frames"
        if isinstance(node.value, ast.Name):
            module = aliases.get(node.value.id, node.value.id)
            return FLAGGED_ATTRIBUTES.get(module, {}).get(node.attr)
        return None
    if isinstance(node, ast.Name):
        if node.id in FLAGGED_NAMES:
            return FLAGGED_NAMES[node.id]
        module, _, name = aliases.get(node.id, "").partition(".")
        return FLAGGED_ATTRIBUTES.get(module, {}).get(name) if name else None
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in FLAGGED_METHODS:
        return FLAGGED_METHODS[node.name]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        lowered = node.value.lower()
        word = next((w for w in KIT_WORDS if w in lowered), None)
        if word:
            return f"names the kit's files ({word!r} in a string)"
        if KIT_VARIABLES in node.value:
            return "names the kit's environment variables (where its records are kept)"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("rglob", "iterdir"):
        return "looks through folders"
    if isinstance(node, ast.Call) and _writes_a_file(node):
        return "writes files"
    if _is_getattr_of_module(node):  # getattr(sys, "modules"): the same attribute, by name
        module = aliases.get(node.args[0].id, node.args[0].id)
        return FLAGGED_ATTRIBUTES.get(module, {}).get(node.args[1].value)
    return None


def _writes_a_file(call: ast.Call) -> bool:
    """open(...) (a name or a method: io.open, Path.open) with a mode that may write, or one it
    cannot read (a variable); Path.write_text and the like."""
    func = call.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    if name in WRITE_METHODS and isinstance(func, ast.Attribute):
        return True
    if name not in OPENERS:
        return False
    method = isinstance(func, ast.Attribute) and not (isinstance(func.value, ast.Name) and func.value.id in ("io", "codecs"))
    args = call.args[0 if method else 1:]  # Path(...).open(mode); open(file, mode)
    mode = args[0] if args else next((k.value for k in call.keywords if k.arg == "mode"), None)
    if mode is None:
        return False  # the default: read
    return not (isinstance(mode, ast.Constant) and isinstance(mode.value, str)
                and not set(mode.value) & set("wax+"))


def _is_getattr_of_module(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
            and len(node.args) >= 2 and isinstance(node.args[0], ast.Name)
            and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str))
