#!/usr/bin/env python3
"""The code's shape, checked: no import circles between source files, no
function over 120 lines, no file over 800 lines (tests excepted).

    python3 .ci/shape.py            # report; exit 1 on a violation

Imports are read as text: every `use` item and every `crate::`/`super::`/
`self::` path in code, resolved to the longest module path that is a file of
the same crate. A `mod child;` declaration is not an import (it only says
where the child's file is); `pub use child::X` in a parent is. Lines inside
`#[cfg(test)]` modules are left out of both checks, as are files under
`tests/`, `benches/` and `examples/`.
"""

import os
import re
import sys

ROOTS = ["src", "training/src", "python/src"]
MAX_FN = 120
MAX_FILE = 800
# Functions allowed to be longer, with why: (path prefix, name).
LONG_FN_EXEMPT = {
    ("src/checkpoint/format/pickle", "run"): "the pickle VM's opcode switch, one arm per opcode",
}

USE_RE = re.compile(r"\buse\s+([A-Za-z_][A-Za-z0-9_]*(?:::[^;]*)?);", re.S)
PATH_RE = re.compile(r"(?<![:\w])([A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)+)")
FN_RE = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?fn\s+(\w+)")


def strip_comments_and_strings(text):
    """Comments and string literals blanked (newlines kept), so braces and
    paths inside them are not read."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]) or (c == "'" and re.match(r"'\\u\{[0-9a-fA-F]+\}'", text[i:i + 12])):
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", text[i:])
            out.append(" " * len(m.group(0)))
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def blank_test_modules(text):
    """`#[cfg(test)] mod x { … }` blanked; also the number of lines they
    span."""
    out = list(text)
    test_lines = [0]
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:pub\s+)?mod\s+\w+\s*\{", text):
        depth, j = 0, m.end() - 1
        while j < len(text):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        for k in range(m.start(), min(j + 1, len(text))):
            if out[k] != "\n":
                out[k] = " "
        test_lines[0] += text.count("\n", m.start(), j + 1) + 1
    return "".join(out), test_lines[0]


def expand_use(tree):
    """`crate::a::{b, c::D}` → ['crate::a::b', 'crate::a::c::D']."""
    tree = re.sub(r"\s+", "", tree)
    m = re.match(r"^(.*?)\{(.*)\}$", tree)
    if not m:
        return [re.sub(r"::\*$", "", re.sub(r"as\w+$", "", tree))]
    prefix, inner = m.group(1), m.group(2)
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    parts.append(cur)
    res = []
    for p in filter(None, parts):
        if p == "self":
            res.append(prefix.rstrip(":"))
        else:
            res.extend(expand_use(prefix + p))
    return res


class Crate:
    def __init__(self, root):
        self.root = root
        self.files = {}  # module path tuple → file
        for dirpath, _, names in os.walk(root):
            for name in names:
                if name.endswith(".rs"):
                    f = os.path.join(dirpath, name)
                    self.files[self.module_of(f)] = f

    def module_of(self, f):
        rel = os.path.relpath(f, self.root)[:-3].split(os.sep)
        if rel[-1] == "mod" or (len(rel) == 1 and rel[0] in ("lib", "main")):
            rel = rel[:-1]
        return tuple(rel)

    def resolve(self, module, path):
        parts = path.split("::")
        if parts[0] == "crate":
            base, rest = (), parts[1:]
        elif parts[0] not in ("self", "super"):
            # A bare path: a child module of this one (2018 paths), or
            # anything else (std, a dependency, a local type): not ours.
            if module + (parts[0],) not in self.files:
                return None
            base, rest = module, parts
        else:
            base = module
            while parts and parts[0] in ("self", "super"):
                if parts[0] == "super":
                    base = base[:-1]
                parts = parts[1:]
            rest = parts
        full = base + tuple(rest)
        for k in range(len(full), -1, -1):
            if full[:k] in self.files:
                return self.files[full[:k]]
        return None


def check_crate(root, problems):
    crate = Crate(root)
    edges = {f: set() for f in crate.files.values()}
    for module, f in crate.files.items():
        text, n_test = blank_test_modules(strip_comments_and_strings(open(f, encoding="utf-8").read()))
        paths = []
        for m in USE_RE.finditer(text):
            paths.extend(expand_use(m.group(1)))
        for m in PATH_RE.finditer(text):
            paths.append(m.group(1))
        for p in paths:
            target = crate.resolve(module, p)
            if target and target != f:
                edges[f].add(target)
        check_lengths(f, text, n_test, problems)
    for cycle in cycles(edges):
        members = set(cycle)
        inner = [f"{a} → {b}" for a in cycle for b in sorted(edges[a]) if b in members]
        problems.append(
            f"import circle among {len(cycle)} files: " + "; ".join(inner)
        )


def check_lengths(f, text, n_test, problems):
    lines = text.split("\n")
    code = len(lines) - n_test
    if code > MAX_FILE:
        problems.append(f"{f}: {code} lines outside tests (over {MAX_FILE})")
    for i, line in enumerate(lines):
        m = FN_RE.match(line)
        if not m:
            continue
        depth, started = 0, False
        for j in range(i, len(lines)):
            for ch in lines[j]:
                if ch == "{":
                    depth += 1
                    started = True
                elif ch == "}":
                    depth -= 1
                elif ch == ";" and not started and depth == 0:
                    break  # a declaration without a body
            else:
                if started and depth == 0:
                    n = j - i + 1
                    exempt = any(
                        f.startswith(prefix) and m.group(1) == name
                        for prefix, name in LONG_FN_EXEMPT
                    )
                    if n > MAX_FN and not exempt:
                        problems.append(f"{f}:{i + 1}: fn {m.group(1)} is {n} lines (over {MAX_FN})")
                    break
                continue
            break


def cycles(edges):
    """Strongly connected components of more than one file (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
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
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main():
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    problems = []
    for root in ROOTS:
        check_crate(root, problems)
    for p in problems:
        print(p)
    n_files = sum(len(Crate(r).files) for r in ROOTS)
    print(f"shape: {n_files} files in {', '.join(ROOTS)}; {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
