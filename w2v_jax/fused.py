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
from w2v_jax.rules import Rule


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
  """Per-word arrays the kernel reads (never changed by training); None where unused.

  Every entry the kernel indexes with must lie in its table: `make_lookups` checks them
  (`check_lookups`) and `apply` checks their shapes against the tables as it traces.
  """

  keep: jax.Array | None = None  # float32 [V]: subsampling's keep probabilities.
  noise: negatives_lib.AliasTable | None = None  # Negatives' unigram^0.75 alias table.
  points: jax.Array | None = None  # int32 [V, L]: each word's Huffman path, root first,
  codes: jax.Array | None = None  # int8 [V, L]: and the branch taken at each,
  lengths: jax.Array | None = None  # int32 [V]: and how long it is.
  ngram_offsets: jax.Array | None = None  # int32 [V + 1]: word w's n-gram rows are
  ngram_ids: jax.Array | None = None  # int32 ngram_ids[offsets[w]:offsets[w + 1]],
  bucket: int = struct.field(pytree_node=False, default=0)  # of an n-gram table this many rows.


def make_lookups(keep: np.ndarray | None = None,
                 noise: negatives_lib.AliasTable | None = None,
                 tree: huffman_lib.HuffmanTree | None = None,
                 subwords: subwords_lib.Subwords | None = None) -> Lookups:
  """The kernel's lookups from the pipeline's pieces (host arrays; put them where you train).

  Raises ValueError (`check_lookups`) where an entry lies outside its table.
  """
  as_np = np.asarray
  lookups = Lookups(
      keep=None if keep is None else as_np(keep, np.float32),
      noise=None if noise is None else negatives_lib.AliasTable(as_np(noise.prob, np.float32),
                                                                as_np(noise.alias, np.int32)),
      points=None if tree is None else as_np(tree.points, np.int32),
      codes=None if tree is None else as_np(tree.codes, np.int8),
      lengths=None if tree is None else as_np(tree.lengths, np.int32),
      ngram_offsets=None if subwords is None else as_np(subwords.offsets, np.int32),
      ngram_ids=None if subwords is None else as_np(subwords.ids, np.int32),
      bucket=0 if subwords is None else int(subwords.bucket))
  check_lookups(lookups)
  return lookups


def _fail_at(field: str, values: np.ndarray, bad: np.ndarray, why: str) -> None:
  """ValueError naming the first entry of `values` where `bad`, if any: `field[i] = x why`."""
  if bad.any():
    at = tuple(int(i) for i in np.argwhere(bad)[0])
    index = ", ".join(map(str, at))
    raise ValueError(f"lookups.{field}[{index}] = {values[at]} {why}")


def _on_host(x: Any) -> np.ndarray | None:
  return None if x is None else np.asarray(x)


