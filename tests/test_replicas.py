"""Replicas on two host devices: what a merge must equal, resume, and two processes as one.

Each check runs in a subprocess: the number of host devices is fixed when JAX starts.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import ROOT

from w2v_jax import fasttext_format, word2vec_format

ENV = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu")

MERGE_SCRIPT = textwrap.dedent("""
    import functools, json
    import jax
    jax.config.update("jax_num_cpu_devices", 2)
    import jax.numpy as jnp, numpy as np
    from w2v_jax import objectives, replicas, step as step_lib, subwords

    V, D, S, B, R = 40, 8, 6, 16, 2
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 2, (S, R * B, 3)).astype(np.float32)
    batches = {"centres": rng.integers(0, V, (S, R * B)).astype(np.int32),
               "contexts": rng.integers(0, V, (S, R * B, 4)).astype(np.int32),
               "mask": (rng.random((S, R * B, 4)) < 0.7).astype(np.float32),
               "negatives": rng.integers(0, V, (S, R * B, 5)).astype(np.int32),
               "points": rng.integers(0, V - 1, (S, R * B, 3)).astype(np.int32),
               "codes": codes, "path_mask": np.ones_like(codes)}
    # fastText's n-grams: word w has w % 4 of them, in 13 buckets; laid out per replica, or whole.
    lengths = np.arange(V) % 4
    table = subwords.Subwords(np.concatenate([[0], np.cumsum(lengths)]),
                              rng.integers(0, 13, lengths.sum()).astype(np.int32), 13)

    def with_ngrams(chunks):
      ids, slots = table.of_slots(batches["contexts"], batches["mask"] > 0, chunks)
      return {**batches, "ngrams": ids, "ngram_slots": slots}

    mesh = replicas.make_mesh(R)
    out = {}

    def start(objective, tx):
      state = step_lib.create_train_state(jax.random.PRNGKey(0), objective.tables(V), D, tx)
      # Output and tree tables start at zero in word2vec: move them so every term has gradient.
      return state.replace(params={k: v + 0.05 * jnp.cos(jnp.arange(v.size).reshape(v.shape))
                                   for k, v in state.params.items()})

    def replica_run(state, tx, objective, sync_every, merge):
      rs = replicas.replicate(state, mesh, merge)
      fn = replicas.jit_replica_steps(mesh, tx=tx, objective=objective,
                                      sync_every=sync_every, merge=merge)
      rs, metrics = fn(rs, replicas.put_batches(with_ngrams(R) if objective.subwords else batches,
                                                mesh))
      return rs, metrics

    def single_run(state, tx, objective):
      fn = jax.jit(functools.partial(step_lib.train_steps, tx=tx, objective=objective))
      new_state, metrics = fn(state, with_ngrams(1) if objective.subwords else batches)
      return new_state.params, metrics

    def merged_params(rs, merge):
      merged_table = replicas.make_merged_table(mesh, merge)
      return {name: merged_table(rs, name) for name in rs.train.params}

    def max_diff(a, b):
      return max(float(np.max(np.abs(np.asarray(a[k]) - np.asarray(b[k])))) for k in a)

    for name, objective in (("sg-ns", objectives.word2vec()),
                            ("cbow-hs", objectives.word2vec(model="cbow", hs=True, num_ns=0)),
                            ("sg-ns-subwords", objectives.word2vec(bucket=13))):
      tx = step_lib.make_optimizer("sgd", 0.05, 100)
      state = start(objective, tx)
      single, single_metrics = single_run(state, tx, objective)
      rs, metrics = replica_run(state, tx, objective, 1, "sum")
      merged = merged_params(rs, "sum")
      per_replica = replicas.to_host(rs.train.params)
      # Mean of the replicas' changes: for SGD, one device at lr / R.
      tx_half = step_lib.make_optimizer("sgd", 0.05 / R, 100)
      single_half, _ = single_run(state, tx_half, objective)
      rs_mean, _ = replica_run(state, tx, objective, 1, "mean")
      # No merge in the block, then the merge: start + every replica's change.
      rs_none, _ = replica_run(state, tx, objective, 0, "sum")
      alone = replicas.to_host(rs_none.train.params)
      expected = {k: np.asarray(state.params[k]) + sum(alone[k][r] - np.asarray(state.params[k])
                                                     for r in range(R)) for k in alone}
      rs_end, _ = replica_run(state, tx, objective, S, "sum")
      out[name] = {
          "sum_vs_single": max_diff(merged, single),
          "replicas_agree": max_diff({k: v[0] for k, v in per_replica.items()},
                                     {k: v[1] for k, v in per_replica.items()}),
          "mean_vs_half_lr": max_diff(merged_params(rs_mean, "mean"),
                                      single_half),
          "replicas_differ_unmerged": max_diff({k: v[0] for k, v in alone.items()},
                                               {k: v[1] for k, v in alone.items()}),
          "merge_keeps_every_change": max_diff(merged_params(rs_end, "sum"),
                                               expected),
          "moved": max_diff(single, state.params),
          "metrics_shape": list(np.asarray(metrics["loss"]).shape),
          "loss_vs_single": max_diff(metrics, single_metrics),
      }
    print(json.dumps(out))
