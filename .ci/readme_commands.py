"""Prints the README's set-up commands, one a line: the fenced bash block under its first section,
"## Set up and run". .ci/run runs exactly these; tests/test_readme.py checks there are two."""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def commands(readme: str) -> list[str]:
  section = re.search(r"^## Set up and run\n(.*?)(?=^## )", readme, re.S | re.M)
  block = section and re.search(r"```bash\n(.*?)```", section.group(1), re.S)
  if not block:
    raise SystemExit("README.md: no ```bash block under '## Set up and run'")
  return [line for line in block.group(1).splitlines() if line.strip()]


if __name__ == "__main__":
  with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
    sys.stdout.write("".join(line + "\n" for line in commands(f.read())))
