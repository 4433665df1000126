"""Objectives: what the generic step trains. A contract (`Objective`) and the word2vec family
built from parts.

An objective names its tables, the rows each example reads and one example's loss; the step
(`w2v_jax.step.train_step`) gathers the rows, vmaps the loss and updates only those rows. What
the input pipeline must add to each batch (negatives, Huffman paths, n-gram rows) the objective
declares in `needs()`, so a run asks it rather than knowing it.

`Word2Vec` is the family: an example is one window (centre [B], contexts [B, S], mask [B, S]).
An input encoder (`Encoder`) makes its predictions and output heads (`Head`) score them:

  encoders  SkipGram        every context word's input row predicts the centre (word2vec.c)
            Cbow(mode)      the mean (or sum) of the context rows predicts the centre
            CentreSkipGram  the centre's input row predicts each context word (fastText)
  heads     NegativeSampling(num_ns, negatives_per)  the target against unigram^0.75 negatives,
                                           per window or per pair; with loss="softmax", the
                                           seed's softmax
            SharedNegatives(num_ns, shared_negatives)  the target against one pool of negatives
                                           per batch
            HierarchicalSoftmax()          the nodes of the centre's Huffman path
  parts     Subwords(minn, maxn, bucket)   fastText: an input is the mean of the word's row and
                                           its character n-gram rows

Each part declares its tables, what it needs in a batch and its share of the fused kernel's rule
(`kernel_rule()`, None where the kernel does not run it); a part of the caller's own, or a
subclass of a built-in one, has no rule, so an objective with one trains on the generic step.
The parts' settings have their flags' names (`--shared_negatives`, `--skipgram_input`, ...).
`word2vec(model=..., num_ns=..., hs=..., ...)` builds the family by name.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, Protocol

import jax
import jax.numpy as jnp
from flax import struct

from w2v_jax import config as config_lib
from w2v_jax import losses
from w2v_jax import negatives as negatives_lib
from w2v_jax.rules import Rule

Batch = dict[str, jax.Array]
# What a prediction's targets are: the window's centre (word2vec.c's roles) or each of its
# context words (fastText's skip-gram).
CENTRE, CONTEXTS = "centre", "contexts"


@struct.dataclass
class Rows:
  """Ids into one table; -1 is "no row" (gathered as zeros, never updated)."""

  ids: jax.Array
  table: str = struct.field(pytree_node=False)
  shared: bool = struct.field(pytree_node=False, default=False)  # One set for the whole batch.


@dataclasses.dataclass(frozen=True)
class NegativeDraws:
  """Negatives an objective needs drawn: `count` per window, per (window, slot) pair, or one
  pool per batch; from unigram^`power` (word2vec's) or TF's log-uniform sampler (the seed's)."""

  per: str  # "window", "pair" or "batch".
  count: int
  distribution: str = "unigram"
  power: float = 0.75

  def shape(self, batch_size: int, slots: int) -> tuple[int, ...]:
    """One batch's negatives."""
    return {"window": (batch_size, self.count), "pair": (batch_size, slots, self.count),
            "batch": (self.count,)}[self.per]


@dataclasses.dataclass(frozen=True)
class NgramRows:
  """fastText's subwords: the n-grams of `minn`-`maxn` characters, hashed into `bucket` rows,
  of each example's input words (`of`: its context words, or its centre)."""

  minn: int
  maxn: int
  bucket: int
  of: str = "contexts"


@dataclasses.dataclass(frozen=True)
class Needs:
  """What the input pipeline adds to each batch for an objective (nothing, by default)."""

  negatives: NegativeDraws | None = None  # "negatives" int32 of `negatives.shape(B, S)`.
  paths: bool = False  # The centres' Huffman paths: "points", "codes", "path_mask" [B, L].
  ngrams: NgramRows | None = None  # "ngrams", "ngram_slots" int32 [C] (`Subwords.of_slots`).


@typing.runtime_checkable
class Objective(Protocol):
  """The contract of `w2v_jax.step.train_step`; `Base` gives the optional members' defaults.

  tables(vocab_size)     {table: rows} it trains, [rows, D] each; "input" holds the word vectors.
  needs()                what the input pipeline adds to each batch.
  shared_keys            batch entries that are one per batch, not one per example.
  rows(batch)            {slot: Rows}: the ids each example reads ([B, ...]), or the batch.
  compose(vectors, batch)  work over the whole batch before the per-example loss.
  loss(vectors, example)   one example's loss and metrics; metrics["count"] is how many
                           predictions it made, every other metric is a sum over them (each
                           is logged per prediction).
  sample(key, state, batch)  draws in the step what the pipeline did not.
  fused()                the same update as the fused kernel's rule (`w2v_jax.rules.Rule`), or
                         None: the generic step only (`why_not_fused` says why).
  """

  shared_keys: tuple[str, ...]

  def tables(self, vocab_size: int) -> dict[str, int]: ...

  def needs(self) -> Needs: ...

  def rows(self, batch: Batch) -> dict[str, Rows]: ...

  def compose(self, vectors: dict[str, jax.Array], batch: Batch
              ) -> tuple[dict[str, jax.Array], Batch]: ...

  def loss(self, vectors: dict[str, jax.Array], example: Batch
           ) -> tuple[jax.Array, dict[str, jax.Array]]: ...

  def sample(self, key: jax.Array, state: Any, batch: Batch) -> Batch: ...

  def fused(self) -> Rule | None: ...


MEMBERS = ("shared_keys", "tables", "needs", "rows", "compose", "loss", "sample", "fused")


def check(objective: Any) -> Objective:
  """`objective`, if it has every member of `Objective`; else TypeError naming what it lacks."""
  if not isinstance(objective, Objective):
    missing = [m for m in MEMBERS if not hasattr(objective, m)]
    raise TypeError(f"{type(objective).__name__} is not an Objective: it has no "
                    f"{', '.join(missing)} (subclass objectives.Base for the defaults)")
  return objective


class Base:
  """Defaults of the optional members: no needs, nothing shared, composed or drawn, no kernel."""

  shared_keys: tuple[str, ...] = ()

  def needs(self) -> Needs:
    return Needs()

  def compose(self, vectors: dict[str, jax.Array], batch: Batch
              ) -> tuple[dict[str, jax.Array], Batch]:
    return vectors, batch

  def sample(self, key: jax.Array, state: Any, batch: Batch) -> Batch:
    del key, state
    return batch

  def fused(self) -> Rule | None:
    return None


def why_not_fused(objective: Objective) -> str | None:
  """Why the fused kernel cannot train `objective` (one line), or None where it can: the
  objective's own `fused()` decides; a `Word2Vec` says which part has no rule."""
  if objective.fused() is not None:
    return None
  if isinstance(objective, Word2Vec) and objective.why_not_fused():
    return objective.why_not_fused()
  return f"{type(objective).__name__} (an objective of its own) has no kernel rule"


# ---- The parts' contract -------------------------------------------------------------------

# A part's share of the kernel's rule: some of `Rule`'s fields ({} where it adds none).
RuleFragment = dict[str, Any]


@typing.runtime_checkable
class Encoder(Protocol):
  """An input encoder: the input rows a window reads and the predictions h they make.

  targets              what its predictions predict: CENTRE or CONTEXTS (each context word).
  input_words(batch)   the input slots' word ids and liveness, [B, S'].
  hidden(vectors, example, subwords)  one example's predictions h [H, D] and weights [H].
  kernel_rule()        its share of the kernel's rule, or None: the kernel cannot run it.
  """

  targets: str

  def input_words(self, batch: Batch) -> tuple[jax.Array, jax.Array]: ...

  def hidden(self, vectors: dict[str, jax.Array], example: Batch, subwords: Subwords | None
             ) -> tuple[jax.Array, jax.Array]: ...

  def kernel_rule(self) -> RuleFragment | None: ...


@typing.runtime_checkable
class Head(Protocol):
  """An output head: scores an encoder's predictions against output rows of its own tables.

  shared_keys            its batch entries that are one per batch, not one per example.
  can_score(targets)     whether it can score predictions of `targets` (CENTRE, CONTEXTS).
  tables(vocab_size)     {table: rows} it trains.
  needs(targets)         what the input pipeline adds to each batch for it.
  rows(batch, targets)   {slot: Rows} it reads.
  loss_of(h, weight, vectors, example, targets)  the loss of one example's predictions h
                         (weighted) and how many it gets right.
  kernel_rule(targets)   its share of the kernel's rule, or None: the kernel cannot run it.
  """

  shared_keys: tuple[str, ...]

  def can_score(self, targets: str) -> bool: ...

  def tables(self, vocab_size: int) -> dict[str, int]: ...

  def needs(self, targets: str) -> Needs: ...

  def rows(self, batch: Batch, targets: str) -> dict[str, Rows]: ...

  def loss_of(self, h: jax.Array, weight: jax.Array, vectors: dict[str, jax.Array],
              example: Batch, targets: str) -> tuple[jax.Array, jax.Array]: ...

  def kernel_rule(self, targets: str) -> RuleFragment | None: ...


def _is(part: Any, cls: type) -> bool:
  """Whether `part` is of the built-in class `cls` itself: a subclass may change the math that
  `cls`'s kernel rule stands for, so it does not inherit the rule."""
  return type(part) is cls  # pylint: disable=unidiomatic-typecheck


def _describe(part: Any) -> str:
  """A part for a message: a built-in one with its settings that differ from the defaults."""
  cls = type(part)
  if cls.__module__ != __name__ or not dataclasses.is_dataclass(part):
    return f"{cls.__name__} (a part of its own)"
  changed = [f"{f.name}={getattr(part, f.name)!r}" for f in dataclasses.fields(part)
             if f.default is not dataclasses.MISSING and getattr(part, f.name) != f.default]
  return f"{cls.__name__}({', '.join(changed)})" if changed else cls.__name__


# ---- Input encoders ------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Subwords:
  """fastText's input: the mean of a word's row and its n-gram rows, every one of which gets
  the error unscaled. The n-gram rows come flat for the whole batch and `compose` sums them
  into their input slots."""

  minn: int = 3
  maxn: int = 6
  bucket: int = 2_000_000

  def tables(self) -> dict[str, int]:
    return {"ngrams": self.bucket}

  def needs(self, targets: str) -> Needs:
    """The n-grams of the input words: the contexts', or the centre's when it is the input."""
    of = "centres" if targets == CONTEXTS else "contexts"
    return Needs(ngrams=NgramRows(self.minn, self.maxn, self.bucket, of))

  def compose(self, vectors: dict[str, jax.Array], batch: Batch, slots_BxS: tuple[int, int]
              ) -> tuple[dict[str, jax.Array], Batch]:
    """The flat n-gram rows summed into their input slots: vectors "ngram_sums" [B, S, D],
    batch "ngram_counts" [B, S] (S is 1 with the centre as input)."""
    batch_size, slots = slots_BxS
    sums, counts = losses.ngram_sums(vectors["ngrams"], batch["ngrams"], batch["ngram_slots"],
                                     batch_size * slots)
    vectors = {k: v for k, v in vectors.items() if k != "ngrams"}
    vectors["ngram_sums"] = sums.reshape(batch_size, slots, -1)
    batch = {k: v for k, v in batch.items() if k not in ("ngrams", "ngram_slots")}
    batch["ngram_counts"] = counts.reshape(batch_size, slots)
    return vectors, batch

  def inputs(self, words_SxD: jax.Array, vectors: dict[str, jax.Array], example: Batch
             ) -> jax.Array:
    return losses.subword_inputs(words_SxD, vectors["ngram_sums"], example["ngram_counts"])

  def kernel_rule(self) -> RuleFragment | None:
    """None for a subclass; the kernel composes the n-grams from its lookups (no field)."""
    return {} if _is(self, Subwords) else None


@dataclasses.dataclass(frozen=True)
class SkipGram:
  """word2vec.c's skip-gram: every context word's input row is a prediction of the centre."""

  targets = CENTRE

  def input_words(self, batch: Batch) -> tuple[jax.Array, jax.Array]:
    """The input slots' word ids and liveness, [B, S]."""
    return batch["contexts"], batch["mask"] > 0

  def hidden(self, vectors: dict[str, jax.Array], example: Batch, subwords: Subwords | None
             ) -> tuple[jax.Array, jax.Array]:
    inputs_SxD = vectors["inputs"]
    if subwords is not None:
      inputs_SxD = subwords.inputs(inputs_SxD, vectors, example)
    return losses.skipgram_hidden(inputs_SxD, example["mask"])

  def kernel_rule(self) -> RuleFragment | None:
    return {"model": "skipgram", "skipgram_input": "context"} if _is(self, SkipGram) else None


@dataclasses.dataclass(frozen=True)
class Cbow(SkipGram):
  """CBOW: one prediction of the centre from the context rows (`losses.cbow_hidden`'s modes);
  with subwords, from every context word's rows and n-gram rows (`cbow_subword_hidden`)."""

  mode: str = "mean"

  def __post_init__(self):
    if self.mode not in losses.CBOW_MODES:
      raise ValueError(f"unknown CBOW mode {self.mode!r}; choose from {losses.CBOW_MODES}")

  def hidden(self, vectors, example, subwords):
    if subwords is not None:
      return losses.cbow_subword_hidden(vectors["inputs"], vectors["ngram_sums"],
                                        example["ngram_counts"], example["mask"], self.mode)
    return losses.cbow_hidden(vectors["inputs"], example["mask"], self.mode)

  def kernel_rule(self) -> RuleFragment | None:
    """word2vec.c's CBOW: one prediction per window, each output row updated in turn (the
    kernel's `per_pair` for CBOW; it differs from the generic step's window only where a row
    is an output twice in a window)."""
    if not _is(self, Cbow):
      return None
    return {"model": "cbow", "skipgram_input": "context", "cbow": self.mode, "per_pair": True}


@dataclasses.dataclass(frozen=True)
class CentreSkipGram(SkipGram):
  """fastText's skip-gram: the centre's input row predicts each live context word, so a window
  reads (and composes) one input row, [1, D]; `hidden` is skip-gram's, whose weights are then
  the pairs' mask [S]."""

  targets = CONTEXTS

  def input_words(self, batch: Batch) -> tuple[jax.Array, jax.Array]:
    """The centre as the one input slot, [B, 1]; live when the window has a context."""
    return batch["centres"][:, None], jnp.any(batch["mask"] > 0, axis=1, keepdims=True)

  def kernel_rule(self) -> RuleFragment | None:
    return {"model": "skipgram", "skipgram_input": "centre"} if _is(self, CentreSkipGram) else None


# ---- Output heads --------------------------------------------------------------------------

def _pair_outputs(positives_BxS: jax.Array, negatives_BxSxK: jax.Array, mask_BxS: jax.Array
                  ) -> Rows:
  """Each pair's output rows, [B, S, 1 + K]: its positive, then its own negatives; none where
  the slot is padding."""
  ids = jnp.concatenate([positives_BxS[..., None], negatives_BxSxK], axis=2)
  return Rows(jnp.where(mask_BxS[..., None] > 0, ids, -1), "output")


def _live_centres(batch: Batch) -> tuple[jax.Array, jax.Array]:
  live_B = jnp.any(batch["mask"] > 0, axis=1)
  return live_B, jnp.where(live_B, batch["centres"], -1)


def _valid(skip_positive: bool, negatives: jax.Array, positives: jax.Array) -> jax.Array:
  """1.0 per negative (broadcast against its positives), 0.0 where it is its pair's positive
  and `skip_positive` (word2vec.c and gensim skip it; TF's sampler, the seed's, does not)."""
  if skip_positive:
    return (negatives != positives).astype(jnp.float32)
  return jnp.ones(jnp.broadcast_shapes(negatives.shape, positives.shape), jnp.float32)


def _window_weights(skip_positive: bool, num_ns: int, negatives_K: jax.Array,
                    contexts_S: jax.Array) -> jax.Array:
  """[S, K]: each of a window's K shared negatives weighs num_ns / K for every pair (context)
  it may be a negative of."""
  return (num_ns / len(negatives_K)) * _valid(skip_positive, negatives_K[None, :],
                                              contexts_S[:, None])


def _draw(key: jax.Array, state: Any, draws: NegativeDraws, shape: tuple[int, ...]) -> jax.Array:
  """Negatives drawn in the step: from the state's alias table, or TF's log-uniform sampler."""
  if draws.distribution == "unigram":
    return negatives_lib.sample_alias(key, state.noise, shape)
  if draws.distribution == "log_uniform":  # TF's sampler draws rows of K distinct ids.
    vocab_size = state.params["input"].shape[0]
    rows = (math.prod(shape) // shape[-1], shape[-1])
    return negatives_lib.sample_log_uniform(key, vocab_size, rows).reshape(shape)
  raise ValueError(f"unknown negatives {draws.distribution!r}")


@dataclasses.dataclass(frozen=True)
class NegativeSampling:
  """The target against `num_ns` negatives: per window (shared by its predictions; with the
  centre as input, `window_negatives` of them, each weighing num_ns / window_negatives per pair)
  or per pair. `loss` "softmax" is the seed's cross-entropy over the 1 + K logits.
  `skip_saturated`: no update from an output whose |logit| >= 6 (gensim's; CBOW's default)."""

  num_ns: int = 5
  negatives_per: str = "window"
  window_negatives: int = 0  # With the centre as input and per window (0: 2 x num_ns).
  skip_positive: bool = True
  loss: str = "sigmoid"
  negatives: str = "unigram"
  ns_exponent: float = 0.75
  skip_saturated: bool = False

  shared_keys = ()

  def can_score(self, targets: str) -> bool:
    """The centre, or each context word with the sigmoid loss."""
    return targets == CENTRE or self.loss == "sigmoid"

  def tables(self, vocab_size: int) -> dict[str, int]:
    return {"output": vocab_size}

  def draws(self, targets: str) -> NegativeDraws:
    """The negatives it needs: num_ns per window or pair (window_negatives per window with the
    centre as input)."""
    count = self.num_ns
    if targets == CONTEXTS and self.negatives_per == "window":
      count = self.window_negatives or 2 * self.num_ns
    return NegativeDraws(self.negatives_per, count, self.negatives, self.ns_exponent)

  def needs(self, targets: str) -> Needs:
    return Needs(negatives=self.draws(targets))

  def rows(self, batch: Batch, targets: str) -> dict[str, Rows]:
    mask_BxS, negatives = batch["mask"], batch["negatives"]
    per_pair = self.negatives_per == "pair"
    if targets == CONTEXTS:
      contexts_BxS = jnp.where(mask_BxS > 0, batch["contexts"], -1)
      if per_pair:  # [B, S, 1 + K]: each context with its own negatives.
        return {"outputs": _pair_outputs(contexts_BxS, negatives, mask_BxS)}
      live_Bx1 = jnp.any(mask_BxS > 0, axis=1, keepdims=True)
      # [B, S + K]: the contexts, then the window's negatives.
      ids = jnp.concatenate([contexts_BxS, jnp.where(live_Bx1, negatives, -1)], axis=1)
      return {"outputs": Rows(ids, "output")}
    if per_pair:  # [B, S, 1 + K], the centre repeated on every slot.
      centres_BxS = jnp.broadcast_to(batch["centres"][:, None], mask_BxS.shape)
      return {"outputs": _pair_outputs(centres_BxS, negatives, mask_BxS)}
    live_B, _ = _live_centres(batch)
    ids = jnp.concatenate([batch["centres"][:, None], negatives], axis=1)
    return {"outputs": Rows(jnp.where(live_B[:, None], ids, -1), "output")}

  def loss_of(self, h: jax.Array, weight: jax.Array, vectors: dict[str, jax.Array],
              example: Batch, targets: str) -> tuple[jax.Array, jax.Array]:
    negatives = example["negatives"]
    if targets == CONTEXTS:
      contexts_S, h_D, mask_S = example["contexts"], h[0], weight
      if self.negatives_per == "pair":  # [S, K]
        valid_SxK = _valid(self.skip_positive, negatives, contexts_S[:, None])
        valid = jnp.concatenate([jnp.ones((len(mask_S), 1)), valid_SxK], axis=1)
        # One h for all [S, 1 + K] rows: a matrix-vector product (its gradient an outer product).
        logits = losses.unsaturated(vectors["outputs"] @ h_D, self.skip_saturated)
        return losses.logit_loss(logits, mask_S, valid)
      weights_SxK = _window_weights(self.skip_positive, self.num_ns, negatives, contexts_S)
      return losses.context_loss(h_D, mask_S, vectors["outputs"], weights_SxK,
                                 self.skip_saturated)
    valid = _valid(self.skip_positive, negatives, example["centres"])
    # Column 0 of the outputs is the centre, always valid.
    valid = jnp.concatenate([jnp.ones(valid.shape[:-1] + (1,)), valid], axis=-1)
    return losses.sampled_loss(h, weight, vectors["outputs"], valid, self.loss,
                               self.skip_saturated)

  def kernel_rule(self, targets: str) -> RuleFragment | None:
    """word2vec.c's negative sampling: the sigmoid loss, unigram negatives other than the
    positive. Per pair with the centre as input the kernel runs fastText's loop, which draws a
    negative equal to the context again where this head leaves it out (so a pair always gets
    num_ns negatives there): the one rule where the two steps differ."""
    if not (_is(self, NegativeSampling) and self.loss == "sigmoid"
            and self.negatives == "unigram" and self.skip_positive):
      return None
    per_window_of_centre = targets == CONTEXTS and self.negatives_per == "window"
    rule = {"num_ns": self.num_ns,
            "window_draws": self.draws(targets).count if per_window_of_centre else 0}
    if self.negatives_per == "pair":  # Else the encoder's word (CBOW updates in turn).
      rule["per_pair"] = True
    if self.skip_saturated:
      rule["skip_saturated"] = True
    return rule


@dataclasses.dataclass(frozen=True)
class SharedNegatives:
  """The target against one pool of `shared_negatives` negatives shared by the whole batch
  (BlazingText), each term weighing num_ns / shared_negatives so that the expected gradient is
  that of num_ns negatives."""

  num_ns: int = 5
  shared_negatives: int = 64
  skip_positive: bool = True
  negatives: str = "unigram"
  ns_exponent: float = 0.75

  shared_keys = ("negatives",)

  def can_score(self, targets: str) -> bool:
    del targets
    return True

  def tables(self, vocab_size: int) -> dict[str, int]:
    return {"output": vocab_size}

  def needs(self, targets: str) -> Needs:
    del targets
    return Needs(negatives=NegativeDraws("batch", self.shared_negatives, self.negatives,
                                         self.ns_exponent))

  def rows(self, batch: Batch, targets: str) -> dict[str, Rows]:
    if targets == CONTEXTS:
      outputs = Rows(jnp.where(batch["mask"] > 0, batch["contexts"], -1), "output")
    else:
      outputs = Rows(_live_centres(batch)[1][:, None], "output")
    return {"outputs": outputs, "pool": Rows(batch["negatives"], "output", shared=True)}

  def loss_of(self, h, weight, vectors, example, targets):
    negatives = example["negatives"]
    if targets == CONTEXTS:
      contexts_S, h_D = example["contexts"], h[0]
      weights_SxK = _window_weights(self.skip_positive, self.num_ns, negatives, contexts_S)
      return losses.context_logit_loss(vectors["outputs"] @ h_D, vectors["pool"] @ h_D, weight,
                                       weights_SxK)
    valid = _valid(self.skip_positive, negatives, example["centres"])
    return losses.pooled_loss(h, weight, vectors["outputs"][0], vectors["pool"], valid,
                              self.num_ns / self.shared_negatives)

  def kernel_rule(self, targets: str) -> None:
    """None: the kernel draws its negatives per window, not per batch."""
    del targets
    return None


@dataclasses.dataclass(frozen=True)
class HierarchicalSoftmax:
  """word2vec.c's hierarchical softmax: a sigmoid at each node of the centre's Huffman path
  (rows of the "tree" table, V - 1 of them). `skip_saturated`: no update from a node whose
  |logit| >= 6 (word2vec.c's and gensim's; CBOW's default)."""

  skip_saturated: bool = False

  shared_keys = ()

  def can_score(self, targets: str) -> bool:
    """The centre only: its path is the batch's."""
    return targets == CENTRE

  def tables(self, vocab_size: int) -> dict[str, int]:
    return {"tree": vocab_size - 1}

  def needs(self, targets: str) -> Needs:
    del targets
    return Needs(paths=True)

  def rows(self, batch: Batch, targets: str) -> dict[str, Rows]:
    del targets
    return {"tree": Rows(jnp.where(batch["path_mask"] > 0, batch["points"], -1), "tree")}

  def loss_of(self, h, weight, vectors, example, targets):
    del targets
    return losses.hierarchical_loss(h, weight, vectors["tree"], example["codes"],
                                    example["path_mask"], self.skip_saturated)

  def kernel_rule(self, targets: str) -> RuleFragment | None:
    del targets
    if not _is(self, HierarchicalSoftmax):
      return None
    return {"hs": True, **({"skip_saturated": True} if self.skip_saturated else {})}


# ---- The family ----------------------------------------------------------------------------

def _check_part(part: Any, protocol: type) -> None:
  """TypeError unless `part` has every member of `protocol` (Encoder or Head)."""
  if not isinstance(part, protocol):
    raise TypeError(f"{type(part).__name__} is not an objectives.{protocol.__name__}: it "
                    f"lacks one of its members")


@dataclasses.dataclass(frozen=True)
class Word2Vec(Base):
  """An encoder's predictions scored by output heads (their losses add: word2vec.c trains
  negative sampling and hierarchical softmax together when both are on); the accuracy is the
  first head's. Tables: "input" (syn0) and those of its parts: "ngrams" (fastText's), "output"
  (syn1neg), "tree" (syn1).
  """

  encoder: Encoder = SkipGram()
  heads: tuple[Head, ...] = (NegativeSampling(),)
  subwords: Subwords | None = None

  def __post_init__(self):
    if not self.heads:
      raise ValueError("needs negatives (num_ns > 0) or hierarchical softmax")
    _check_part(self.encoder, Encoder)
    for head in self.heads:
      _check_part(head, Head)
    targets = self.encoder.targets
    if targets == CONTEXTS and not (len(self.heads) == 1 and self.heads[0].can_score(targets)):
      raise ValueError("the centre as input needs skip-gram with negative sampling alone "
                       "(sigmoid)")
    unable = next((h for h in self.heads if not h.can_score(targets)), None)
    if unable is not None:
      raise ValueError(f"{_describe(unable)} cannot score predictions of the {targets}")

  @property
  def shared_keys(self) -> tuple[str, ...]:
    return tuple(dict.fromkeys(k for h in self.heads for k in h.shared_keys))

  def tables(self, vocab_size: int) -> dict[str, int]:
    tables = {"input": vocab_size}
    if self.subwords is not None:
      tables.update(self.subwords.tables())
    for head in self.heads:
      tables.update(head.tables(vocab_size))
    return tables

  def needs(self) -> Needs:
    """The parts' needs together: the first head's negatives that has any, every head's paths,
    the subwords' n-grams."""
    targets = self.encoder.targets
    parts = [h.needs(targets) for h in self.heads]
    if self.subwords is not None:
      parts.append(self.subwords.needs(targets))
    return Needs(negatives=next((n.negatives for n in parts if n.negatives is not None), None),
                 paths=any(n.paths for n in parts),
                 ngrams=next((n.ngrams for n in parts if n.ngrams is not None), None))

  def rows(self, batch: Batch) -> dict[str, Rows]:
    words, live = self.encoder.input_words(batch)
    rows = {"inputs": Rows(jnp.where(live, words, -1), "input")}
    if self.subwords is not None:  # Flat, not per example: `compose` gives each its slots'.
      rows["ngrams"] = Rows(batch["ngrams"], "ngrams", shared=True)
    for head in self.heads:
      rows.update(head.rows(batch, self.encoder.targets))
    return rows

  def compose(self, vectors, batch):
    if self.subwords is None:
      return vectors, batch
    return self.subwords.compose(vectors, batch, self.encoder.input_words(batch)[0].shape)

  def loss(self, vectors: dict[str, jax.Array], example: Batch
           ) -> tuple[jax.Array, dict[str, jax.Array]]:
    h, weight = self.encoder.hidden(vectors, example, self.subwords)
    total, accuracy = None, None
    for head in self.heads:
      loss, correct = head.loss_of(h, weight, vectors, example, self.encoder.targets)
      total = loss if total is None else total + loss
      accuracy = correct if accuracy is None else accuracy
    return total, {"accuracy": accuracy, "count": jnp.sum(weight)}

  def sample(self, key: jax.Array, state: Any, batch: Batch) -> Batch:
    """Draws the negatives in the step when the input pipeline did not."""
    draws = self.needs().negatives
    if draws is None or "negatives" in batch:
      return batch
    batch_size, slots = batch["contexts"].shape
    return {**batch, "negatives": _draw(key, state, draws, draws.shape(batch_size, slots))}

  def fused(self) -> Rule | None:
    """The fused kernel's rule for this objective: None unless every part has one."""
    return self._kernel_rule()[0]

  def why_not_fused(self) -> str | None:
    """Why the fused kernel cannot train this objective (one line), or None where it can."""
    return self._kernel_rule()[1]

  def _kernel_rule(self) -> tuple[Rule | None, str | None]:
    """The parts' kernel rules together, or why there is none. A subclass may change any of
    the objective's math, so it has a rule only where it says its own (overrides `fused`)."""
    if type(self) is not Word2Vec and type(self).fused is Word2Vec.fused:
      return None, f"{type(self).__name__} (a subclass of Word2Vec) has no kernel rule"
    targets = self.encoder.targets
    parts = [(self.encoder, self.encoder.kernel_rule())]
    if self.subwords is not None:
      parts.append((self.subwords, self.subwords.kernel_rule()))
    parts += [(head, head.kernel_rule(targets)) for head in self.heads]
    fields: RuleFragment = {}
    for part, fragment in parts:
      if fragment is None:
        return None, f"{_describe(part)} has no kernel rule"
      # Heads may agree on skip_saturated; any other field is one part's.
      if any(k != "skip_saturated" or fields[k] != v for k, v in fragment.items() if k in fields):
        return None, f"the kernel runs one {_describe(part)} at most"
      fields.update(fragment)
    try:
      return Rule(**{"num_ns": 0, **fields}), None
    except ValueError as e:
      return None, f"the kernel has no rule for these parts ({e})"


def word2vec(*, model: str = "skipgram", num_ns: int = 5, hs: bool = False,
             loss: str = "sigmoid", cbow: str = "mean", negatives_per: str = "window",
             shared_negatives: int = 0, skip_positive_negatives: bool = True,
             negatives: str = "unigram", ns_exponent: float = 0.75, bucket: int = 0,
             minn: int = 3, maxn: int = 6, skipgram_input: str = "context",
             window_negatives: int = 0, skip_saturated: bool | None = None) -> Word2Vec:
  """The family by name, each setting its flag's: skip-gram or CBOW; `num_ns` negatives (per
  window or pair, or a pool of `shared_negatives` per batch), hierarchical softmax, or both;
  fastText's subwords with `bucket` > 0; skip-gram's input word the context (word2vec.c) or the
  centre (fastText). `skip_saturated` (default: for CBOW): the sigmoid heads give no update for
  an output whose |logit| >= 6, as gensim's do (CBOW's analogies gain ~1%, docs/results.md)."""
  if skip_saturated is None:
    skip_saturated = model == "cbow"
  if model not in ("skipgram", "cbow"):
    raise ValueError(f"model must be one of ('skipgram', 'cbow'), not {model!r}")
  if skipgram_input not in ("context", "centre"):
    raise ValueError(f"skipgram_input must be one of ('context', 'centre'), not "
                     f"{skipgram_input!r}")
  if num_ns < 0 or window_negatives < 0:
    raise ValueError("num_ns and window_negatives must be >= 0")
  if model == "cbow" and (negatives_per != "window" or skipgram_input != "context"):
    raise ValueError("CBOW takes the context as input, with negatives per window")
  if model == "cbow":
    encoder = Cbow(cbow)
  else:
    encoder = CentreSkipGram() if skipgram_input == "centre" else SkipGram()
  heads = []
  if num_ns and shared_negatives:
    heads.append(SharedNegatives(num_ns, shared_negatives, skip_positive_negatives, negatives,
                                 ns_exponent))
  elif num_ns:
    heads.append(NegativeSampling(num_ns, negatives_per, window_negatives,
                                  skip_positive_negatives, loss, negatives, ns_exponent,
                                  skip_saturated and loss == "sigmoid"))
  if hs:
    heads.append(HierarchicalSoftmax(skip_saturated))
  subwords = Subwords(minn, maxn, bucket) if bucket else None
  return Word2Vec(encoder, tuple(heads), subwords)


def from_config(config: Any) -> Word2Vec:
  """The objective an `ObjectiveConfig` (resolved: skipgram_input not auto) describes."""
  return word2vec(
      model=config.model, num_ns=config.num_ns, hs=config.hs, loss=config.loss,
      cbow=config.cbow_mode, negatives_per=config.negatives_per,
      shared_negatives=config.shared_negatives if config.num_ns else 0,
      # The seed's sampler (TF's) may return the positive itself; kept for faithfulness.
      skip_positive_negatives=config.negatives == "unigram", negatives=config.negatives,
      ns_exponent=config.ns_exponent, bucket=config.bucket if config.subwords else 0,
      minn=config.minn, maxn=config.maxn, skipgram_input=config.skipgram_input,
      window_negatives=config.window_negatives)


def for_run(config: Any, objective: Objective | None = None) -> Objective:
  """The objective a run of `config` (a `config.Config`) trains: `objective`, checked, or the
  one its settings describe (`from_config`; its settings do not depend on the step)."""
  if objective is None:
    objective = from_config(config_lib.resolve(config, step="generic").objective)
  return check(objective)
