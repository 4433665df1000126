"""Checkpoints: atomic files, and a resumed run ends with the uninterrupted run's vectors."""

import json
import os

import numpy as np
import pytest

from w2v_jax import checkpoint, train, word2vec_format

from test_train_e2e import tiny_config


def test_save_restore_round_trip_and_pruning(tmp_path):
  payload = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "position": {"piece": 3}}
  for step in (10, 20, 30):
    checkpoint.save(str(tmp_path), step, payload, keep=2)
  assert sorted(os.listdir(tmp_path)) == ["ckpt-0000000020.npz", "ckpt-0000000030.npz", "latest"]
  path = checkpoint.latest(str(tmp_path))
  assert path.endswith("ckpt-0000000030.npz")
  restored = checkpoint.restore(path, {"a": np.zeros((2, 3), np.float32), "position": {"piece": 0}})
  np.testing.assert_array_equal(restored["a"], payload["a"])
  assert restored["position"]["piece"] == 3
  assert checkpoint.latest(str(tmp_path / "nothing")) is None
  with pytest.raises(ValueError, match="shape"):
    checkpoint.restore(path, {"a": np.zeros((3, 3), np.float32), "position": {"piece": 0}})
  with pytest.raises(ValueError, match="does not match"):
    checkpoint.restore(path, {"b": np.zeros((2, 3), np.float32), "position": {"piece": 0}})


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_newest_checkpoint_is_reported_set_aside_and_the_previous_one_used(
    tmp_path, damage):
  payload = {"a": np.arange(4096, dtype=np.float32)}
  for step in (10, 20):
    checkpoint.save(str(tmp_path), step, {"a": payload["a"] + step})
  newest = tmp_path / "ckpt-0000000020.npz"
  data = bytearray(newest.read_bytes())
  if damage == "truncate":
    data = data[:len(data) // 2]
  else:  # One bit inside the array's bytes: only the CRC-32 can tell.
    data[len(data) // 2] ^= 1
  newest.write_bytes(bytes(data))
  assert checkpoint.verify(str(newest)) is not None
  assert checkpoint.verify(str(tmp_path / "ckpt-0000000010.npz")) is None
  warnings = []
  path = checkpoint.latest_valid(str(tmp_path), warnings.append)
  assert path == str(tmp_path / "ckpt-0000000010.npz")
  assert len(warnings) == 1 and "ckpt-0000000020.npz: corrupt checkpoint" in warnings[0]
  assert sorted(os.listdir(tmp_path)) == ["ckpt-0000000010.npz", "ckpt-0000000020.npz.corrupt",
                                          "latest"]
  np.testing.assert_array_equal(checkpoint.restore(path, payload)["a"], payload["a"] + 10)
  checkpoint.save(str(tmp_path), 30, payload)  # Pruning keeps good files only.
  assert checkpoint.latest_valid(str(tmp_path)) == str(tmp_path / "ckpt-0000000030.npz")
  assert checkpoint.latest_valid(str(tmp_path / "none")) is None


@pytest.mark.slow
@pytest.mark.parametrize("optimizer,combo", [
    ("sgd", {}), ("adam", {}), ("sgd", {"model": "cbow", "batch_size": 64}),
    ("sgd", {"hs": True, "num_ns": 0, "batch_size": 64}),
    ("adagrad", {"model": "cbow", "hs": True, "num_ns": 0, "batch_size": 64}),
    # 64 windows of ~6 pairs: a 24-word vocabulary diverges at 256 (summed row updates).
    ("sgd", {"hs": True, "negatives_per": "pair", "batch_size": 64}),
    ("sgd", {"subwords": True, "minn": 2, "maxn": 3, "bucket": 101, "batch_size": 64}),
    # The generic step on what the fused one trains by default.
    ("sgd", {"step": "generic", "model": "cbow", "hs": True, "batch_size": 64}),
    ("sgd", {"step": "generic", "subwords": True, "minn": 2, "maxn": 3, "bucket": 101,
             "batch_size": 16}),
    # The seed's data set: drawn once with its log-uniform negatives, replayed in one order.
    ("adam", {"fixed_training_set": True, "repeat_batch_order": True, "drop_remainder": True,
              "negatives": "log_uniform", "loss": "softmax", "layout": "pairs"}),
])
def test_interrupted_then_resumed_run_equals_uninterrupted_run(planted_file, tmp_path, optimizer,
                                                               combo):
  config = tiny_config(planted_file, epochs=2, optimizer=optimizer, checkpoint_every=8,
                       learning_rate=0.05 if optimizer == "sgd" else 0.01, **combo)
  whole = train.train_and_evaluate(config, str(tmp_path / "whole"))

  calls = {"n": 0}

  def stop_midway():
    calls["n"] += 1
    return calls["n"] == 5  # Mid-epoch: an epoch here is ~9 calls of 4 steps.

  workdir = str(tmp_path / "cut")
  with pytest.raises(train.Interrupted):
    train.train_and_evaluate(config, workdir, should_stop=stop_midway)
  status = json.load(open(os.path.join(workdir, "status.json")))
  assert status == {"status": "interrupted", "step": 20}
  assert not os.path.exists(os.path.join(workdir, "vectors.bin"))
  resumed = train.train_and_evaluate(config, workdir, resume=True)

  a = word2vec_format.read(str(tmp_path / "whole" / "vectors.bin"))[1]
  b = word2vec_format.read(os.path.join(workdir, "vectors.bin"))[1]
  np.testing.assert_array_equal(a, b)  # Bit for bit on the CPU.
  assert resumed["steps"] == whole["steps"]


def test_write_npz_is_read_back_by_numpy_exactly(tmp_path):
  arrays = {"['state'].params['target']": np.arange(12, dtype=np.float32).reshape(3, 4),
            "scalar": np.int32(7), "bools": np.array([True, False]), "empty": np.zeros((0, 5)),
            "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
            "strided": np.arange(10, dtype=np.int64)[::3]}
  with open(tmp_path / "a.npz", "wb") as f:
    checkpoint.write_npz(f, arrays)
  with np.load(tmp_path / "a.npz") as saved:
    assert sorted(saved.files) == sorted(arrays)
    for key, want in arrays.items():
      got = saved[key]
      assert got.dtype == np.asarray(want).dtype and got.shape == np.shape(want), key
      np.testing.assert_array_equal(got, want)


def test_a_run_saved_by_w2v_jax_0_1_resumes_under_todays_defaults(planted_file, tmp_path):
  """config.json as 0.1.0 wrote it (flat, `auto` unresolved, no --step: the generic step was
  the only one) resumes with today's flags, whose --step auto now means fused: the run keeps the
  step it started with and ends with the uninterrupted run's vectors."""
  generic = tiny_config(planted_file, epochs=2, checkpoint_every=8, step="generic")
  train.train_and_evaluate(generic, str(tmp_path / "whole"))
  workdir = str(tmp_path / "cut")
  calls = {"n": 0}

  def stop_midway():
    calls["n"] += 1
    return calls["n"] == 5

  with pytest.raises(train.Interrupted):
    train.train_and_evaluate(generic, workdir, should_stop=stop_midway)
  path = os.path.join(workdir, "config.json")
  saved = json.load(open(path))
  for added in ("step", "threads"):
    del saved[added]
  saved.update(layout="auto", init="auto", skipgram_input="auto")
  with open(path, "w") as f:
    json.dump(saved, f)
  today = tiny_config(planted_file, epochs=2, checkpoint_every=8)  # --step auto.
  resumed = train.train_and_evaluate(today, workdir, resume=True)
  assert resumed["step"] == "generic"
  a = word2vec_format.read(str(tmp_path / "whole" / "vectors.bin"))[1]
  b = word2vec_format.read(os.path.join(workdir, "vectors.bin"))[1]
  np.testing.assert_array_equal(a, b)
