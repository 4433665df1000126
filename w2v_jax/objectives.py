"""Objectives for the generic step: which table rows an example reads, and its loss.

An objective is any object with
  tables(vocab_size) -> {table name: rows}       the tables it trains
  rows(batch) -> {slot: Rows}                    ids read per example ([B, ...]) or per batch
  loss(vectors, example) -> (loss, metrics)      one example; `train_step` vmaps it
and optionally `shared_keys` (batch entries that are not per example) and
`sample(key, state, batch) -> batch` (to draw what the input pipeline did not).

`Word2Vec` covers the family with word2vec.c's roles: an example is one window, its inputs are the
context words' rows of "input" (syn0), its outputs the centre word's rows of "output" (syn1neg:
the centre plus negatives) and of "tree" (syn1: the internal nodes on the centre's Huffman path).
Skip-gram scores every context row on its own; CBOW scores their mean once. Skip-gram can also take
fastText's roles (`input="centre"`): the centre's input row predicts each context word, so a
window reads one input row, composed once from its subwords, instead of one per context word.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from w2v_jax import negatives as negatives_lib

Batch = dict[str, jax.Array]
MODELS = ("skipgram", "cbow")
OUTPUT_LOSSES = ("sigmoid", "softmax")
CBOW_MODES = ("mean", "sum", "koan")
NEGATIVES_PER = ("window", "pair")
INPUTS = ("context", "centre")


@struct.dataclass
class Rows:
  """Ids into one table; -1 is "no row" (gathered as zeros, never updated)."""

  ids: jax.Array
  table: str = struct.field(pytree_node=False)
  shared: bool = struct.field(pytree_node=False, default=False)  # One set for the whole batch.


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
    words_SxD: jax.Array, ngram_sums_SxD: jax.Array, ngram_counts_S: jax.Array, mask_S: jax.Array
) -> tuple[jax.Array, jax.Array]:
  """fastText's CBOW: h is the mean of all the context words' rows and all their n-gram rows
  (a word with more n-grams weighs more), and every one of those rows gets the error unscaled."""
  total_D = mask_S @ (words_SxD + ngram_sums_SxD)
  count = mask_S @ (1.0 + ngram_counts_S)
  mean_D = total_D / jnp.maximum(count, 1.0)
  sg = jax.lax.stop_gradient
  h_D = sg(mean_D) + (total_D - sg(total_D))
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


def sampled_loss(
    h_HxD: jax.Array, weight_H: jax.Array, outputs: jax.Array, valid: jax.Array,
    loss: str = "sigmoid",
) -> tuple[jax.Array, jax.Array]:
  """Loss of each prediction h against its outputs (column 0 the positive, the rest negatives).

  `outputs` is [C, D] shared by all predictions or [H, C, D] per prediction, `valid` [C] or
  [H, C]. sigmoid: -log s(l0) - sum_k log s(-lk) (negative sampling); softmax: cross-entropy of
  the positive over the 1 + K logits (the seed's). Returns the weighted loss and how many
  predictions rank the positive first.
  """
  if outputs.ndim == 2:
    logits_HxC = _scores(h_HxD, outputs)
    valid = jnp.broadcast_to(valid, logits_HxC.shape)
  else:
    logits_HxC = jnp.einsum("hd,hcd->hc", h_HxD, outputs)
  return logit_loss(logits_HxC, weight_H, valid, loss)


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
  logits_X = outputs_XxD @ h_D
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
    path_mask_L: jax.Array,
) -> tuple[jax.Array, jax.Array]:
  """word2vec.c's hierarchical softmax: at each node of the centre's path, a sigmoid whose label
  is 1 - code. Returns the weighted loss and the fraction of branches each prediction gets right.
  """
  signs_1xL = (1.0 - 2.0 * codes_L)[None, :]  # label 1 (code 0) -> +f, label 0 (code 1) -> -f.
  f_HxL = signs_1xL * _scores(h_HxD, nodes_LxD)
  per_h = -(jax.nn.log_sigmoid(f_HxL) @ path_mask_L)
  right_H = ((f_HxL > 0) @ path_mask_L) / jnp.maximum(jnp.sum(path_mask_L), 1.0)
  return weight_H @ per_h, weight_H @ right_H


def _pair_outputs(positives_BxS: jax.Array, negatives_BxSxK: jax.Array, mask_BxS: jax.Array
                  ) -> Rows:
  """Each pair's output rows, [B, S, 1 + K]: its positive, then its own negatives; none where
  the slot is padding."""
  ids = jnp.concatenate([positives_BxS[..., None], negatives_BxSxK], axis=2)
  return Rows(jnp.where(mask_BxS[..., None] > 0, ids, -1), "output")


@dataclasses.dataclass(frozen=True)
class Word2Vec:
  """Skip-gram or CBOW with negative sampling, hierarchical softmax, or both (they add).

  Batch (one window per example, S context slots): centres int32 [B], contexts int32 [B, S],
  mask float32 [B, S]; with num_ns > 0, negatives int32 [B, K] (shared by the window), [B, S, K]
  (negatives_per="pair"; skip-gram only) or a pool [N] (pool_size > 0); with hs, the centre's path:
  points int32 [B, L], codes float32 [B, L], path_mask float32 [B, L]. A window with one context
  slot is a (target, context) pair: the per-pair step. With `bucket` > 0 (fastText's subwords),
  ngrams and ngram_slots int32 [C]: the n-gram rows of all the batch's live input slots, flat,
  and the slot (b * S + s) each belongs to (`Subwords.of_slots`); `compose` sums them into their
  slots, and each input is the mean of the word's row and those (`subword_inputs`).

  `input="centre"` (skip-gram, negative sampling): fastText's roles on the same batch. The
  centre's input row predicts each live context word (outputs: the contexts and the negatives:
  `window_negatives` of them shared by the window's pairs, each pair's own, or the batch's pool);
  its input slot is b (one per window).
  """

  model: str = "skipgram"
  num_ns: int = 5
  hs: bool = False
  output_loss: str = "sigmoid"  # Of the sampled outputs; "softmax" over 1 + K is the seed's.
  cbow: str = "mean"
  negatives_per: str = "window"
  pool_size: int = 0  # > 0: negatives are one pool of this many per batch.
  # word2vec.c and gensim skip a negative equal to the centre; TF's sampler (the seed) does not.
  skip_positive_negatives: bool = True
  negatives: str = "unigram"  # What `sample` draws when the batch has none: or "log_uniform".
  bucket: int = 0  # > 0: fastText subwords, hashed into this many rows of "ngrams".
  input: str = "context"  # Skip-gram's input word: the context (word2vec.c) or centre (fastText).
  # With the centre as input and negatives per window: how many the window draws for its pairs
  # (0: `window_draws`' default), each pair weighing each num_ns / that many, as num_ns of its
  # own would in expectation.
  window_negatives: int = 0

  def __post_init__(self):
    checks = [
        (self.model in MODELS, f"model must be one of {MODELS}"),
        (self.output_loss in OUTPUT_LOSSES, f"output_loss must be one of {OUTPUT_LOSSES}"),
        (self.cbow in CBOW_MODES, f"cbow must be one of {CBOW_MODES}"),
        (self.negatives_per in NEGATIVES_PER, f"negatives_per must be one of {NEGATIVES_PER}"),
        (self.num_ns > 0 or self.hs, "needs negatives (num_ns > 0) or hierarchical softmax"),
        (self.num_ns >= 0, "num_ns must be >= 0"),
        (self.window_negatives >= 0, "window_negatives must be >= 0"),
        (not self.pool_size or self.output_loss == "sigmoid", "a shared pool needs the sigmoid loss"),
        (self.model == "skipgram" or self.negatives_per == "window",
         "negatives per pair need skip-gram"),
        (self.input in INPUTS, f"input must be one of {INPUTS}"),
        (self.input == "context" or (self.model == "skipgram" and self.num_ns and not self.hs
                                     and self.output_loss == "sigmoid"),
         "the centre as input needs skip-gram with negative sampling alone (sigmoid)"),
    ]
    for ok, message in checks:
      if not ok:
        raise ValueError(message)

  @property
  def shared_keys(self) -> tuple[str, ...]:
    return ("negatives",) if self.pool_size and self.num_ns else ()

  def tables(self, vocab_size: int) -> dict[str, int]:
    tables = {"input": vocab_size}
    if self.bucket:
      tables["ngrams"] = self.bucket
    if self.num_ns:
      tables["output"] = vocab_size
    if self.hs:
      tables["tree"] = vocab_size - 1
    return tables

  def negatives_shape(self, batch_size: int, slots: int) -> tuple[int, ...]:
    """Shape of one batch's negatives."""
    if self.pool_size:
      return (self.pool_size,)
    if self.negatives_per == "pair":
      return (batch_size, slots, self.num_ns)
    if self.centre_input:
      return (batch_size, self.window_draws)
    return (batch_size, self.num_ns)

  @property
  def window_draws(self) -> int:
    """Negatives a window draws for its pairs with the centre as input: `window_negatives`, or
    twice num_ns. A window has ~5.5 live pairs on the bench corpus, whose own num_ns each would
    be ~27 draws; num_ns for the window scored analogy 0.557 (3 seeds) against gensim FastText's
    0.592, 2 x num_ns 0.588 and 3 x num_ns 0.589 (seed 1; README, Subwords), and each further
    num_ns costs the step about a tenth of its speed."""
    return self.window_negatives or 2 * self.num_ns

  @property
  def centre_input(self) -> bool:
    return self.input == "centre"

  def input_words(self, batch: Batch) -> tuple[jax.Array, jax.Array]:
    """The input slots' word ids and liveness, [B, S] (context input) or [B, 1] (centre)."""
    if self.centre_input:
      return batch["centres"][:, None], jnp.any(batch["mask"] > 0, axis=1, keepdims=True)
    return batch["contexts"], batch["mask"] > 0

  def rows(self, batch: Batch) -> dict[str, Rows]:
    if self.centre_input:
      return self._centre_rows(batch)
    mask_BxS = batch["mask"]
    rows = {"inputs": Rows(jnp.where(mask_BxS > 0, batch["contexts"], -1), "input")}
    if self.bucket:  # Flat, not per example: `compose` gives each example its slots' sums.
      rows["ngrams"] = Rows(batch["ngrams"], "ngrams", shared=True)
    live_B = jnp.any(mask_BxS > 0, axis=1)
    centres_B = jnp.where(live_B, batch["centres"], -1)
    if self.num_ns and self.pool_size:
      rows["outputs"] = Rows(centres_B[:, None], "output")
      rows["pool"] = Rows(batch["negatives"], "output", shared=True)
    elif self.num_ns:
      negatives = batch["negatives"]
      if negatives.ndim == 3:  # Per pair: [B, S, 1 + K], the centre repeated on every slot.
        centres_BxS = jnp.broadcast_to(batch["centres"][:, None], mask_BxS.shape)
        rows["outputs"] = _pair_outputs(centres_BxS, negatives, mask_BxS)
      else:
        ids = jnp.concatenate([batch["centres"][:, None], negatives], axis=1)
        rows["outputs"] = Rows(jnp.where(live_B[:, None], ids, -1), "output")
    if self.hs:
      rows["tree"] = Rows(jnp.where(batch["path_mask"] > 0, batch["points"], -1), "tree")
    return rows

  def _centre_rows(self, batch: Batch) -> dict[str, Rows]:
    mask_BxS = batch["mask"]
    live_Bx1 = jnp.any(mask_BxS > 0, axis=1, keepdims=True)
    rows = {"inputs": Rows(jnp.where(live_Bx1, batch["centres"][:, None], -1), "input")}
    if self.bucket:
      rows["ngrams"] = Rows(batch["ngrams"], "ngrams", shared=True)
    contexts_BxS = jnp.where(mask_BxS > 0, batch["contexts"], -1)
    negatives = batch["negatives"]
    if self.pool_size:  # One pool for the batch's pairs.
      rows["outputs"] = Rows(contexts_BxS, "output")
      rows["pool"] = Rows(negatives, "output", shared=True)
    elif negatives.ndim == 3:  # Per pair: [B, S, 1 + K], each context with its own negatives.
      rows["outputs"] = _pair_outputs(contexts_BxS, negatives, mask_BxS)
    else:  # [B, S + K]: the contexts, then the window's negatives.
      ids = jnp.concatenate([contexts_BxS, jnp.where(live_Bx1, negatives, -1)], axis=1)
      rows["outputs"] = Rows(ids, "output")
    return rows

  def compose(self, vectors: dict[str, jax.Array], batch: Batch
              ) -> tuple[dict[str, jax.Array], Batch]:
    """Before the per-example loss, over the whole batch: the flat n-gram rows summed into their
    input slots (vectors "ngram_sums" [B, S, D], batch "ngram_counts" [B, S]; S is 1 with the
    centre as input)."""
    if not self.bucket:
      return vectors, batch
    batch_size, slots = self.input_words(batch)[0].shape
    sums, counts = ngram_sums(vectors["ngrams"], batch["ngrams"], batch["ngram_slots"],
                              batch_size * slots)
    vectors = {k: v for k, v in vectors.items() if k != "ngrams"}
    vectors["ngram_sums"] = sums.reshape(batch_size, slots, -1)
    batch = {k: v for k, v in batch.items() if k not in ("ngrams", "ngram_slots")}
    batch["ngram_counts"] = counts.reshape(batch_size, slots)
    return vectors, batch

  def loss(self, vectors: dict[str, jax.Array], example: Batch) -> tuple[jax.Array, dict]:
    mask_S = example["mask"]
    if self.bucket and self.model == "cbow":
      h_HxD, weight_H = cbow_subword_hidden(vectors["inputs"], vectors["ngram_sums"],
                                            example["ngram_counts"], mask_S)
    elif self.centre_input:
      return self._centre_loss(vectors, example)
    elif self.bucket:
      h_HxD, weight_H = skipgram_hidden(subword_inputs(
          vectors["inputs"], vectors["ngram_sums"], example["ngram_counts"]), mask_S)
    elif self.model == "skipgram":
      h_HxD, weight_H = skipgram_hidden(vectors["inputs"], mask_S)
    else:
      h_HxD, weight_H = cbow_hidden(vectors["inputs"], mask_S, self.cbow)
    total, correct = jnp.zeros(()), jnp.zeros(())
    if self.num_ns:
      total, correct = self._sampled(h_HxD, weight_H, vectors, example)
    if self.hs:
      hs_loss, hs_right = hierarchical_loss(
          h_HxD, weight_H, vectors["tree"], example["codes"], example["path_mask"])
      total = total + hs_loss
      correct = correct if self.num_ns else hs_right
    return total, {"correct": correct, "count": jnp.sum(weight_H)}

  def _centre_loss(self, vectors, example):
    mask_S = example["mask"]
    h_1xD = vectors["inputs"]
    if self.bucket:
      h_1xD = subword_inputs(h_1xD, vectors["ngram_sums"], example["ngram_counts"])
    contexts_S, negatives = example["contexts"], example["negatives"]
    if negatives.ndim == 2:  # Per pair: [S, K].
      valid_SxK = self._valid(negatives, contexts_S[:, None])
      valid = jnp.concatenate([jnp.ones((len(mask_S), 1)), valid_SxK], axis=1)
      # One h for all [S, 1 + K] rows: a matrix-vector product (its gradient an outer product).
      total, correct = logit_loss(vectors["outputs"] @ h_1xD[0], mask_S, valid)
    else:  # One set [K] for the window's pairs, or the batch's pool: each weighs num_ns / K.
      valid_SxK = self._valid(negatives[None, :], contexts_S[:, None])
      weights_SxK = (self.num_ns / len(negatives)) * valid_SxK
      if self.pool_size:
        total, correct = context_logit_loss(vectors["outputs"] @ h_1xD[0],
                                            vectors["pool"] @ h_1xD[0], mask_S, weights_SxK)
      else:
        total, correct = context_loss(h_1xD[0], mask_S, vectors["outputs"], weights_SxK)
    return total, {"correct": correct, "count": jnp.sum(mask_S)}

  def _valid(self, negatives: jax.Array, positives: jax.Array) -> jax.Array:
    """1.0 per negative (broadcast against its positives), 0.0 where it is its pair's positive
    and `skip_positive_negatives` (word2vec.c and gensim skip it)."""
    if self.skip_positive_negatives:
      return (negatives != positives).astype(jnp.float32)
    return jnp.ones(jnp.broadcast_shapes(negatives.shape, positives.shape), jnp.float32)

  def _sampled(self, h_HxD, weight_H, vectors, example):
    centre, negatives = example["centres"], example["negatives"]
    valid = self._valid(negatives, centre)
    if self.pool_size:
      return pooled_loss(h_HxD, weight_H, vectors["outputs"][0], vectors["pool"], valid,
                         self.num_ns / self.pool_size)
    # Column 0 of the outputs is the centre, always valid.
    valid = jnp.concatenate([jnp.ones(valid.shape[:-1] + (1,)), valid], axis=-1)
    return sampled_loss(h_HxD, weight_H, vectors["outputs"], valid, self.output_loss)

  def sample(self, key: jax.Array, state: Any, batch: Batch) -> Batch:
    """Draws the negatives in the step when the input pipeline did not."""
    if not self.num_ns or "negatives" in batch:
      return batch
    batch_size, slots = batch["contexts"].shape
    shape = self.negatives_shape(batch_size, slots)
    if self.negatives == "unigram":
      negatives = negatives_lib.sample_alias(key, state.noise, shape)
    elif self.negatives == "log_uniform":  # TF's sampler draws rows of K distinct ids.
      vocab_size = state.params["input"].shape[0]
      rows = (math.prod(shape) // shape[-1], shape[-1])
      negatives = negatives_lib.sample_log_uniform(key, vocab_size, rows).reshape(shape)
    else:
      raise ValueError(f"unknown negatives {self.negatives!r}")
    return {**batch, "negatives": negatives}
