"""Negative sampling distributions: unigram^0.75 through an alias table, and the seed's log-uniform.

Both samplers are pure `jax.random` functions, so negatives can be drawn inside the jitted step,
afresh for every batch; each has a NumPy twin for the input pipeline (and for the seed's fixed
training set, whose negatives are drawn once with its examples).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct


@struct.dataclass
class AliasTable:
  """Walker/Vose alias table: draw column i uniformly, keep it with prob[i], else take alias[i]."""

  prob: jax.Array  # float32 [V]
  alias: jax.Array  # int32 [V]


def unigram_probs(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
  """count^power, normalised; words with count 0 (the reserved '') are never drawn."""
  weights = np.asarray(counts, np.float64) ** power
  weights[np.asarray(counts) <= 0] = 0.0
  total = weights.sum()
  if total <= 0:
    raise ValueError("no word has a positive count to sample negatives from")
  return weights / total


def log_uniform_probs(vocab_size: int) -> np.ndarray:
  """TF's log-uniform (Zipfian) candidate distribution P(k) = ln((k+2)/(k+1)) / ln(V+1)."""
  k = np.arange(vocab_size, dtype=np.float64)
  return (np.log(k + 2) - np.log(k + 1)) / np.log(vocab_size + 1)


def build_alias_table(probs: np.ndarray) -> AliasTable:
  """Vose's O(V) construction, exact in float64 before the final cast."""
  n = len(probs)
  scaled = np.asarray(probs, np.float64) * n
  prob = np.ones(n)
  alias = np.arange(n, dtype=np.int64)
  small = [i for i in range(n) if scaled[i] < 1.0]
  large = [i for i in range(n) if scaled[i] >= 1.0]
  while small and large:
    s, g = small.pop(), large.pop()
    prob[s], alias[s] = scaled[s], g
    scaled[g] -= 1.0 - scaled[s]
    (small if scaled[g] < 1.0 else large).append(g)
  # Leftovers are 1 up to rounding. NumPy arrays: usable on the host and inside jit alike.
  return AliasTable(prob.astype(np.float32), alias.astype(np.int32))


def alias_probs(table: AliasTable) -> np.ndarray:
  """The distribution an alias table samples from (for tests and checks)."""
  prob = np.asarray(table.prob, np.float64)
  n = len(prob)
  out = prob / n
  np.add.at(out, np.asarray(table.alias), (1.0 - prob) / n)
  return out


def sample_alias(key: jax.Array, table: AliasTable, shape: tuple[int, ...]) -> jax.Array:
  """Draws int32 ids of `shape` from an alias table."""
  k_col, k_coin = jax.random.split(key)
  col = jax.random.randint(k_col, shape, 0, table.prob.shape[0], dtype=jnp.int32)
  coin = jax.random.uniform(k_coin, shape)
  return jnp.where(coin < table.prob[col], col, table.alias[col])


def sample_alias_np(
    rng: np.random.Generator, table: AliasTable, shape: tuple[int, ...]
) -> np.ndarray:
  """NumPy twin of `sample_alias`, for drawing negatives in the input pipeline."""
  prob, alias = np.asarray(table.prob), np.asarray(table.alias)
  # One float64 per sample: its integer part picks the column, its fraction is the coin (with
  # V < 2^26 the fraction keeps over 26 random bits). Half the RNG work of two draws.
  u = rng.random(shape) * len(prob)
  col = u.astype(np.int32)
  return np.where(u - col < prob[col], col, alias[col])


def _log_uniform(key: jax.Array, vocab_size: int, shape: tuple[int, ...]) -> jax.Array:
  u = jax.random.uniform(key, shape)
  ids = jnp.floor(jnp.exp(u * jnp.log(vocab_size + 1.0))).astype(jnp.int32) - 1
  return jnp.clip(ids, 0, vocab_size - 1)


def _repeats(ids_BxK: jax.Array) -> jax.Array:
  """True where an id already appeared earlier in its row."""
  eq = ids_BxK[:, :, None] == ids_BxK[:, None, :]
  return jnp.any(jnp.tril(eq, k=-1), axis=-1)


def sample_log_uniform(
    key: jax.Array, vocab_size: int, shape: tuple[int, int], unique: bool = True
) -> jax.Array:
  """TF's `log_uniform_candidate_sampler`; `unique` redraws repeats, as TF rejects them."""
  key, sub = jax.random.split(key)
  ids = _log_uniform(sub, vocab_size, shape)
  if not unique:
    return ids

  def redraw(carry):
    key, ids = carry
    key, sub = jax.random.split(key)
    return key, jnp.where(_repeats(ids), _log_uniform(sub, vocab_size, shape), ids)

  def any_duplicate(carry):
    return jnp.any(_repeats(carry[1]))

  return jax.lax.while_loop(any_duplicate, redraw, (key, ids))[1]


def _log_uniform_np(rng: np.random.Generator, vocab_size: int, shape) -> np.ndarray:
  ids = np.floor(np.exp(rng.random(shape) * np.log(vocab_size + 1.0))).astype(np.int32) - 1
  return np.clip(ids, 0, vocab_size - 1)


def sample_log_uniform_np(
    rng: np.random.Generator, vocab_size: int, shape: tuple[int, int], unique: bool = True
) -> np.ndarray:
  """NumPy twin of `sample_log_uniform`: rows of K log-uniform ids, distinct when `unique`."""
  ids = _log_uniform_np(rng, vocab_size, shape)
  while unique:
    eq = ids[:, :, None] == ids[:, None, :]
    again = np.tril(eq, k=-1).any(axis=-1)
    if not again.any():
      break
    ids[again] = _log_uniform_np(rng, vocab_size, int(again.sum()))
  return ids
