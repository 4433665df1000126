"""End-to-end: a run on a corpus with planted topics recovers them; bad input fails cleanly."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from w2v_jax import config as config_lib
from w2v_jax import evaluate, train, word2vec_format

from conftest import ROOT


def tiny_config(corpus: str, **overrides) -> config_lib.Config:
  base = dict(corpus=(corpus,), min_count=1, window_size=3, embedding_dim=16, num_ns=5,
              epochs=3, batch_size=256, steps_per_call=4, learning_rate=0.05, subsample=0.0,
              log_every=8, progress=False, show_words=("t0w0",), threads=1)
  return config_lib.make(**{**base, **overrides})


def _topic_purity(words, vectors, topn=5):
  unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
  sims = unit @ unit.T
  np.fill_diagonal(sims, -np.inf)
  hits = []
  for i, w in enumerate(words):
    nearest = np.argsort(-sims[i])[:topn]
    hits.append(np.mean([words[j][:2] == w[:2] for j in nearest]))
  return float(np.mean(hits))


@pytest.mark.slow
@pytest.mark.parametrize("preset_overrides", [
    {},  # word2vec recipe: SGD, sigmoid, unigram negatives.
    {"optimizer": "adam", "learning_rate": 0.01, "loss": "softmax", "linear_decay": False},
    {"shared_negatives": 32, "negatives_on_host": False},
    {"layout": "windows", "batch_size": 64},
    {"layout": "windows", "negatives_per": "pair", "batch_size": 64},
    {"skipgram_input": "centre", "batch_size": 64},  # fastText's roles.
    {"model": "cbow", "batch_size": 64},
    {"hs": True, "num_ns": 0, "batch_size": 64},
    {"hs": True, "num_ns": 0, "layout": "pairs"},
    {"model": "cbow", "hs": True, "num_ns": 0, "batch_size": 64},
    {"model": "cbow", "cbow_koan": True, "learning_rate": 0.2, "batch_size": 64},
    # The generic step on what the fused one trains by default.
    {"step": "generic", "layout": "windows", "batch_size": 64},
    {"step": "generic", "skipgram_input": "centre", "batch_size": 64},
    {"step": "generic", "model": "cbow", "hs": True, "num_ns": 0, "batch_size": 64},
])
def test_run_recovers_planted_topics_and_writes_outputs(planted_file, tmp_path, preset_overrides):
  workdir = str(tmp_path / "run")
  summary = train.train_and_evaluate(tiny_config(planted_file, **preset_overrides), workdir)
  words, vectors = word2vec_format.read(os.path.join(workdir, "vectors.bin"))
  assert len(words) == 24
  assert _topic_purity(words, vectors) > 0.95
  assert summary["neighbours"]["t0w0"][0].startswith("t0")
  if not summary["config"]["hs"]:  # Below the loss of a table of zeros.
    assert summary["final_loss"] < (1 + summary["config"]["num_ns"]) * np.log(2)
  for name in ("vectors.tsv", "metadata.tsv", "vectors.txt", "vocab.tsv", "config.json",
               "metrics.jsonl", "status.json", "summary.json", "projector_config.pbtxt"):
    assert os.path.exists(os.path.join(workdir, name)), name
  assert json.load(open(os.path.join(workdir, "status.json")))["status"] == "done"
  # One TensorBoard run: the projector's files sit below the run, with no event file of their own.
  events = [os.path.relpath(root, workdir) for root, _, files in os.walk(workdir)
            if any(f.startswith("events.out.tfevents") for f in files)]
  assert events == ["."]
  lines = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
  losses = [l["loss"] for l in lines if "loss" in l]
  assert losses[-1] < losses[0]
  # Every train log has its speed, the last one too (TensorBoard's HParams shows the last).
  speeds = [l["words_per_sec"] for l in lines if "loss" in l]
  assert len(speeds) >= 2 and min(speeds) > 0
  generic_only = {"optimizer", "shared_negatives", "step"} & set(preset_overrides) or (
      preset_overrides.get("layout") == "pairs")
  assert summary["step"] == ("generic" if generic_only else "fused")


def test_evaluation_every_epoch_reaches_logs_and_summary(planted_file, tmp_path, monkeypatch):
  calls = []

  def fake_eval(words, vectors, *args):  # The real one is tested on its own.
    calls.append(vectors.copy())
    return {"eval/analogy_accuracy": float(len(calls)), "eval/wordsim_spearman": 0.5}

  monkeypatch.setattr(evaluate, "evaluate_vectors", fake_eval)
  summary = train.train_and_evaluate(tiny_config(planted_file, eval_every_epoch=True),
                                     str(tmp_path / "run"))
  assert [round(h["epoch"]) for h in summary["eval_history"]] == [1, 2, 3]
  assert [h["eval/analogy_accuracy"] for h in summary["eval_history"]] == [1.0, 2.0, 3.0]
  assert not np.array_equal(calls[0], calls[-1])  # Evaluated on the vectors of that epoch.
  logged = [json.loads(l) for l in open(tmp_path / "run" / "metrics.jsonl")]
  assert sum("eval/analogy_accuracy" in l for l in logged) == 3


def test_same_seed_same_vectors(planted_file, tmp_path):
  config = tiny_config(planted_file, epochs=1)
  a = train.train_and_evaluate(config, str(tmp_path / "a"))
  b = train.train_and_evaluate(config, str(tmp_path / "b"))
  va = word2vec_format.read(str(tmp_path / "a" / "vectors.bin"))[1]
  vb = word2vec_format.read(str(tmp_path / "b" / "vectors.bin"))[1]
  np.testing.assert_array_equal(va, vb)
  assert a["final_loss"] == b["final_loss"]


def _cli(*args, env=None):
  return subprocess.run([sys.executable, "-m", "experiments.train", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture
def bad_inputs(tmp_path):
  empty = tmp_path / "empty.txt"
  empty.write_text("\n\n", encoding="utf-8")
  rare = tmp_path / "rare.txt"
  rare.write_text("every word here is unique\n", encoding="utf-8")
  latin1 = tmp_path / "latin1.txt"
  latin1.write_bytes("caf\xe9 ok\n".encode("latin-1"))
  one_word = tmp_path / "one_word.txt"
  one_word.write_text("amen amen amen\n", encoding="utf-8")
  three = tmp_path / "three.txt"
  three.write_text("alpha beta gamma\n", encoding="utf-8")
  lonely = tmp_path / "lonely.txt"
  lonely.write_text("alpha\nbeta\n", encoding="utf-8")
  return {"empty": str(empty), "rare": str(rare), "latin1": str(latin1),
          "one_word": str(one_word), "three": str(three), "lonely": str(lonely),
          "missing": str(tmp_path / "missing.txt")}


@pytest.mark.slow
@pytest.mark.parametrize("case,args,message", [
    ("missing", ["--corpus", "{missing}"], "missing.txt: no such file"),
    ("empty", ["--corpus", "{empty}"], "empty.txt: corpus holds no words"),
    ("rare", ["--corpus", "{rare}"], "no word occurs at least min_count=5"),
    ("latin1", ["--corpus", "{latin1}"], "latin1.txt: line 1: not valid UTF-8"),
    ("window", ["--window_size", "0"], "--window_size=0: must be >= 1"),
    ("negatives", ["--num_ns", "-2"], "--num_ns=-2: must be >= 0"),
    ("no_outputs", ["--num_ns", "0"], "--num_ns=0: must be >= 1 without --hs"),
    ("model", ["--model", "glove"], "--model='glove': must be one of skipgram, cbow"),
    ("cbow_mean", ["--cbow_mean"], "--cbow_mean: is a CBOW setting; it needs --model=cbow"),
    ("one_word", ["--corpus", "{one_word}", "--min_count", "1", "--hs"],
     "--hs: hierarchical softmax needs at least 2 words"),
    ("merge", ["--merge", "median"], "--merge='median': must be one of sum, mean"),
    ("sync_every", ["--sync_every", "-1"], "--sync_every=-1: must be >= 0"),
    ("rows_with_replicas", ["--replicas", "2", "--table_sharding", "rows"],
     "--table_sharding=rows: needs --replicas=1"),
    # Three words that do pair up, but subsampling at 1e-3 drops them all: say so (3 windows,
    # the fused step's examples; the generic step's pairs are 6).
    ("three", ["--corpus", "{three}", "--min_count", "1"],
     "three.txt: no training pairs: subsampling (--subsampling=word2vec --subsample=0.001) "
     "dropped the words of every one of its 3 examples; on a corpus this small use "
     "--subsample=0"),
    ("three_generic", ["--corpus", "{three}", "--min_count", "1", "--step", "generic"],
     "dropped the words of every one of its 6 examples"),
    ("lonely", ["--corpus", "{lonely}", "--min_count", "1"],
     "no training pairs: every sentence has fewer than 2 words with count >= 1"),
    ("minn_over_maxn", ["--subwords", "--minn", "4", "--maxn", "3"],
     "--minn=4: must be <= --maxn=3"),
    ("no_buckets", ["--subwords", "--bucket", "0"], "--bucket=0: must be >= 1 with --subwords"),
    ("centre_hs", ["--skipgram_input", "centre", "--hs"],
     "--skipgram_input='centre': centre needs --model=skipgram with negative sampling alone"),
    ("centre_pairs", ["--skipgram_input", "centre", "--layout", "pairs"],
     "--skipgram_input='centre': centre needs --layout=windows"),
])
def test_bad_input_is_one_line_and_nonzero(bad_inputs, tmp_path, case, args, message):
  args = [a.format(**bad_inputs) for a in args]
  result = _cli(*args, "--out_dir", str(tmp_path / case), "--progress=false")
  assert result.returncode == 2
  assert "Traceback" not in result.stderr
  errors = [l for l in result.stderr.splitlines() if l.startswith("error:")]
  assert len(errors) == 1 and message in errors[0], result.stderr[-2000:]


def test_divergence_stops_the_run_with_a_clear_error(planted_file, tmp_path):
  workdir = tmp_path / "run"
  with pytest.raises(train.TrainingDiverged, match="lower --learning_rate"):
    train.train_and_evaluate(tiny_config(planted_file, learning_rate=1e30, log_every=4),
                             str(workdir))
  assert json.load(open(workdir / "status.json"))["status"] == "diverged"
  assert not (workdir / "vectors.bin").exists()
