"""The README's code must run as written: it is the public example of reusing the step and the
run API."""

import ast
import configparser
import glob
import os
import re
import sys

import numpy as np
import pytest

from conftest import ROOT
from w2v_jax import train, word2vec_format


def _readme_set_up_commands() -> list[str]:
  """The fenced bash block under the README's first section, "## Set up and run", a line each."""
  with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
    readme = f.read()
  section = re.search(r"^## Set up and run\n(.*?)(?=^## )", readme, re.S | re.M)
  block = section and re.search(r"```bash\n(.*?)```", section.group(1), re.S)
  assert block, "README.md: no ```bash block under '## Set up and run'"
  return [line for line in block.group(1).splitlines() if line.strip()]


def test_ci_runs_the_readme_set_up_commands_as_written_and_installs_nothing_else():
  commands = _readme_set_up_commands()
  assert len(commands) == 2, commands  # The main job, then the tests.
  install_and_train, tests = commands
  assert install_and_train.startswith("pip install -e '.[test]' && python -m experiments.train")
  assert tests == "python -m pytest -q"
  with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as f:
    run_lines = [line.strip() for line in f if not line.lstrip().startswith("#")]
  assert [line for line in run_lines if line in commands] == commands, (
      ".ci/run must run the README's commands, in order, as written")
  others = [line for line in run_lines if line not in commands]
  assert not [line for line in others if "pip install" in line or "pytest" in line], (
      ".ci/run installs or tests only through the README's commands")


def _imported_top_levels(paths: list[str]) -> set[str]:
  """Top-level modules the files import, or ask for through pytest.importorskip."""
  names = set()
  for path in paths:
    with open(path, encoding="utf-8") as f:
      tree = ast.parse(f.read())
    for node in ast.walk(tree):
      if isinstance(node, ast.Import):
        names.update(alias.name.split(".")[0] for alias in node.names)
      elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
        names.add(node.module.split(".")[0])
      elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "importorskip"
            and node.args and isinstance(node.args[0], ast.Constant)):
        names.add(node.args[0].value.split(".")[0])
  return names


def test_the_test_extra_installs_every_package_the_suite_imports():
  """`pip install -e '.[test]'` (the README's command) must be enough for every test, the
  benchmark modules the tests import included: none may skip for want of a package."""
  setup = configparser.ConfigParser()
  setup.read(os.path.join(ROOT, "setup.cfg"))

  def names(requirements: str) -> set[str]:
    return {re.split(r"[<>=!~\[ ]", line.strip())[0].lower()
            for line in requirements.splitlines() if line.strip()}

  installed = (names(setup["options"]["install_requires"])
               | names(setup["options.extras_require"]["test"]))
  local = {"w2v_jax", "experiments", "benchmarks", "tests", "conftest", "fused_reference"}
  files = glob.glob(os.path.join(ROOT, "tests", "*.py")) + glob.glob(
      os.path.join(ROOT, "benchmarks", "*.py"))
  imported = {name for name in _imported_top_levels(files)
              if name not in sys.stdlib_module_names and name not in local
              and not name.startswith("test_")}
  # Import names that differ from their distribution's: absl is absl-py.
  imported = {{"absl": "absl-py"}.get(name, name).lower() for name in imported}
  assert imported - installed == set(), "add these to setup.cfg's test extra"


def _blocks():
  text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
  blocks = re.findall(r"```python\n(.*?)```", text, re.S)
  assert len(blocks) == 2, "README has the step example, then the run API example"
  return blocks


def test_readme_step_example_runs_and_learns():
  namespace: dict = {}
  exec(compile(_blocks()[0], "README.md", "exec"), namespace)  # pylint: disable=exec-used
  loss = float(namespace["metrics"]["loss"])
  assert loss < 0.05, loss  # 100 steps on one batch: every margin is met.
  assert namespace["state"].params["input"].shape == (5, 16)


@pytest.mark.slow
def test_readme_objective_gets_a_whole_run_resumes_bit_exactly_and_gensim_reads_it(
    tmp_path, monkeypatch):
  """The README's own objective and transform through train_and_evaluate on the bundled corpus:
  the generic step's run, interrupted and resumed to the same vectors, which gensim loads."""
  from gensim.models import KeyedVectors  # pylint: disable=import-outside-toplevel

  monkeypatch.chdir(tmp_path)
  step_example, run_example = _blocks()
  namespace: dict = {}
  exec(compile(step_example, "README.md", "exec"), namespace)  # pylint: disable=exec-used
  exec(compile(run_example, "README.md", "exec"), namespace)  # pylint: disable=exec-used
  summary = namespace["summary"]
  assert summary["step"] == "generic" and summary["steps"] > 100
  assert np.isfinite(summary["final_loss"]) and 0 <= summary["final_accuracy"] <= 1

  config, objective, tx = namespace["config"], namespace["objective"], namespace["tx"]
  settings = config.make(layout="windows", epochs=1, progress=False, checkpoint_every=64)
  calls = {"n": 0}

  def stop_midway():
    calls["n"] += 1
    return calls["n"] == 40

  with pytest.raises(train.Interrupted):
    train.train_and_evaluate(settings, "cut", objective=objective, tx=tx,
                             should_stop=stop_midway)
  train.train_and_evaluate(settings, "cut", objective=objective, tx=tx, resume=True)
  whole = word2vec_format.read("runs/margin/vectors.bin")
  resumed = word2vec_format.read("cut/vectors.bin")
  assert whole[0] == resumed[0]
  np.testing.assert_array_equal(whole[1], resumed[1])  # Bit for bit on the CPU.
  gensim_vectors = KeyedVectors.load_word2vec_format("runs/margin/vectors.bin", binary=True)
  assert gensim_vectors.vector_size == 100 and len(gensim_vectors) == len(whole[0])
  np.testing.assert_array_equal(gensim_vectors[whole[0][7]], whole[1][7])
