import numpy as np
import optax
import pytest

from benchmarks import common


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
