"""The word2vec family's losses, as pure functions of gathered rows: one example at a time.

Input side: how a window's input rows become predictions h (`skipgram_hidden`, `cbow_hidden`,
fastText's `subword_inputs` and `cbow_subword_hidden` over `ngram_sums`). Output side: the loss of
each prediction against its output rows (`sampled_loss` for negative sampling and the seed's
softmax, `context_loss` for skip-gram with the centre as input, `pooled_loss` for a batch's shared
pool, `hierarchical_loss` for word2vec.c's tree). `w2v_jax.objectives` composes them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

CBOW_MODES = ("mean", "sum", "koan")
OUTPUT_LOSSES = ("sigmoid", "softmax")


def skipgram_hidden(inputs_SxD: jax.Array, mask_S: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Every context row is its own prediction of the centre."""
  return inputs_SxD, mask_S


def cbow_hidden(
    inputs_SxD: jax.Array, mask_S: jax.Array, mode: str = "mean"
) -> tuple[jax.Array, jax.Array]:
  """One prediction from the context rows: h [1, D] and its weight [1] (0 for an empty window).

  "mean": h is the mean, and every row receives the error unscaled (word2vec.c; gensim
  cbow_mean=1). "sum": h is the sum, each row receives error / count (gensim cbow_mean=0).
  "koan": the mean with its true gradient, error / count (kōan, arXiv 2012.15332).
  """
  count = jnp.sum(mask_S)
  total_D = mask_S @ inputs_SxD
  mean_D = total_D / jnp.maximum(count, 1.0)
  sg = jax.lax.stop_gradient
  if mode == "mean":  # Value of the mean, gradient of the sum.
    h_D = sg(mean_D) + (total_D - sg(total_D))
  elif mode == "sum":  # Value of the sum, gradient of the mean.
    h_D = sg(total_D) + (mean_D - sg(mean_D))
  elif mode == "koan":
    h_D = mean_D
  else:
    raise ValueError(f"unknown CBOW mode {mode!r}; choose from {CBOW_MODES}")
  return h_D[None, :], jnp.minimum(count, 1.0)[None]


def ngram_sums(ngrams_CxD: jax.Array, ngram_ids_C: jax.Array, slots_C: jax.Array,
               slots: int) -> tuple[jax.Array, jax.Array]:
  """Each input slot's n-gram rows summed, [slots, D], and how many there are, [slots].

  The rows come flat, [C] (`Subwords.of_slots`): row c belongs to slot slots_C[c]; rows of id -1
  (padding) are gathered as zeros and not counted. Its gradient gives every row its slot's.
  """
  sums = jax.ops.segment_sum(ngrams_CxD, slots_C, num_segments=slots)
  counts = jax.ops.segment_sum((ngram_ids_C >= 0).astype(ngrams_CxD.dtype), slots_C,
                               num_segments=slots)
  return sums, counts


def subword_inputs(words_SxD: jax.Array, ngram_sums_SxD: jax.Array, ngram_counts_S: jax.Array
                   ) -> jax.Array:
  """fastText's input rows: each the mean of a word's row and its n-gram rows (`ngram_sums`).

  Every one of those rows receives the error unscaled, as fastText applies it (value of the
  mean, gradient of the sum).
  """
  total_SxD = words_SxD + ngram_sums_SxD
  mean_SxD = total_SxD / (1.0 + ngram_counts_S)[:, None]
  sg = jax.lax.stop_gradient
  return sg(mean_SxD) + (total_SxD - sg(total_SxD))


