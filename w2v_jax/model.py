"""The model's parameters: named embedding tables and their initialisers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn

INITS = ("word2vec", "fasttext", "keras")


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


def fasttext_uniform(key: jax.Array, shape: tuple[int, int], dtype=jnp.float32) -> jax.Array:
  """fastText's (and gensim FastText's) input init, words and n-grams: uniform in [-1/dim, 1/dim)."""
  bound = 1.0 / shape[-1]
  return blockwise_uniform(key, shape, dtype, -bound, bound)


def keras_uniform(key: jax.Array, shape: tuple[int, int], dtype=jnp.float32) -> jax.Array:
  """Keras' `Embedding` default init: uniform in [-0.05, 0.05)."""
  return blockwise_uniform(key, shape, dtype, -0.05, 0.05)


class Tables(nn.Module):
  """The named embedding tables of an objective, e.g. input (syn0), output (syn1neg), tree (syn1).

  init_scheme "word2vec": "input" (and fastText's "ngrams") uniform(+-0.5/dim), every other
  table zero (word2vec.c); "fasttext": the same with uniform(+-1/dim) (fastText's; on the small
  corpus its subword vectors scored analogy 0.383 against 0.365 with word2vec's);
  "keras": all uniform(+-0.05), as the seed notebook's Keras layers were.
  """

  rows: tuple[tuple[str, int], ...]  # (name, rows) per table.
  features: int
  init_scheme: str = "word2vec"

  @nn.compact
  def __call__(self) -> dict[str, jax.Array]:
    if self.init_scheme not in INITS:
      raise ValueError(f"unknown init_scheme {self.init_scheme!r}; choose from {INITS}")
    tables = {}
    for name, rows in self.rows:
      if self.init_scheme == "keras":
        init = keras_uniform
      else:
        # fastText's n-gram rows are inputs too: initialised like the words' own rows.
        inputs = fasttext_uniform if self.init_scheme == "fasttext" else word2vec_uniform
        init = inputs if name in ("input", "ngrams") else nn.initializers.zeros
      tables[name] = self.param(name, init, (rows, self.features))
    return tables
