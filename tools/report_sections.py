"""Shared by the benchmark report scripts: JSON loading and the marked sections of a file.

Each report owns one section of BENCHMARKS.md between its begin and end markers; writing a
section replaces only what lies between them (or appends the section when it is missing).
"""

import json
import os


def load_json(path, default=None):
    """The parsed file, or `default` when it does not exist."""
    if not os.path.exists(path):
        return default
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_section(path, section, begin, end):
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else "# lanes benchmarks\n\n"
    if begin in text and end in text:
        a = text.index(begin)
        b = text.index(end) + len(end)
        text = text[:a] + section.rstrip("\n") + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