def cbow_subword_hidden(
    words_SxD: jax.Array, ngram_sums_SxD: jax.Array, ngram_counts_S: jax.Array, mask_S: jax.Array,
    mode: str = "mean",
) -> tuple[jax.Array, jax.Array]:
  """fastText's CBOW: h from all the context words' rows and all their n-gram rows (a word with
  more n-grams weighs more), as the fused kernel makes it.

  "mean" (fastText's): h is their mean and every one of those rows gets the error unscaled.
  "sum": h is their sum; "koan": their mean; with either, each row gets the error divided by the
  number of context words (`cbow_hidden`'s rule, the kernel's with subwords).
  """
  total_D = mask_S @ (words_SxD + ngram_sums_SxD)
  count = mask_S @ (1.0 + ngram_counts_S)
  mean_D = total_D / jnp.maximum(count, 1.0)
  sg = jax.lax.stop_gradient
  if mode == "mean":  # Value of the mean, gradient of the sum.
    h_D = sg(mean_D) + (total_D - sg(total_D))
  elif mode in ("sum", "koan"):  # Value of the sum or the mean, gradient of sum / contexts.
    share_D = total_D / jnp.maximum(jnp.sum(mask_S), 1.0)
    h_D = sg(total_D if mode == "sum" else mean_D) + (share_D - sg(share_D))
  else:
    raise ValueError(f"unknown CBOW mode {mode!r}; choose from {CBOW_MODES}")
  return h_D[None, :], jnp.minimum(jnp.sum(mask_S), 1.0)[None]


def _scores(h_HxD: jax.Array, rows_NxD: jax.Array) -> jax.Array:
  """h . row for every pair, [H, N].

  One prediction (a pair, a CBOW window) is written as a matrix-vector product: vmapped, XLA's
  CPU backend turns that into a fused multiply-reduce, while a [1, D] x [D, N] matrix product
  stays a batched GEMM (~25% slower per pair, benchmarks/throughput.py --steps_only).
  """
  if h_HxD.shape[0] == 1:
    return (rows_NxD @ h_HxD[0])[None, :]
  return h_HxD @ rows_NxD.T


# word2vec.c's and gensim's MAX_EXP: their sigmoid table ends there, and gensim leaves an output
# whose logit is outside (-MAX_EXP, MAX_EXP) without an update.
MAX_EXP = 6.0


def unsaturated(logits: jax.Array, skip_saturated: bool) -> jax.Array:
  """`logits` whose entries with |logit| >= MAX_EXP pass no gradient (where `skip_saturated`):
  the loss keeps their value, the update skips them, as gensim's does."""
  if not skip_saturated:
    return logits
  return jnp.where(jnp.abs(logits) >= MAX_EXP, jax.lax.stop_gradient(logits), logits)


def sampled_loss(
    h_HxD: jax.Array, weight_H: jax.Array, outputs: jax.Array, valid: jax.Array,
    loss: str = "sigmoid", skip_saturated: bool = False,
) -> tuple[jax.Array, jax.Array]:
  """Loss of each prediction h against its outputs (column 0 the positive, the rest negatives).

  `outputs` is [C, D] shared by all predictions or [H, C, D] per prediction, `valid` [C] or
  [H, C]. sigmoid: -log s(l0) - sum_k log s(-lk) (negative sampling); softmax: cross-entropy of
  the positive over the 1 + K logits (the seed's). Returns the weighted loss and how many
  predictions rank the positive first. `skip_saturated`: see `unsaturated`.
  """
  if outputs.ndim == 2:
    logits_HxC = _scores(h_HxD, outputs)
    valid = jnp.broadcast_to(valid, logits_HxC.shape)
  else:
    logits_HxC = jnp.einsum("hd,hcd->hc", h_HxD, outputs)
  return logit_loss(unsaturated(logits_HxC, skip_saturated), weight_H, valid, loss)


def logit_loss(logits_HxC: jax.Array, weight_H: jax.Array, valid: jax.Array,
               loss: str = "sigmoid") -> tuple[jax.Array, jax.Array]:
  """`sampled_loss` from the logits: column 0 the positive's, the rest the negatives'."""
  if loss == "sigmoid":
    signs_1xC = jnp.ones((1, logits_HxC.shape[-1])).at[0, 1:].set(-1.0)
    per_h = -jnp.sum(valid * jax.nn.log_sigmoid(signs_1xC * logits_HxC), axis=-1)
  elif loss == "softmax":
    per_h = -jax.nn.log_softmax(jnp.where(valid > 0, logits_HxC, -jnp.inf), axis=-1)[:, 0]
  else:
    raise ValueError(f"unknown loss {loss!r}; choose from {OUTPUT_LOSSES}")
  first = jnp.argmax(jnp.where(valid > 0, logits_HxC, -jnp.inf), axis=-1) == 0
  return weight_H @ per_h, weight_H @ first.astype(jnp.float32)


