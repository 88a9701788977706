#!/usr/bin/python3
"""The README's "From C" and "From Python" code blocks must be exact
excerpts (consecutive lines) of examples/c/beenet-listen.c and
examples/python/beenet_listen.py, so what README shows is what the tests
run.  A line "..." in a block stands for omitted lines.

    check-readme.py SOURCE_ROOT
"""
import os
import re
import sys

SECTIONS = {
    "### From C": ("c", "examples/c/beenet-listen.c"),
    "### From Python": ("python", "examples/python/beenet_listen.py"),
}


def blocks(readme, heading, lang):
    part = readme.split("\n" + heading, 1)[1].split("\n#", 1)[0]
    return re.findall(r"```" + lang + r"\n(.*?)```", part, re.S)


def is_excerpt(block, source):
    """Each run of lines between "..." lines appears, in order, in source."""
    pos = 0
    for run in re.split(r"(?m)^\.\.\.\n", block):
        if not run:
            continue
        at = source.find(run, pos)
        if at < 0 or (at > 0 and source[at - 1] != "\n"):
            print("not in the example file:\n" + run)
            return False
        pos = at + len(run)
    return True


def main(root):
    readme = open(os.path.join(root, "README.md"), encoding="utf-8").read()
    ok = True
    for heading, (lang, path) in SECTIONS.items():
        source = open(os.path.join(root, path), encoding="utf-8").read()
        found = blocks(readme, heading, lang) if "\n" + heading in readme else []
        if not found:
            print("README: no %s block under %r" % (lang, heading))
            ok = False
        for b in found:
            if is_excerpt(b, source):
                print("README %r: %d lines, an excerpt of %s"
                      % (heading, b.count("\n"), path))
            else:
                ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
