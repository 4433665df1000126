import time

import numpy as np
import optax
import pytest

from benchmarks import common
from benchmarks import throughput


def test_gensim_corpus_file_schedule_falls_one_worker_share_per_epoch():
  make = common.gensim_corpus_file_schedule(workers=2, epochs=5)
  schedule = make(0.025, 100)
  span = 0.025 * (1 - 1e-4)
  # Epoch 0 runs from 0.025 down only half of its linear share; epoch 1 starts where it should.
  expected = {0: 0.025, 10: 0.025 - span * 0.05, 20: 0.025 - span * 0.2,
              99: 0.025 - span * (4 + 0.95 / 2) / 5}
  for count, lr in expected.items():
    assert float(schedule(count)) == pytest.approx(lr, rel=1e-6)


def test_gensim_corpus_file_schedule_with_one_worker_is_the_linear_decay():
  ours = common.gensim_corpus_file_schedule(workers=1, epochs=5)(0.025, 100)
  linear = optax.linear_schedule(0.025, 0.025e-4, 100)
  counts = np.arange(100)
  np.testing.assert_allclose([float(ours(c)) for c in counts],
                             [float(linear(c)) for c in counts], rtol=1e-5)


def test_combo_names_and_settings_are_inverse():
  for name in (*common.COMBOS, "sg-ns+hs", "cbow-ns+hs"):
    settings = common.Settings(corpus="c", **common.combo_settings(name))
    assert common.combo_name(settings) == name


def test_hs_combos_train_without_negatives():
  assert common.combo_settings("cbow-hs") == {"model": "cbow", "hs": True, "num_ns": 0}
  assert common.combo_settings("sg-ns") == {"model": "skipgram", "hs": False, "num_ns": 5}


def test_combo_name_rejects_settings_without_an_output_layer_or_model():
  with pytest.raises(ValueError, match="num_ns=0, hs=False"):
    common.combo_name(common.Settings(corpus="c", num_ns=0))
  with pytest.raises(ValueError, match="model 'glove'"):
    common.combo_name(common.Settings(corpus="c", model="glove"))


def test_parse_combos_keeps_order_and_drops_repeats():
  assert common.parse_combos(" cbow-hs,sg-ns,cbow-hs ") == ["cbow-hs", "sg-ns"]


@pytest.mark.parametrize("text", ["sg-xx", "skipgram-ns", "sg-ns,cbow", ","])
def test_unknown_combo_is_a_clear_error(text):
  with pytest.raises(ValueError, match="choose from sg-ns, cbow-ns, sg-hs, cbow-hs"):
    common.parse_combos(text)


def test_system_names_tag_only_what_differs_from_the_default():
  assert common.system_name("gensim", "", "") == "gensim"
  assert common.system_name("gensim", "cbow-hs", "") == "gensim[cbow-hs]"
  assert common.system_name("w2v_jax", "word2vec", "sg-hs") == "w2v_jax[word2vec, sg-hs]"


def test_machine_info_names_the_cpu_and_its_cores():
  info = common.machine_info()
  assert set(info) == {"cpu_model", "cores", "platform"}
  assert info["cpu_model"] and info["cores"] >= 1
  assert common.describe_machine(info).endswith(f", {info['cores']} cores")


def test_run_jobs_alternates_the_order_and_seeds_each_repeat(monkeypatch):
  calls = []

  def fake_worker(system, settings, extra):
    calls.append((system, common.combo_name(settings), settings.seed, extra))
    return {"system": system}

  monkeypatch.setattr(common, "run_worker", fake_worker)
  jobs = [common.Job("sg-ns", "w2v_jax", "w2v_jax", {"batch_size": 8}),
          common.Job("cbow-hs", "gensim", "gensim", {})]
  runs = common.run_jobs(jobs, common.Settings(corpus="c"), repeats=2)
  assert calls == [("w2v_jax", "sg-ns", 1, {"batch_size": 8}), ("gensim", "cbow-hs", 1, {}),
                   ("gensim", "cbow-hs", 2, {}), ("w2v_jax", "sg-ns", 2, {"batch_size": 8})]
  assert {combo: {k: len(v) for k, v in by.items()} for combo, by in runs.items()} == {
      "sg-ns": {"w2v_jax": 2}, "cbow-hs": {"gensim": 2}}


def test_finish_without_a_write_time_reports_no_whole_time():
  counts = {"raw_words": 100, "analogy_correct": 3, "analogy_total": 10, "analogy_oov": 20}
  report = common.finish_report(counts, epochs=5, written_time=None)
  assert report["whole_seconds"] is None and report["whole_words_per_sec"] is None
  assert report["analogy_all"] == pytest.approx(0.1)


def test_finish_times_the_whole_process_from_its_start():
  pytest.importorskip("psutil")
  counts = {"raw_words": 100, "analogy_correct": 0, "analogy_total": 1, "analogy_oov": 0}
  report = common.finish_report(counts, epochs=5, written_time=time.time())
  # This test process started before the test and within the last day.
  assert 0 < report["whole_seconds"] < 86400
  assert report["whole_words_per_sec"] == pytest.approx(500 / report["whole_seconds"])


def test_tables_show_a_dash_where_a_run_reported_nothing():
  ours = {"train_seconds": 10.0, "whole_seconds": 12.0, "pairs": 100.0, "pairs_per_sec": 10.0}
  theirs = {"train_seconds": 20.0, "whole_seconds": None}
  runs = {"cbow-ns": {"w2v_jax": [ours], "gensim": [theirs]}}
  throughput.add_gensim_pairs(runs["cbow-ns"])
  rows = throughput.table(runs).splitlines()
  assert rows[3].startswith("| cbow-ns | gensim | 20.0 | - | - | - | 5 |")
  assert rows[4].startswith("| cbow-ns | w2v_jax / gensim | 0.50x | - | - | - | 2.00x |")


def test_one_replica_runs_beside_the_default_and_each_gets_a_ratio():
  jobs = throughput.make_jobs(["sg-ns"], {"sync_every": 64}, True, one_replica=True)
  assert [(j.label, j.extra) for j in jobs] == [
      ("w2v_jax", {"sync_every": 64}), (throughput.ONE_REPLICA, {"sync_every": 64, "replicas": 1}),
      ("gensim", {})]
  run = {"train_seconds": 10.0, "whole_seconds": 20.0}
  runs = {"sg-ns": {"w2v_jax": [run], throughput.ONE_REPLICA: [dict(run, train_seconds=15.0)],
                    "gensim": [dict(run, train_seconds=30.0)]}}
  rows = throughput.table(runs).splitlines()[2:]
  assert [r.split(" | ")[1] for r in rows] == [
      "w2v_jax", throughput.ONE_REPLICA, "gensim", "w2v_jax / gensim",
      f"{throughput.ONE_REPLICA} / gensim"]
  assert rows[3].split(" | ")[2] == "0.33x" and rows[4].split(" | ")[2] == "0.50x"


def test_subword_flags_reach_the_settings():
  import argparse  # pylint: disable=import-outside-toplevel

  parser = argparse.ArgumentParser()
  common.add_subword_args(parser)
  args = parser.parse_args(["--subwords", "--minn", "2", "--bucket", "1000"])
  settings = common.Settings(corpus="c.txt", **common.subword_settings(args))
  assert (settings.subwords, settings.minn, settings.maxn, settings.bucket) == (True, 2, 6, 1000)
  assert not common.Settings(corpus="c.txt").subwords
