"""The training step: a pure function of (state, batch) with sparse, row-wise Optax updates.

Only the embedding rows in a batch are gathered, updated by the Optax transform and scattered
back, so a step costs the same at vocabulary 10k or 1M. For transforms with per-parameter state
(Adam's moments, Adagrad's accumulators) that state is gathered and scattered per row too (lazy
Adam).

Typical use (see README):
  tx = make_optimizer("sgd", 0.025, total_steps)
  state = create_train_state(jax.random.PRNGKey(0), vocab_size, 100, tx, noise)
  step = jax.jit(functools.partial(train_step, tx=tx, settings=StepSettings()), donate_argnums=0)
  state, metrics = step(state, {"targets": t_B, "contexts": c_B, "mask": m_B})
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from w2v_jax import model as model_lib
from w2v_jax import negatives as negatives_lib

# targets int32 [B], contexts int32 [B], mask float32 [B]; optionally negatives int32 [B, K]
# (else the step draws them from state.noise with fold_in(state.key, state.step)).
Batch = dict[str, jax.Array]
TABLES = ("target", "context")


@struct.dataclass
class TrainState:
  step: jax.Array  # int32 scalar
  params: dict[str, jax.Array]  # {"target": [V, D], "context": [V, D]}
  opt_state: dict[str, Any]  # One Optax state per table.
  key: jax.Array  # uint32 [2]; step keys are fold_in(key, step).
  noise: negatives_lib.AliasTable | None  # None for the log-uniform sampler.


@dataclasses.dataclass(frozen=True)
class StepSettings:
  """Static settings of the step (hashable, bound with functools.partial before jit)."""

  num_ns: int = 5
  loss: str = "sigmoid"
  negatives: str = "unigram"  # "unigram" draws from state.noise; "log_uniform" from TF's sampler.
  # word2vec.c and gensim skip a negative that equals the positive context.
  skip_positive_negatives: bool = True
  # None: combine duplicate rows (segment_sum) only when the optimizer keeps per-row state.
  combine_duplicates: bool | None = None
  # > 0: one pool of this many negatives shared by the batch (sigmoid loss only).
  shared_negatives: int = 0


def make_schedule(
    learning_rate: float, total_steps: int, min_ratio: float = 1e-4, linear_decay: bool = True
) -> optax.Schedule:
  """word2vec's linear decay from lr to min_ratio * lr over the run, or a constant."""
  if not linear_decay:
    return optax.constant_schedule(learning_rate)
  return optax.linear_schedule(learning_rate, learning_rate * min_ratio, max(total_steps, 1))


def make_optimizer(
    name: str,
    learning_rate: float,
    total_steps: int,
    min_ratio: float = 1e-4,
    linear_decay: bool = True,
) -> optax.GradientTransformation:
  """SGD (word2vec: linear decay to min_ratio * lr), Adam (the seed's) or Adagrad."""
  lr = make_schedule(learning_rate, total_steps, min_ratio, linear_decay)
  if name == "sgd":
    return optax.sgd(lr)
  if name == "adam":
    return optax.adam(lr, eps=1e-7)  # Keras' epsilon.
  if name == "adagrad":
    return optax.adagrad(lr)
  raise ValueError(f"unknown optimizer {name!r}")


def create_train_state(
    key: jax.Array,
    vocab_size: int,
    dim: int,
    tx: optax.GradientTransformation,
    noise: negatives_lib.AliasTable | None,
    init: str = "word2vec",
) -> TrainState:
  """Initialises both tables with the Flax module and one optimizer state per table."""
  init_key, step_key = jax.random.split(key)
  module = model_lib.Word2Vec(vocab_size, dim, init)
  # Jitted, so the tables are materialised once, without eager temporaries.
  variables = jax.jit(module.init)(init_key, jnp.zeros(1, jnp.int32), jnp.zeros((1, 1), jnp.int32))
  params = {name: variables["params"][name]["embedding"] for name in TABLES}
  opt_state = {name: tx.init(params[name]) for name in TABLES}
  return TrainState(jnp.zeros((), jnp.int32), params, opt_state, step_key, noise)


def _is_row_leaf(x: Any, table: jax.Array) -> bool:
  return hasattr(x, "shape") and x.shape == table.shape


