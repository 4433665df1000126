import jax
import numpy as np
import pytest

from w2v_jax import negatives


def test_alias_table_encodes_the_distribution_exactly():
  probs = negatives.unigram_probs(np.array([100, 10, 1, 0, 50]))
  table = negatives.build_alias_table(probs)
  np.testing.assert_allclose(negatives.alias_probs(table), probs, atol=1e-7)
  assert probs[3] == 0.0


def test_unigram_sampler_matches_unigram_075_within_sampling_error():
  counts = np.random.default_rng(0).zipf(1.5, 200).astype(np.int64)
  probs = negatives.unigram_probs(counts, 0.75)
  np.testing.assert_allclose(probs, counts**0.75 / np.sum(counts**0.75))
  table = negatives.build_alias_table(probs)
  n = 400_000
  draws = np.asarray(negatives.sample_alias(jax.random.PRNGKey(1), table, (n,)))
  observed = np.bincount(draws, minlength=len(probs))
  expected = probs * n
  # Pearson chi-square over cells with enough mass: 199 degrees of freedom, mean 199, sd ~20.
  cells = expected > 5
  chi2 = np.sum((observed[cells] - expected[cells]) ** 2 / expected[cells])
  assert chi2 < cells.sum() + 6 * np.sqrt(2 * cells.sum()), chi2
  assert observed[~cells].sum() == pytest.approx(expected[~cells].sum(), abs=5 * np.sqrt(n) + 10)


def test_log_uniform_probabilities_and_samples():
  v = 50
  probs = negatives.log_uniform_probs(v)
  assert probs.sum() == pytest.approx(1.0)
  assert probs[0] == pytest.approx(np.log(2) / np.log(51))
  draws = np.asarray(negatives.sample_log_uniform(jax.random.PRNGKey(0), v, (100_000, 1),
                                                  unique=False)).ravel()
  freq = np.bincount(draws, minlength=v) / len(draws)
  assert np.all(np.abs(freq - probs) <= 5 * np.sqrt(probs / len(draws)) + 1e-4)


def test_log_uniform_unique_rows_have_no_repeats():
  draws = np.asarray(negatives.sample_log_uniform(jax.random.PRNGKey(3), 8, (2000, 4)))
  assert draws.min() >= 0 and draws.max() < 8
  assert all(len(set(row)) == 4 for row in draws.tolist())


def test_host_sampler_matches_the_table_distribution():
  counts = np.array([400, 90, 10, 1, 0, 30])
  table = negatives.build_alias_table(negatives.unigram_probs(counts))
  n = 300_000
  draws = negatives.sample_alias_np(np.random.default_rng(0), table, (n // 3, 3))
  assert draws.shape == (n // 3, 3) and draws.dtype == np.int32
  freq = np.bincount(draws.ravel(), minlength=len(counts)) / n
  probs = negatives.unigram_probs(counts)
  assert np.all(np.abs(freq - probs) <= 5 * np.sqrt(probs * (1 - probs) / n) + 1e-5)
  assert freq[4] == 0.0


def test_host_log_uniform_sampler_matches_tf_distribution_and_keeps_rows_distinct():
  v, n = 50, 100_000
  probs = negatives.log_uniform_probs(v)
  draws = negatives.sample_log_uniform_np(np.random.default_rng(0), v, (n, 1), unique=False)
  freq = np.bincount(draws.ravel(), minlength=v) / n
  assert np.all(np.abs(freq - probs) <= 5 * np.sqrt(probs / n) + 1e-4)
  rows = negatives.sample_log_uniform_np(np.random.default_rng(1), 8, (2000, 4))
  assert rows.dtype == np.int32 and rows.min() >= 0 and rows.max() < 8
  assert all(len(set(row)) == 4 for row in rows.tolist())
