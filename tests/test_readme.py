"""The README's code must run as written: it is the public example of reusing the step and the
run API."""

import os
import re

import numpy as np
import pytest

from conftest import ROOT
from w2v_jax import train, word2vec_format


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
