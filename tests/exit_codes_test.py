#!/usr/bin/env python3
"""The exit status table is one table: README.md, the man page and the constants the binary
returns (daemon/cli/commands.hpp exit_codes) list the same codes."""
import re
import sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
readme = (root / "README.md").read_text()
table = readme[readme.index("Exit status"):]
table = table[:table.index("\n\n", table.index("| status |"))]
readme_codes = {int(c) for c in re.findall(r"^\| (\d+) \|", table, re.M)}

man = (root / "packaging/notion-syncd.8").read_text()
section = man[man.index(".SH EXIT STATUS"):man.index(".SH", man.index(".SH EXIT STATUS") + 3)]
man_codes = {int(c) for c in re.findall(r"^\.B (\d+)$", section, re.M)}

header = (root / "daemon/cli/commands.hpp").read_text()
code_codes = {int(c) for c in re.findall(r"constexpr int \w+ = (\d+);", header)}

failures = 0
for name, codes in (("README.md", readme_codes), ("notion-syncd.8", man_codes)):
    if codes == code_codes:
        print(f"ok: {name} lists exit codes {sorted(codes)}")
    else:
        print(f"FAIL: {name} lists {sorted(codes)}, the binary uses {sorted(code_codes)}")
        failures += 1
print(f"{2 - failures} passed, {failures} failed")
sys.exit(1 if failures else 0)