def check_lookups(lookups: Lookups) -> None:
  """Raises ValueError, in one line naming the field and its first bad entry, unless every
  entry the kernel indexes with lies in its table: the words agree on V, keep probabilities in
  [0, 1], alias entries in [0, V), each path's lengths in [0, L], its points in [0, V - 1) (the
  tree's rows) and codes in {0, 1}, n-gram offsets from 0 up to len(ngram_ids), never
  decreasing, and n-gram ids in [0, bucket). O(V + n-grams) on the host, once: the kernel reads
  these unchecked (`apply` checks the shapes against the tables)."""
  keep, points, codes, lengths = map(_on_host, (lookups.keep, lookups.points, lookups.codes,
                                                lookups.lengths))
  offsets, ids = _on_host(lookups.ngram_offsets), _on_host(lookups.ngram_ids)
  noise = lookups.noise
  prob, alias = (None, None) if noise is None else (_on_host(noise.prob), _on_host(noise.alias))
  fields = {"keep": keep, "noise.prob": prob, "noise.alias": alias, "points": points,
            "codes": codes, "lengths": lengths, "ngram_offsets": offsets, "ngram_ids": ids}
  for name, x in fields.items():
    rank = 2 if name in ("points", "codes") else 1
    if x is not None and x.ndim != rank:
      raise ValueError(f"lookups.{name} has shape {x.shape}; it must have {rank} dimension(s)")
  # How many words each field is for: they must agree.
  sizes = {name: x.shape[0] - (name == "ngram_offsets") for name, x in fields.items()
           if x is not None and name != "ngram_ids"}
  v = next(iter(sizes.values()), 0)
  for name, n in sizes.items():
    if n != v:
      raise ValueError(f"lookups.{name} is for {n} words and lookups.{next(iter(sizes))} for "
                       f"{v}: every field must be for the same vocabulary")
  if keep is not None:
    _fail_at("keep", keep, ~((keep >= 0) & (keep <= 1)), "is not a probability in [0, 1]")
  if alias is not None:
    _fail_at("noise.alias", alias, (alias < 0) | (alias >= v),
             f"is outside the vocabulary's {v} words")
  if (points is None) != (lengths is None) or (points is None) != (codes is None):
    raise ValueError("lookups.points, codes and lengths come together (a Huffman tree) or not "
                     "at all")
  if points is not None:
    width = points.shape[1]
    if codes.shape != points.shape:
      raise ValueError(f"lookups.codes has shape {codes.shape}, points {points.shape}: "
                       "they must be the same")
    _fail_at("lengths", lengths, (lengths < 0) | (lengths > width),
             f"is outside [0, {width}] (points has {width} columns)")
    used = np.arange(width)[None, :] < lengths[:, None]  # Each path's nodes, root first.
    _fail_at("points", points, used & ((points < 0) | (points >= v - 1)),
             f"is outside the tree's {v - 1} rows")
    _fail_at("codes", codes, used & (codes != 0) & (codes != 1), "is not a branch (0 or 1)")
  if (offsets is None) != (ids is None):
    raise ValueError("lookups.ngram_offsets and ngram_ids come together or not at all")
  if offsets is not None:
    if offsets.shape[0] == 0:
      raise ValueError("lookups.ngram_offsets is empty; it needs V + 1 entries")
    _fail_at("ngram_offsets", offsets[:1], offsets[:1] != 0, "must be 0: offsets start at 0")
    _fail_at("ngram_offsets", offsets, np.diff(offsets, prepend=0) < 0,
             "is less than the offset before it: offsets must not decrease")
    if offsets[-1] != ids.shape[0]:
      raise ValueError(f"lookups.ngram_offsets[{v}] = {offsets[-1]} must be len(ngram_ids) = "
                       f"{ids.shape[0]}")
    if lookups.bucket <= 0:
      raise ValueError(f"lookups.bucket = {lookups.bucket}: n-gram ids need the n-gram "
                       "table's rows (make_lookups takes them from the Subwords)")
    _fail_at("ngram_ids", ids, (ids < 0) | (ids >= lookups.bucket),
             f"is outside the n-gram table's {lookups.bucket} rows")


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


# The kernel's tables, in the order of Step's first buffers and results (kernels/word2vec.cc).
TABLES = ("input", "output", "tree", "ngrams")


def _needed_tables(rule: Rule, lookups: Lookups, vocab: int) -> dict[str, int]:
  """The tables a call reads, and the rows each must have."""
  needed = {"input": vocab}
  if rule.num_ns:
    needed["output"] = vocab
  if rule.hs:
    needed["tree"] = vocab - 1
  if lookups.ngram_ids is not None:
    needed["ngrams"] = lookups.bucket
  return needed


def check_shapes(rule: Rule, params: dict[str, Any], lookups: Lookups) -> None:
  """Raises ValueError (one line naming the table or field) unless `params` has every table
  `rule` and `lookups` need, float32 [rows, D], and every lookup `rule` needs is there with V
  (the input table's rows) entries. Shapes only: `apply` calls it as it traces."""
  if "input" not in params or len(params["input"].shape) != 2:
    raise ValueError("params need an 'input' table [V, D]")
  vocab, dim = params["input"].shape
  needed = _needed_tables(rule, lookups, vocab)
  for name in TABLES:
    table = params.get(name)
    if name in needed and table is None:
      raise ValueError(f"the fused step needs a table {name!r} of {needed[name]} rows and "
                       f"params have none (they have {', '.join(sorted(params))})")
    if table is None:
      continue
    if name == "ngrams" and name not in needed:
      raise ValueError("params have an 'ngrams' table and lookups have no n-grams to train it "
                       "(make_lookups(subwords=...))")
    if name in needed and tuple(table.shape) != (needed[name], dim):
      raise ValueError(f"params[{name!r}] has shape {tuple(table.shape)}; the fused step needs "
                       f"({needed[name]}, {dim})")
    if table.dtype != jnp.float32:
      raise ValueError(f"params[{name!r}] is {table.dtype}; the fused step trains float32")
  noise = lookups.noise
  fields = {"keep": (lookups.keep, lookups.keep is not None),
            "noise.prob": (None if noise is None else noise.prob, bool(rule.num_ns)),
            "noise.alias": (None if noise is None else noise.alias, bool(rule.num_ns)),
            "lengths": (lookups.lengths, rule.hs), "points": (lookups.points, rule.hs),
            "codes": (lookups.codes, rule.hs),
            "ngram_offsets": (lookups.ngram_offsets, lookups.ngram_ids is not None)}
  for name, (x, used) in fields.items():
    if not used:
      continue
    if x is None:
      raise ValueError(f"the rule needs lookups.{name} and it is None (make_lookups(noise=...) "
                       "for negatives, tree=... for hierarchical softmax)")
    rows = vocab + 1 if name == "ngram_offsets" else vocab
    if jnp.ndim(x) != (2 if name in ("points", "codes") else 1) or jnp.shape(x)[0] != rows:
      raise ValueError(f"lookups.{name} has shape {jnp.shape(x)}; the input table's {vocab} "
                       f"words need {rows} rows")
  if rule.hs and jnp.shape(lookups.codes) != jnp.shape(lookups.points):
    raise ValueError(f"lookups.codes has shape {jnp.shape(lookups.codes)}, points "
                     f"{jnp.shape(lookups.points)}: they must be the same")


