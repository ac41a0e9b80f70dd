#!/usr/bin/env python3
"""Checks that the code samples in docs/embedding.md are the tested code: every fenced
block right after a `<!-- tested: PATH -->` line must equal the part of PATH between its
`// sample:begin` and `// sample:end` lines. Run by bindings/run-tests.sh."""

import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
doc = root / "docs" / "embedding.md"
marker = re.compile(r"<!-- tested: (\S+) -->\n```\w*\n(.*?)```\n", re.S)

failed = 0
found = 0
for path, block in marker.findall(doc.read_text()):
    found += 1
    source = (root / path).read_text()
    m = re.search(r"// sample:begin\n(.*?)// sample:end\n", source, re.S)
    if not m:
        print(f"{path}: no sample:begin/sample:end markers")
        failed += 1
    elif m.group(1) != block:
        print(f"docs/embedding.md: the sample from {path} differs from the tested code")
        failed += 1
if found == 0:
    print("docs/embedding.md: no tested samples found")
    failed += 1
print(f"doc samples: {found - failed} match, {failed} differ")
sys.exit(1 if failed else 0)
