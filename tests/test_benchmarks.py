"""The benchmark machinery: combinations, the shared settings, jobs, reports and tables."""

import argparse
import time

import numpy as np
import optax
import pytest

from benchmarks import jobs, systems, tables, throughput
from w2v_jax import config as config_lib


def test_gensim_corpus_file_schedule_falls_one_worker_share_per_epoch():
  schedule = systems.gensim_corpus_file_schedule(0.025, 100, epochs=5, workers=2)
  span = 0.025 * (1 - 1e-4)
  # Epoch 0 runs from 0.025 down only half of its linear share; epoch 1 starts where it should.
  expected = {0: 0.025, 10: 0.025 - span * 0.05, 20: 0.025 - span * 0.2,
              99: 0.025 - span * (4 + 0.95 / 2) / 5}
  for count, lr in expected.items():
    assert float(schedule(count)) == pytest.approx(lr, rel=1e-6)


def test_held_schedule_keeps_the_rate_of_each_holds_first_step():
  linear = optax.linear_schedule(0.025, 0.0, 100)
  held = systems.held_schedule(linear, 3)
  rates = [float(held(count)) for count in range(7)]
  expected = [float(linear(c)) for c in (0, 0, 0, 3, 3, 3, 6)]
  np.testing.assert_allclose(rates, expected)
  assert rates[2] > float(linear(2))  # Held, not the linear value.


def test_gensim_corpus_file_schedule_with_one_worker_is_the_linear_decay():
  ours = systems.gensim_corpus_file_schedule(0.025, 100, epochs=5, workers=1)
  linear = optax.linear_schedule(0.025, 0.025e-4, 100)
  counts = np.arange(100)
  np.testing.assert_allclose([float(ours(c)) for c in counts],
                             [float(linear(c)) for c in counts], rtol=1e-5)


def test_combo_names_and_flags_are_inverse():
  for name in (*systems.COMBOS, "sg-ns+hs", "cbow-ns+hs"):
    config = config_lib.make(**systems.combo_flags(name))
    assert systems.combo_name(config) == name


def test_hs_combos_train_without_negatives():
  assert systems.combo_flags("cbow-hs") == {"model": "cbow", "hs": True, "num_ns": 0}
  assert systems.combo_flags("sg-ns") == {"model": "skipgram", "hs": False, "num_ns": 5}


def test_parse_combos_keeps_order_and_drops_repeats():
  assert systems.parse_combos(" cbow-hs,sg-ns,cbow-hs ") == ["cbow-hs", "sg-ns"]


@pytest.mark.parametrize("text", ["sg-xx", "skipgram-ns", "sg-ns,cbow", ","])
def test_unknown_combo_is_a_clear_error(text):
  with pytest.raises(ValueError, match="choose from sg-ns, cbow-ns, sg-hs, cbow-hs"):
    systems.parse_combos(text)


def test_system_names_tag_only_what_differs_from_the_default():
  assert systems.system_name("gensim", "", "") == "gensim"
  assert systems.system_name("gensim", "cbow-hs", "") == "gensim[cbow-hs]"
  assert systems.system_name("w2v_jax", "word2vec", "sg-hs") == "w2v_jax[word2vec, sg-hs]"


def test_machine_info_names_the_cpu_and_its_cores():
  info = jobs.machine_info()
  assert set(info) == {"cpu_model", "cores", "platform"}
  assert info["cpu_model"] and info["cores"] >= 1
  assert jobs.describe_machine(info).endswith(f", {info['cores']} cores")


def test_shared_settings_are_w2v_jax_flags_that_both_systems_read():
  args = argparse.Namespace(corpus="c.txt", epochs=2, subwords=True, minn=2, maxn=5, bucket=99)
  flags = jobs.shared_flags(args)
  config = config_lib.from_flat({**flags, "seed": 3})  # A valid w2v_jax config, as is.
  assert config.corpus.corpus == ("c.txt",) and config.run.epochs == 2
  assert (config.objective.subwords, config.objective.minn, config.objective.bucket) == (
      True, 2, 99)
  assert config.corpus.standardize == "none" and config.examples.subsample == 1e-3


def test_run_jobs_alternates_the_order_and_seeds_each_repeat(monkeypatch):
  calls = []

  def fake_worker(system, flags, extra):
    calls.append((system, systems.combo_name(config_lib.from_flat(flags)), flags["seed"],
                  extra))
    return {"system": system}

  monkeypatch.setattr(systems, "run_worker", fake_worker)
  job_list = [jobs.Job("sg-ns", "w2v_jax", "w2v_jax", {"flags": {"batch_size": 8}}),
              jobs.Job("cbow-hs", "gensim", "gensim", {})]
  runs = jobs.run_jobs(job_list, {"corpus": ["c"]}, repeats=2)
  w2v = {"flags": {"batch_size": 8}}
  assert calls == [("w2v_jax", "sg-ns", 1, w2v), ("gensim", "cbow-hs", 1, {}),
                   ("gensim", "cbow-hs", 2, {}), ("w2v_jax", "sg-ns", 2, w2v)]
  assert {combo: {k: len(v) for k, v in by.items()} for combo, by in runs.items()} == {
      "sg-ns": {"w2v_jax": 2}, "cbow-hs": {"gensim": 2}}


def test_finish_without_a_write_time_reports_no_whole_time():
  counts = {"raw_words": 100, "analogy_correct": 3, "analogy_total": 10, "analogy_oov": 20}
  report = systems.finish_report(counts, epochs=5, written_time=None)
  assert report["whole_seconds"] is None and report["whole_words_per_sec"] is None
  assert report["analogy_all"] == pytest.approx(0.1)


def test_finish_times_the_whole_process_from_its_start():
  pytest.importorskip("psutil")
  counts = {"raw_words": 100, "analogy_correct": 0, "analogy_total": 1, "analogy_oov": 0}
  report = systems.finish_report(counts, epochs=5, written_time=time.time())
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
  assert tables.ratio(1.0, None) == "-" and tables.median([{"x": None}], "x") is None


def test_one_replica_runs_beside_the_default_and_each_gets_a_ratio():
  job_list = throughput.make_jobs(["sg-ns"], {"sync_every": 64}, True, one_replica=True)
  assert [(j.label, j.extra) for j in job_list] == [
      ("w2v_jax", {"flags": {"sync_every": 64}}),
      (throughput.ONE_REPLICA, {"flags": {"sync_every": 64, "replicas": 1}}),
      ("gensim", {})]
  run = {"train_seconds": 10.0, "whole_seconds": 20.0}
  runs = {"sg-ns": {"w2v_jax": [run], throughput.ONE_REPLICA: [dict(run, train_seconds=15.0)],
                    "gensim": [dict(run, train_seconds=30.0)]}}
  rows = throughput.table(runs).splitlines()[2:]
  assert [r.split(" | ")[1] for r in rows] == [
      "w2v_jax", throughput.ONE_REPLICA, "gensim", "w2v_jax / gensim",
      f"{throughput.ONE_REPLICA} / gensim"]
  assert rows[3].split(" | ")[2] == "0.33x" and rows[4].split(" | ")[2] == "0.50x"


def test_trainer_flags_reach_every_w2v_jax_job():
  parser = argparse.ArgumentParser()
  jobs.add_trainer_args(parser)
  jobs.add_subword_args(parser)
  args = parser.parse_args(["--step", "generic", "--threads", "1", "--subwords", "--minn", "2"])
  assert jobs.trainer_flags(args) == {"step": "generic", "threads": 1}
  assert (args.subwords, args.minn, args.maxn, args.bucket) == (True, 2, 6, 2_000_000)