def _or_empty(x: jax.Array | None, dtype, rank: int = 1) -> jax.Array:
  return jnp.zeros((0,) * rank, dtype) if x is None else jnp.asarray(x, dtype)


def _operands(tokens_N: jax.Array, lookups: Lookups, lr: jax.Array, key: jax.Array,
              step: jax.Array) -> list[jax.Array]:
  """The buffers after the tables, in Step's order (kernels/word2vec.cc); unused ones empty."""
  noise = lookups.noise
  return [jnp.asarray(tokens_N, jnp.int32), _or_empty(lookups.keep, jnp.float32),
          _or_empty(None if noise is None else noise.prob, jnp.float32),
          _or_empty(None if noise is None else noise.alias, jnp.int32),
          _or_empty(lookups.points, jnp.int32, 2), _or_empty(lookups.codes, jnp.int8, 2),
          _or_empty(lookups.lengths, jnp.int32), _or_empty(lookups.ngram_offsets, jnp.int32),
          _or_empty(lookups.ngram_ids, jnp.int32), jnp.asarray(lr, jnp.float32),
          jnp.asarray(key, jnp.uint32).reshape(2), jnp.asarray(step, jnp.int32)]


def _settings(kernel: Kernel, lookups: Lookups) -> dict[str, Any]:
  """The kernel's `Settings`, by member name (the kernel decodes them by name)."""
  rule = kernel.rule
  return dict(cbow=rule.model == "cbow", centre_input=rule.centre_input, per_pair=rule.per_pair,
              num_ns=np.int64(rule.num_ns), window_draws=np.int64(rule.window_draws),
              hs=rule.hs, cbow_mode=np.int64(CBOW_MODES.index(rule.cbow)),
              window=np.int64(kernel.window), dynamic_window=kernel.dynamic_window,
              subsample=lookups.keep is not None, subwords=lookups.ngram_ids is not None,
              threads=np.int64(kernel.threads), skip_saturated=rule.skip_saturated)


def apply(kernel: Kernel, params: dict[str, jax.Array], tokens_N: jax.Array, lookups: Lookups,
          *, lr: jax.Array, key: jax.Array, step: jax.Array
          ) -> tuple[dict[str, jax.Array], jax.Array]:
  """One call of the kernel: the tables updated in place, and [loss sum, correct, count, pairs].

  Raises ValueError as it traces where `params` lack a table the rule or the lookups need, or
  a shape disagrees (`check_shapes`).
  """
  check_shapes(kernel.rule, params, lookups)
  dim = params["input"].shape[1]
  # A table nothing reads (check_shapes made sure): one row, so the call's arity is fixed.
  tables = [params.get(name, jnp.zeros((1, dim), jnp.float32)) for name in TABLES]
  call = jax.ffi.ffi_call(
      native.load(),
      [jax.ShapeDtypeStruct(t.shape, t.dtype) for t in tables]
      + [jax.ShapeDtypeStruct((4,), jnp.float32)],
      input_output_aliases={i: i for i in range(len(TABLES))})
  *tables, metrics = call(*tables, *_operands(tokens_N, lookups, lr, key, step),
                          **_settings(kernel, lookups))
  return {name: t for name, t in zip(TABLES, tables) if name in params}, metrics


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
