"""The skip-gram model: two embedding tables, dot-product logits, per-example losses."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn

LOSSES = ("sigmoid", "softmax")


def blockwise_uniform(
    key: jax.Array, shape: tuple[int, int], dtype, low: float, high: float, block_rows: int = 4096
) -> jax.Array:
  """Uniform rows drawn `block_rows` at a time into the table.

  One `jax.random.uniform` over the whole table holds its random bits and float temporaries at
  once (three tables' worth: 60 MB at 50k x 100); block by block they stay under 5 MB.
  """
  rows, dim = shape
  block_rows = min(block_rows, rows)

  def fill(i, table):
    block = jax.random.uniform(jax.random.fold_in(key, i), (block_rows, dim), dtype, low, high)
    # The last block's start is clamped to rows - block_rows; it overwrites with fresh draws.
    return jax.lax.dynamic_update_slice(table, block, (i * block_rows, 0))

  return jax.lax.fori_loop(0, -(-rows // block_rows), fill, jnp.zeros(shape, dtype))


def word2vec_uniform(key: jax.Array, shape: tuple[int, int], dtype=jnp.float32) -> jax.Array:
  """word2vec.c's input-vector init: uniform in [-0.5/dim, 0.5/dim)."""
  bound = 0.5 / shape[-1]
  return blockwise_uniform(key, shape, dtype, -bound, bound)


def keras_uniform(key: jax.Array, shape: tuple[int, int], dtype=jnp.float32) -> jax.Array:
  """Keras' `Embedding` default init: uniform in [-0.05, 0.05)."""
  return blockwise_uniform(key, shape, dtype, -0.05, 0.05)


class Word2Vec(nn.Module):
  """Target ("input", syn0) and context ("output", syn1neg) tables; logits are dot products.

  init_scheme "word2vec": targets uniform(+-0.5/dim), contexts zero (word2vec.c); "keras": both
  uniform(+-0.05), as the seed notebook's Keras layers were.
  """

  vocab_size: int
  features: int
  init_scheme: str = "word2vec"

  def setup(self):
    if self.init_scheme == "word2vec":
      target_init, context_init = word2vec_uniform, nn.initializers.zeros
    elif self.init_scheme == "keras":
      target_init = context_init = keras_uniform
    else:
      raise ValueError(f"unknown init_scheme {self.init_scheme!r}")
    self.target = nn.Embed(self.vocab_size, self.features, embedding_init=target_init)
    self.context = nn.Embed(self.vocab_size, self.features, embedding_init=context_init)

  def __call__(self, targets_B: jax.Array, contexts_BxC: jax.Array) -> jax.Array:
    return jnp.einsum("bd,bcd->bc", self.target(targets_B), self.context(contexts_BxC))


def example_loss(
    target_D: jax.Array, contexts_CxD: jax.Array, valid_C: jax.Array, loss: str = "sigmoid"
) -> tuple[jax.Array, jax.Array]:
  """Loss and logits of one example: column 0 is the positive context, the rest negatives.

  sigmoid: -log s(l0) - sum_k log s(-lk) (negative sampling); softmax: cross-entropy of a softmax
  over the 1 + K logits (the seed's). `valid_C` masks negatives that must not count.
  """
  logits_C = contexts_CxD @ target_D
  if loss == "sigmoid":
    signs = jnp.ones_like(logits_C).at[1:].set(-1.0)
    value = -jnp.sum(valid_C * jax.nn.log_sigmoid(signs * logits_C))
  elif loss == "softmax":
    masked = jnp.where(valid_C, logits_C, -jnp.inf)
    value = -jax.nn.log_softmax(masked)[0]
  else:
    raise ValueError(f"unknown loss {loss!r}; choose from {LOSSES}")
  return value, logits_C


def pooled_example_loss(
    target_D: jax.Array, positive_D: jax.Array, pool_NxD: jax.Array, valid_N: jax.Array,
    weight: float
) -> tuple[jax.Array, jax.Array]:
  """Sigmoid loss against a pool of negatives shared by the whole batch (BlazingText/HogBatch).

  Each negative term is scaled by `weight` (num_ns / pool size) so the expected gradient equals
  that of num_ns independent negatives. vmapped with the pool broadcast, the negative logits
  become one [B, D] x [D, N] matrix product.
  """
  positive = positive_D @ target_D
  negatives_N = pool_NxD @ target_D
  value = -jax.nn.log_sigmoid(positive) - weight * jnp.sum(
      valid_N * jax.nn.log_sigmoid(-negatives_N))
  return value, jnp.concatenate([positive[None], negatives_N])


def sigmoid_grads(
    target_D: jax.Array, contexts_CxD: jax.Array, valid_C: jax.Array
) -> tuple[jax.Array, jax.Array]:
  """word2vec.c's update written by hand: d loss / d target and d loss / d contexts.

  g_c = s(l_c) - label_c; d target = sum_c g_c * context_c; d context_c = g_c * target.
  """
  logits_C = contexts_CxD @ target_D
  labels_C = jnp.zeros_like(logits_C).at[0].set(1.0)
  g_C = valid_C * (jax.nn.sigmoid(logits_C) - labels_C)
  return g_C @ contexts_CxD, g_C[:, None] * target_D[None, :]