""")


def _run(script: str, timeout: int = 300) -> dict:
  result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=ENV, timeout=timeout, cwd=ROOT)
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_merges_equal_one_device_and_lose_no_update():
  results = _run(MERGE_SCRIPT)
  assert set(results) == {"sg-ns", "cbow-hs", "sg-ns-subwords"}
  for name, d in results.items():
    assert d["moved"] > 1e-3, (name, "training did not change the tables")
    # Replicas merged (sum) after every step: the SGD step of one device on the whole block,
    # up to float summation order.
    assert d["sum_vs_single"] < 1e-6, (name, d)
    assert d["replicas_agree"] == 0.0, (name, d)
    assert d["mean_vs_half_lr"] < 1e-6, (name, d)
    assert d["replicas_differ_unmerged"] > 1e-3, (name, d)
    assert d["merge_keeps_every_change"] < 1e-6, (name, d)
    assert d["metrics_shape"] == [6], (name, d)
    assert d["loss_vs_single"] < 1e-5, (name, d)  # Loss, accuracy, count over all replicas.


METRICS_SCRIPT = textwrap.dedent("""
    import functools, json
    import jax
    jax.config.update("jax_num_cpu_devices", 2)
    import jax.numpy as jnp, numpy as np
    from w2v_jax import objectives, replicas, step as step_lib

    class Norms(objectives.Base):
      \"\"\"Half the squared norm of each example's row, weighted; no accuracy, one metric of
      its own (the weighted norm).\"\"\"

      def tables(self, vocab_size):
        return {"input": vocab_size}

      def rows(self, batch):
        return {"row": objectives.Rows(batch["ids"], "input")}

      def loss(self, vectors, example):
        row, weight = vectors["row"], example["weight"]
        return 0.5 * weight * (row @ row), {"count": weight, "norm": weight * jnp.sqrt(row @ row)}

    R, B, S, V = 2, 4, 3, 10
    rng = np.random.default_rng(0)
    # Replica 0 gets light examples, replica 1 heavy ones: an unweighted mean would differ.
    weight = np.tile(np.repeat([0.5, 3.0], B), (S, 1)).astype(np.float32)
    batches = {"ids": rng.integers(0, V, (S, R * B)).astype(np.int32), "weight": weight}
    objective, tx = Norms(), step_lib.make_optimizer("sgd", 0.1, 100)
    state = step_lib.create_train_state(jax.random.PRNGKey(0), objective.tables(V), 4, tx)
    state = state.replace(params={"input": state.params["input"] + 1.0})
    mesh = replicas.make_mesh(R)
    fn = replicas.jit_replica_steps(mesh, tx=tx, objective=objective, sync_every=1, merge="sum")
    _, metrics = fn(replicas.replicate(state, mesh, "sum"), replicas.put_batches(batches, mesh))
    _, single = jax.jit(functools.partial(step_lib.train_steps, tx=tx, objective=objective))(
        state, batches)
    print(json.dumps({"replicas": {k: np.asarray(v).tolist() for k, v in metrics.items()},
                      "single": {k: np.asarray(v).tolist() for k, v in single.items()}}))
""")


def test_replicas_combine_every_metric_the_objective_returns():
  """An objective without accuracy and with a metric of its own: every metric is the mean over
  all replicas' predictions (weighted by their count), as one device on the whole batch."""
  results = _run(METRICS_SCRIPT)
  got, want = results["replicas"], results["single"]
  assert set(got) == set(want) == {"loss", "count", "norm"}
  assert got["count"] == want["count"] == [14.0] * 3
  for name in ("loss", "norm"):
    np.testing.assert_allclose(got[name], want[name], rtol=1e-6, err_msg=name)