def sparse_update(
    tx: optax.GradientTransformation,
    table_VxD: jax.Array,
    opt_state: Any,
    rows_N: jax.Array,
    grads_NxD: jax.Array,
    combine_duplicates: bool | None = None,
) -> tuple[jax.Array, Any]:
  """Applies `tx` to the gathered rows only; rows equal to V (padding) are dropped.

  Optimizer-state leaves shaped like the table are gathered/scattered per row; other leaves (step
  counts) are global. Stateful rows need duplicates combined first so each row updates once; for
  stateless transforms per-occurrence updates are added (equal for linear ones such as SGD).
  """
  vocab_size = table_VxD.shape[0]
  has_row_state = any(_is_row_leaf(x, table_VxD) for x in jax.tree_util.tree_leaves(opt_state))
  if combine_duplicates is None:
    combine_duplicates = has_row_state
  if has_row_state and not combine_duplicates:
    raise ValueError("an optimizer with per-row state needs combine_duplicates=True")
  if combine_duplicates:
    n = rows_N.shape[0]
    rows_N, inverse = jnp.unique(rows_N, size=n, fill_value=vocab_size, return_inverse=True)
    grads_NxD = jax.ops.segment_sum(grads_NxD, inverse.reshape(-1), num_segments=n)

  def gather(x):
    return x.at[rows_N].get(mode="fill", fill_value=0)

  row_state = jax.tree_util.tree_map(
      lambda x: gather(x) if _is_row_leaf(x, table_VxD) else x, opt_state
  )
  updates, new_row_state = tx.update(grads_NxD, row_state, gather(table_VxD))
  table_VxD = table_VxD.at[rows_N].add(updates, mode="drop")
  opt_state = jax.tree_util.tree_map(
      lambda full, new: full.at[rows_N].set(new, mode="drop") if _is_row_leaf(full, table_VxD)
      else new,
      opt_state,
      new_row_state,
  )
  return table_VxD, opt_state


def negatives_shape(settings: StepSettings, batch_size: int) -> tuple[int, ...]:
  """[B, K] per-example negatives, or [N] for a shared pool."""
  if settings.shared_negatives:
    return (settings.shared_negatives,)
  return (batch_size, settings.num_ns)


def draw_negatives(
    key: jax.Array, state: TrainState, settings: StepSettings, batch_size: int
) -> jax.Array:
  """int32 negatives of `negatives_shape` from the run's noise distribution."""
  shape = negatives_shape(settings, batch_size)
  if settings.negatives == "unigram":
    return negatives_lib.sample_alias(key, state.noise, shape)
  if settings.negatives == "log_uniform":
    vocab_size = state.params["context"].shape[0]
    if len(shape) == 1:
      return negatives_lib.sample_log_uniform(key, vocab_size, (1,) + shape, unique=True)[0]
    return negatives_lib.sample_log_uniform(key, vocab_size, shape, unique=True)
  raise ValueError(f"unknown negatives {settings.negatives!r}")


def _per_example_terms(params, targets_B, contexts_B, negatives_BxK, mask_B, settings):
  """Loss, logits, and the context rows with their gradients, 1 + K negatives per example."""
  ids_BxC = jnp.concatenate([contexts_B[:, None], negatives_BxK], axis=1)
  valid_BxC = jnp.ones(ids_BxC.shape, jnp.float32)
  if settings.skip_positive_negatives:
    valid_BxC = valid_BxC.at[:, 1:].set(negatives_BxK != contexts_B[:, None])

  def loss_fn(target_BxD, context_BxCxD):
    per_example = functools.partial(model_lib.example_loss, loss=settings.loss)
    losses_B, logits_BxC = jax.vmap(per_example)(target_BxD, context_BxCxD, valid_BxC)
    return jnp.sum(mask_B * losses_B), logits_BxC

  (loss_sum, logits_BxC), (g_target, g_context) = jax.value_and_grad(
      loss_fn, argnums=(0, 1), has_aux=True
  )(params["target"][targets_B], params["context"][ids_BxC])
  vocab_size, dim = params["context"].shape
  rows = jnp.where(mask_B[:, None] > 0, ids_BxC, vocab_size).reshape(-1)
  return loss_sum, logits_BxC, valid_BxC, g_target, rows, g_context.reshape(-1, dim)


