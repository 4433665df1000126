"""Placements (one model; replicas in tests/test_replicas.py) and the devices a run counts."""

import jax
import numpy as np
import optax
import pytest

from w2v_jax import config as config_lib
from w2v_jax import devices, objectives, placement
from w2v_jax import step as step_lib


def _state(objective, vocab_size=7):
  tx = optax.sgd(0.1)
  return step_lib.create_train_state(jax.random.PRNGKey(0), objective.tables(vocab_size), 4,
                                     tx), tx


def test_one_replica_is_one_model_that_trains_and_reads_back():
  place = placement.make_placement(config_lib.DevicesConfig(), jax.device_count() * 2)
  assert isinstance(place, placement.OneModel)
  assert (place.replicas, place.batch_size, place.rows(7)) == (1, jax.device_count() * 2, 7)
  objective = objectives.word2vec(num_ns=1)
  state, tx = _state(objective)
  placed = place.init(state)
  assert place.step_of(placed) == 0
  np.testing.assert_array_equal(place.table(placed, "input"), np.asarray(state.params["input"]))
  batches = {"centres": np.array([[1, 2]], np.int32),
             "contexts": np.array([[[3], [4]]], np.int32),
             "mask": np.ones((1, 2, 1), np.float32),
             "negatives": np.array([[[5], [6]]], np.int32)}
  placed, metrics = place.compile(placed, tx, objective)(placed,
                                                         place.put_batches(batches, objective))
  assert place.step_of(placed) == 1 and np.asarray(metrics["count"]).tolist() == [2.0]
  host = place.to_host(placed)
  assert isinstance(host.params["output"], np.ndarray)
  place.sync()  # One process: returns at once.


def test_replicas_with_tables_split_by_rows_are_an_error_of_one_line():
  with pytest.raises(ValueError) as error:
    placement.make_placement(config_lib.DevicesConfig(replicas=2, table_sharding="rows"), 8)
  assert str(error.value) == ("--table_sharding=rows: needs --replicas=1 (each replica holds "
                              "whole tables; 2 replicas here)")


def test_a_batch_that_does_not_split_over_the_devices_is_an_error():
  if jax.device_count() == 1:
    pytest.skip("one device splits any batch")
  with pytest.raises(ValueError, match="--batch_size=1: must be a multiple of the"):
    placement.make_placement(config_lib.DevicesConfig(), 1)


def test_threads_and_replicas_default_to_what_the_process_has():
  assert devices.thread_count(3) == 3
  assert devices.thread_count(0) == devices.cores() >= 1
  assert devices.replica_count(2) == 2
  assert devices.replica_count(0) == jax.local_device_count()
