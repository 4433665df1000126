"""The README's code must run as written: it is the public example of reusing the step."""

import os
import re

from conftest import ROOT


def test_readme_python_example_runs_and_learns(capsys):
  text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
  blocks = re.findall(r"```python\n(.*?)```", text, re.S)
  assert blocks, "README has no python example"
  namespace: dict = {}
  exec(compile(blocks[0], "README.md", "exec"), namespace)  # pylint: disable=exec-used
  loss = float(namespace["metrics"]["loss"])
  assert loss < 0.05, loss  # 100 steps on one batch: every margin is met.
  assert namespace["state"].params["input"].shape == (5, 16)