RESUME_SCRIPT = textwrap.dedent("""
    import json, os, sys
    import jax
    jax.config.update("jax_num_cpu_devices", 2)
    import numpy as np
    sys.path.insert(0, os.path.join({root!r}, "tests"))
    from w2v_jax import train, word2vec_format
    from test_train_e2e import tiny_config

    tmp, corpus, optimizer = sys.argv[1], sys.argv[2], sys.argv[3]
    config = tiny_config(corpus, epochs=2, optimizer=optimizer, checkpoint_every=8,
                         learning_rate=0.05 if optimizer == "sgd" else 0.01, replicas=2,
                         sync_every=3, model="cbow", batch_size=64)
    whole = train.train_and_evaluate(config, os.path.join(tmp, "whole"))
    calls = {{"n": 0}}

    def stop_midway():
      calls["n"] += 1
      return calls["n"] == 3  # Step 12 of 4-step calls: a merge was at 9, the next is at 15.

    cut = os.path.join(tmp, "cut")
    try:
      train.train_and_evaluate(config, cut, should_stop=stop_midway)
      raise SystemExit("not interrupted")
    except train.Interrupted:
      pass
    status = json.load(open(os.path.join(cut, "status.json")))
    resumed = train.train_and_evaluate(config, cut, resume=True)
    a = word2vec_format.read(os.path.join(tmp, "whole", "vectors.bin"))[1]
    b = word2vec_format.read(os.path.join(cut, "vectors.bin"))[1]
    print(json.dumps({{"status": status, "equal": bool(np.array_equal(a, b)),
                      "replicas": resumed["replicas"], "steps": resumed["steps"],
                      "whole_steps": whole["steps"]}}))
""").format(root=ROOT)


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_resume_with_replicas_is_bit_exact(planted_file, tmp_path, optimizer):
  result = subprocess.run(
      [sys.executable, "-c", RESUME_SCRIPT, str(tmp_path), planted_file, optimizer],
      capture_output=True, text=True, env=ENV, timeout=300, cwd=ROOT)
  assert result.returncode == 0, result.stderr[-3000:]
  d = json.loads(result.stdout.strip().splitlines()[-1])
  assert d["status"] == {"status": "interrupted", "step": 12}, d
  assert d["replicas"] == 2 and d["steps"] == d["whole_steps"], d
  assert d["equal"], d


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


# experiments.train with one process made late: process 1 starts preparing its data, and process 0
# writes its first checkpoint, LATE_S after the others would (past gloo's 30 s rendezvous limit).
LATE_DRIVER = textwrap.dedent("""\
    import os, sys, time
    from absl import app
    from w2v_jax import checkpoint, pipeline
    from experiments import train

    late_s = float(os.environ["LATE_S"])
    if os.environ["LATE"] == "prepare":
      load = pipeline.load
      def late_load(*args, **kwargs):
        time.sleep(late_s)
        return load(*args, **kwargs)
      pipeline.load = late_load
    else:
      save, saved = checkpoint.save, []
      def late_save(*args, **kwargs):
        if not saved:
          time.sleep(late_s)
        saved.append(True)
        return save(*args, **kwargs)
      checkpoint.save = late_save
    app.run(lambda argv: sys.exit(train.main(argv)))
    """)
LATE_S = 35


@pytest.mark.slow
def test_two_processes_on_loopback_give_one_process_vectors(planted_file, tmp_path):
  common = ["--corpus", planted_file, "--min_count", "1", "--epochs", "2", "--window_size", "2",
            "--embedding_dim", "16", "--batch_size", "64", "--steps_per_call", "4",
            "--sync_every", "4", "--noprogress", "--show_words", "t0w0",
            "--subwords", "--minn", "3", "--maxn", "4", "--bucket", "500"]
  one = subprocess.run([sys.executable, "-m", "experiments.train", *common, "--replicas", "2",
                        "--out_dir", str(tmp_path / "one")],
                       capture_output=True, text=True, env=ENV, timeout=300, cwd=ROOT)
  assert one.returncode == 0, one.stderr[-3000:]
  driver = tmp_path / "late.py"
  driver.write_text(LATE_DRIVER)
  address = f"127.0.0.1:{_free_port()}"
  procs = [subprocess.Popen(
      [sys.executable, str(driver), *common, "--replicas", "1", "--out_dir", str(tmp_path / "two"),
       "--distributed", "--coordinator_address", address, "--num_processes", "2",
       "--process_id", str(k)],
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
      env={**ENV, "LATE_S": str(LATE_S), "LATE": "checkpoint" if k == 0 else "prepare"})
           for k in range(2)]
  outs = [p.communicate(timeout=400) for p in procs]
  for p, (_, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]
  for name in ("vectors.bin", "model.bin"):  # Word vectors, and the n-gram rows with them.
    words_one, a = _read(tmp_path / "one" / name)
    words_two, b = _read(tmp_path / "two" / name)
    assert words_one == words_two
    np.testing.assert_array_equal(a, b)
  # Written once, by process 0; process 1 kept only its own logs.
  summary = json.load(open(tmp_path / "two" / "summary.json"))
  assert summary["replicas"] == 2
  assert not os.path.exists(tmp_path / "two" / "process-1" / "vectors.bin")
  assert json.load(open(tmp_path / "two" / "process-1" / "status.json"))["status"] == "done"


def _read(path):
  if path.name == "model.bin":
    model = fasttext_format.read(str(path))
    return model.words, np.concatenate([model.input, model.output])
  return word2vec_format.read(str(path))