def context_loss(
    h_D: jax.Array, mask_S: jax.Array, outputs_XxD: jax.Array, valid_SxK: jax.Array,
    skip_saturated: bool = False,
) -> tuple[jax.Array, jax.Array]:
  """fastText's skip-gram with one set of negatives per window: one input h against each
  context word s, pair s's loss -log s(h.c_s) - sum_k valid_sk log s(-h.n_k), where valid_sk
  weighs negative k for pair s (0 where it is the pair's context, num_ns / K when the window
  draws K for its pairs' num_ns each).

  `outputs_XxD`: the S context rows, then the K negatives' rows. h is the same for every pair of
  the window, so each row's logit is computed once (one matrix-vector product, whose gradient is
  one outer product); a negative's gradient is the sum over the pairs it is valid for. Returns
  the loss over the live pairs and how many of them rank their context above every valid
  negative.
  """
  logits_X = unsaturated(outputs_XxD @ h_D, skip_saturated)
  return context_logit_loss(logits_X[:len(mask_S)], logits_X[len(mask_S):], mask_S, valid_SxK)


def context_logit_loss(positive_S: jax.Array, negative_K: jax.Array, mask_S: jax.Array,
                       valid_SxK: jax.Array) -> tuple[jax.Array, jax.Array]:
  """`context_loss` from the logits of the S contexts and of the K negatives."""
  per_s = -jax.nn.log_sigmoid(positive_S) - valid_SxK @ jax.nn.log_sigmoid(-negative_K)
  best_S = jnp.max(jnp.where(valid_SxK > 0, negative_K[None, :], -jnp.inf), axis=-1)
  return mask_S @ per_s, mask_S @ (positive_S > best_S).astype(jnp.float32)


def pooled_loss(
    h_HxD: jax.Array, weight_H: jax.Array, positive_D: jax.Array, pool_NxD: jax.Array,
    valid_N: jax.Array, scale: float,
) -> tuple[jax.Array, jax.Array]:
  """Sigmoid loss against one pool of negatives shared by the batch (BlazingText).

  Each negative term is scaled by `scale` (num_ns / pool size) so the expected gradient equals
  that of num_ns independent negatives; vmapped, the negative logits are one [B, D] x [D, N]
  product.
  """
  positive_H = h_HxD @ positive_D
  negatives_HxN = h_HxD @ pool_NxD.T
  per_h = -jax.nn.log_sigmoid(positive_H) - scale * (
      jax.nn.log_sigmoid(-negatives_HxN) @ valid_N)
  first = positive_H > jnp.max(jnp.where(valid_N > 0, negatives_HxN, -jnp.inf), axis=-1)
  return weight_H @ per_h, weight_H @ first.astype(jnp.float32)


def hierarchical_loss(
    h_HxD: jax.Array, weight_H: jax.Array, nodes_LxD: jax.Array, codes_L: jax.Array,
    path_mask_L: jax.Array, skip_saturated: bool = False,
) -> tuple[jax.Array, jax.Array]:
  """word2vec.c's hierarchical softmax: at each node of the centre's path, a sigmoid whose label
  is 1 - code. Returns the weighted loss and the fraction of branches each prediction gets right.
  `skip_saturated`: see `unsaturated`.
  """
  signs_1xL = (1.0 - 2.0 * codes_L)[None, :]  # label 1 (code 0) -> +f, label 0 (code 1) -> -f.
  f_HxL = signs_1xL * unsaturated(_scores(h_HxD, nodes_LxD), skip_saturated)
  per_h = -(jax.nn.log_sigmoid(f_HxL) @ path_mask_L)
  right_H = ((f_HxL > 0) @ path_mask_L) / jnp.maximum(jnp.sum(path_mask_L), 1.0)
  return weight_H @ per_h, weight_H @ right_H
