"""The fused step: the word2vec family's update as one compiled loop per window, on the CPU.

`train_step(state, batch, lookups)` has the generic step's shape (state in, state and metrics
out) but trains from whole sentences: `batch["tokens"]` [N] is a step's sentences of token ids,
-1 after each. A C++ kernel (w2v_jax/kernels/word2vec.cc, called through XLA's FFI inside the
jitted program) subsamples them, draws each centre's window and negatives, walks its Huffman
path and composes fastText's subwords itself, from `Lookups`, and updates the tables in place,
windows split over XLA's intra-op threads (hogwild). The generic step (`w2v_jax.step`) gathers,
differentiates and scatters a whole batch at once and runs any objective and Optax transform;
this one runs the built-in objectives with SGD, as word2vec.c and gensim do, several times
faster on a CPU.

Typical use (docs/fused.md):
  kernel = fused.Kernel(objective.fused(), window=5, threads=2)
  lookups = fused.make_lookups(keep_prob, noise=alias_table)
  step = jax.jit(functools.partial(fused.train_step, kernel=kernel, tx=tx), donate_argnums=0)
  state, metrics = step(state, {"tokens": tokens_N}, lookups)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from w2v_jax import huffman as huffman_lib
from w2v_jax import native
from w2v_jax import negatives as negatives_lib
from w2v_jax import subwords as subwords_lib
from w2v_jax.losses import CBOW_MODES


@dataclasses.dataclass(frozen=True)
class Rule:
  """What the kernel trains: the part of a built-in objective it runs (`Word2Vec.fused()`).

  `per_pair`: word2vec.c's and fastText's loops literally: each (input, output) pair in turn,
  with its own negatives, each output row updated as it goes (word2vec.c's skip-gram, a
  negative equal to the centre skipped; fastText's with the centre as input, one equal to the
  context redrawn; with model "cbow", word2vec.c's CBOW: one prediction per window, each output
  row updated as it goes); else per window, every gradient of a window from the tables as they
  were before it (HogBatch), its negatives shared by its pairs. `window_draws`: with the
  centre as input, per window, how many negatives the window's pairs share (each weighing
  num_ns / window_draws).
  """

  model: str = "skipgram"
  input: str = "context"  # Skip-gram's input word: context (word2vec.c) or centre (fastText).
  per_pair: bool = False
  num_ns: int = 5
  window_draws: int = 0
  hs: bool = False
  cbow: str = "mean"

  def __post_init__(self):
    if self.cbow not in CBOW_MODES:
      raise ValueError(f"cbow must be one of {CBOW_MODES}, not {self.cbow!r}")
    if self.input == "centre" and (self.model != "skipgram" or self.hs or not self.num_ns):
      raise ValueError("the centre as input needs skip-gram with negative sampling alone")
    if not (self.num_ns or self.hs):
      raise ValueError("needs negatives (num_ns > 0) or hierarchical softmax")
    if bool(self.window_draws) != (self.centre_input and not self.per_pair):
      raise ValueError("window_draws (> 0) is for the centre as input, per window, alone")

  @property
  def centre_input(self) -> bool:
    return self.input == "centre"


@dataclasses.dataclass(frozen=True)
class Kernel:
  """A rule on windows of radius up to `window` (uniform in [1, window] if `dynamic_window`),
  on `threads` threads: 1 is deterministic; more are hogwild (lock-free, as word2vec.c's).
  Static: each kernel compiles its own step."""

  rule: Rule = Rule()
  window: int = 5
  dynamic_window: bool = True
  threads: int = 1

  @classmethod
  def of(cls, window: int = 5, dynamic_window: bool = True, threads: int = 1,
         **rule: Any) -> "Kernel":
    """`Kernel.of(model="cbow", window=3)`: a rule's and a kernel's settings together."""
    return cls(Rule(**rule), window, dynamic_window, threads)



@struct.dataclass
class Lookups:
  """Per-word arrays the kernel reads (never changed by training); None where unused."""

  keep: jax.Array | None = None  # float32 [V]: subsampling's keep probabilities.
  noise: negatives_lib.AliasTable | None = None  # Negatives' unigram^0.75 alias table.
  points: jax.Array | None = None  # int32 [V, L]: each word's Huffman path, root first,
  codes: jax.Array | None = None  # int8 [V, L]: and the branch taken at each node,
  lengths: jax.Array | None = None  # int32 [V]: and how long it is.
  ngram_offsets: jax.Array | None = None  # int32 [V + 1]: word w's n-gram rows are
  ngram_ids: jax.Array | None = None  # int32 ngram_ids[offsets[w]:offsets[w + 1]].


def make_lookups(keep: np.ndarray | None = None,
                 noise: negatives_lib.AliasTable | None = None,
                 tree: huffman_lib.HuffmanTree | None = None,
                 subwords: subwords_lib.Subwords | None = None) -> Lookups:
  """The kernel's lookups from the pipeline's pieces (host arrays; put them where you train)."""
  as_np = np.asarray
  return Lookups(
      keep=None if keep is None else as_np(keep, np.float32),
      noise=None if noise is None else negatives_lib.AliasTable(as_np(noise.prob, np.float32),
                                                                as_np(noise.alias, np.int32)),
      points=None if tree is None else as_np(tree.points, np.int32),
      codes=None if tree is None else as_np(tree.codes, np.int8),
      lengths=None if tree is None else as_np(tree.lengths, np.int32),
      ngram_offsets=None if subwords is None else as_np(subwords.offsets, np.int32),
      ngram_ids=None if subwords is None else as_np(subwords.ids, np.int32))


def learning_rate(tx: optax.GradientTransformation, opt_state: Any) -> tuple[jax.Array, Any]:
  """The step's learning rate from an SGD-like transform, and its state one step on.

  The update of a gradient of -1 is the learning rate (for optax.sgd with any schedule); the
  transform's state advances as the generic step's would, so either step resumes the other's
  checkpoints.
  """
  grad = jnp.full((1, 1), -1.0, jnp.float32)
  rate, new_state = None, {}
  for name, state in opt_state.items():
    updates, new_state[name] = tx.update(grad, state)
    if rate is None:
      rate = updates[0, 0]
  return rate, new_state


def _or_empty(x: jax.Array | None, dtype, rank: int = 1) -> jax.Array:
  return jnp.zeros((0,) * rank, dtype) if x is None else jnp.asarray(x, dtype)


def apply(kernel: Kernel, params: dict[str, jax.Array], tokens_N: jax.Array, lookups: Lookups,
          *, lr: jax.Array, key: jax.Array, step: jax.Array
          ) -> tuple[dict[str, jax.Array], jax.Array]:
  """One call of the kernel: the tables updated in place, and [loss sum, correct, count, pairs]."""
  rule = kernel.rule
  dim = params["input"].shape[1]
  tables = [params.get(name, jnp.zeros((1, dim), jnp.float32))
            for name in ("input", "output", "tree", "ngrams")]
  noise = lookups.noise
  call = jax.ffi.ffi_call(
      native.load(),
      [jax.ShapeDtypeStruct(t.shape, t.dtype) for t in tables]
      + [jax.ShapeDtypeStruct((4,), jnp.float32)],
      input_output_aliases={0: 0, 1: 1, 2: 2, 3: 3})
  *tables, metrics = call(
      *tables, jnp.asarray(tokens_N, jnp.int32), _or_empty(lookups.keep, jnp.float32),
      _or_empty(None if noise is None else noise.prob, jnp.float32),
      _or_empty(None if noise is None else noise.alias, jnp.int32),
      _or_empty(lookups.points, jnp.int32, 2), _or_empty(lookups.codes, jnp.int8, 2),
      _or_empty(lookups.lengths, jnp.int32), _or_empty(lookups.ngram_offsets, jnp.int32),
      _or_empty(lookups.ngram_ids, jnp.int32), jnp.asarray(lr, jnp.float32),
      jnp.asarray(key, jnp.uint32).reshape(2), jnp.asarray(step, jnp.int32),
      cbow=rule.model == "cbow", centre_input=rule.centre_input, per_pair=rule.per_pair,
      num_ns=np.int64(rule.num_ns),
      window_draws=np.int64(rule.window_draws),
      hs=rule.hs, cbow_mode=np.int64(CBOW_MODES.index(rule.cbow)),
      window=np.int64(kernel.window), dynamic_window=kernel.dynamic_window,
      subsample=lookups.keep is not None, subwords=lookups.ngram_ids is not None,
      threads=np.int64(kernel.threads))
  names = ("input", "output", "tree", "ngrams")
  return {name: t for name, t in zip(names, tables) if name in params}, metrics


def train_step(state: Any, batch: dict[str, jax.Array], lookups: Lookups, *, kernel: Kernel,
               tx: optax.GradientTransformation) -> tuple[Any, dict[str, jax.Array]]:
  """One step on a batch of sentences (`batch["tokens"]` [N], -1 after each sentence).

  Metrics as the generic step's: the number of predictions ("count": skip-gram pairs, CBOW
  windows) and, per prediction, the loss, the accuracy and the (centre, context) pairs trained.
  """
  lr, opt_state = learning_rate(tx, state.opt_state)
  params, m = apply(kernel, state.params, batch["tokens"], lookups, lr=lr, key=state.key,
                    step=state.step)
  count = jnp.maximum(m[2], 1.0)
  metrics = {"loss": m[0] / count, "accuracy": m[1] / count, "count": m[2], "pairs": m[3] / count}
  return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics


def train_steps(state: Any, batches: dict[str, jax.Array], lookups: Lookups, *, kernel: Kernel,
                tx: optax.GradientTransformation) -> tuple[Any, dict[str, jax.Array]]:
  """`train_step` over a leading axis of batches in one `lax.scan`."""

  def step(state, batch):
    return train_step(state, batch, lookups, kernel=kernel, tx=tx)

  return jax.lax.scan(step, state, batches)
