#!/usr/bin/env python3
"""promcheck.py - check a page against the Prometheus text exposition format
(version 0.0.4, "Exposition formats" in the Prometheus documentation).

    promcheck.py FILE

Every line must be a "# HELP name text" line, a "# TYPE name type" line, or
a sample "name{label="value",...} value [timestamp]" with a valid metric
name, label names, escaped label values (only \\\\, \\" and \\n) and a float
value. A family's TYPE comes before its samples and at most once, HELP at most
once, a family's samples are not interleaved with another's, and the page
ends with a newline. Prints each problem as "FILE:LINE: message"; exit 1 when
there is one, 0 otherwise.
"""
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(
    r"^(" + NAME + r")(?:\{(?:" + LABEL + r"(?:," + LABEL + r")*,?)?\})? (\S+)(?: (-?[0-9]+))?$"
)
HELP = re.compile(r"^# HELP (" + NAME + r") (?:[^\\\n]|\\[\\n])*$")
TYPE = re.compile(r"^# TYPE (" + NAME + r") (counter|gauge|histogram|summary|untyped)$")
SUFFIXES = ("_bucket", "_count", "_sum")


def family(name, types):
    for s in SUFFIXES:
        if name.endswith(s) and name[: -len(s)] in types:
            return name[: -len(s)]
    return name


def main():
    path = sys.argv[1]
    text = open(path, encoding="utf-8").read()
    errors = []
    if not text.endswith("\n"):
        errors.append("%s: does not end with a newline" % path)
    types, helps, done = {}, set(), set()
    current = None
    samples = 0
    for no, line in enumerate(text.split("\n")[:-1], 1):
        where = "%s:%d: " % (path, no)
        if line.startswith("# HELP "):
            m = HELP.match(line)
            if not m:
                errors.append(where + "bad HELP line")
            elif m.group(1) in helps:
                errors.append(where + "second HELP for " + m.group(1))
            else:
                helps.add(m.group(1))
        elif line.startswith("# TYPE "):
            m = TYPE.match(line)
            if not m:
                errors.append(where + "bad TYPE line")
            elif m.group(1) in types:
                errors.append(where + "second TYPE for " + m.group(1))
            elif m.group(1) in done or m.group(1) == current:
                errors.append(where + "TYPE after samples of " + m.group(1))
            else:
                types[m.group(1)] = m.group(2)
        elif line.startswith("#"):
            continue  # a comment
        else:
            m = SAMPLE.match(line)
            if not m:
                errors.append(where + "not a sample line: " + line)
                continue
            try:
                float(m.group(2))
            except ValueError:
                errors.append(where + "value is not a float: " + m.group(2))
            fam = family(m.group(1), types)
            if fam != current:
                if fam in done:
                    errors.append(where + "samples of %s interleaved with another family" % fam)
                if current is not None:
                    done.add(current)
                current = fam
            samples += 1
    for e in errors:
        print(e)
    print("%s: %d samples, %d families with TYPE, %d problems" % (path, samples, len(types), len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