def _shared_pool_terms(params, targets_B, contexts_B, pool_N, mask_B, settings):
  """The same terms with one pool of N negatives for the whole batch."""
  if settings.loss != "sigmoid":
    raise ValueError("shared negatives need the sigmoid loss")
  valid_BxN = jnp.ones((targets_B.shape[0], pool_N.shape[0]), jnp.float32)
  if settings.skip_positive_negatives:
    valid_BxN = (pool_N[None, :] != contexts_B[:, None]).astype(jnp.float32)
  weight = settings.num_ns / pool_N.shape[0]

  def loss_fn(target_BxD, positive_BxD, pool_NxD):
    per_example = functools.partial(model_lib.pooled_example_loss, weight=weight)
    losses_B, logits_BxC = jax.vmap(per_example, in_axes=(0, 0, None, 0))(
        target_BxD, positive_BxD, pool_NxD, valid_BxN)
    return jnp.sum(mask_B * losses_B), logits_BxC

  (loss_sum, logits_BxC), (g_target, g_positive, g_pool) = jax.value_and_grad(
      loss_fn, argnums=(0, 1, 2), has_aux=True
  )(params["target"][targets_B], params["context"][contexts_B], params["context"][pool_N])
  vocab_size = params["context"].shape[0]
  rows = jnp.concatenate([jnp.where(mask_B > 0, contexts_B, vocab_size), pool_N])
  valid_BxC = jnp.concatenate([jnp.ones_like(mask_B)[:, None], valid_BxN], axis=1)
  return loss_sum, logits_BxC, valid_BxC, g_target, rows, jnp.concatenate([g_positive, g_pool])


def train_step(
    state: TrainState, batch: Batch, *, tx: optax.GradientTransformation, settings: StepSettings
) -> tuple[TrainState, dict[str, jax.Array]]:
  """One SGNS step on a batch of (target, context) pairs.

  Negatives come from `batch["negatives"]` when the input pipeline drew them, else they are drawn
  here from `fold_in(state.key, state.step)`.
  """
  targets_B, contexts_B = batch["targets"], batch["contexts"]
  mask_B = batch["mask"].astype(jnp.float32)
  vocab_size = state.params["target"].shape[0]
  if "negatives" in batch:
    negatives = batch["negatives"]
  else:
    negatives = draw_negatives(jax.random.fold_in(state.key, state.step), state, settings,
                               targets_B.shape[0])
  terms = _shared_pool_terms if settings.shared_negatives else _per_example_terms
  loss_sum, logits_BxC, valid_BxC, g_target, context_rows, g_context = terms(
      state.params, targets_B, contexts_B, negatives, mask_B, settings)

  # Padded examples point at row V, which the scatter drops.
  target_rows = jnp.where(mask_B > 0, targets_B, vocab_size)
  new_params, new_opt_state = {}, {}
  for name, rows, grads in (("target", target_rows, g_target),
                            ("context", context_rows, g_context)):
    new_params[name], new_opt_state[name] = sparse_update(
        tx, state.params[name], state.opt_state[name], rows, grads, settings.combine_duplicates
    )

  count = jnp.sum(mask_B)
  ranked_first = jnp.argmax(jnp.where(valid_BxC > 0, logits_BxC, -jnp.inf), axis=1) == 0
  metrics = {
      "loss": loss_sum / jnp.maximum(count, 1.0),
      "accuracy": jnp.sum(mask_B * ranked_first) / jnp.maximum(count, 1.0),
      "count": count,
  }
  new_state = state.replace(step=state.step + 1, params=new_params, opt_state=new_opt_state)
  return new_state, metrics


def train_steps(
    state: TrainState, batches: Batch, *, tx: optax.GradientTransformation,
    settings: StepSettings
) -> tuple[TrainState, dict[str, jax.Array]]:
  """`train_step` over a leading axis of batches in one `lax.scan` (one dispatch per chunk)."""
  step = functools.partial(train_step, tx=tx, settings=settings)
  return jax.lax.scan(step, state, batches)
