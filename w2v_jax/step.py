"""The training step: a pure function of (state, batch) with sparse, row-wise Optax updates.

The step knows nothing of word2vec: an objective (`w2v_jax.objectives`) says which rows of which
tables each example reads and what its loss is; the step gathers those rows, vmaps the
objective's per-example loss over the batch (after the objective's `compose`, if it has one:
what is computed over the whole batch first, such as fastText's n-gram sums), and applies the
Optax transform to the gathered rows only, so a step costs the same at vocabulary 10k or 1M.
For transforms with per-parameter state (Adam's moments, Adagrad's accumulators) that state is
gathered and scattered per row too (lazy Adam).

Typical use (see README):
  objective = objectives.word2vec(model="cbow", hs=True, num_ns=0)
  tx = make_optimizer("sgd", 0.025, total_steps)
  state = create_train_state(jax.random.PRNGKey(0), objective.tables(vocab_size), 100, tx)
  step = jax.jit(functools.partial(train_step, tx=tx, objective=objective), donate_argnums=0)
  state, metrics = step(state, batch)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from w2v_jax import model as model_lib
from w2v_jax import negatives as negatives_lib
from w2v_jax import objectives

Batch = dict[str, jax.Array]


@struct.dataclass
class TrainState:
  step: jax.Array  # int32 scalar
  params: dict[str, jax.Array]  # One [rows, D] table per name, e.g. {"input", "output", "tree"}.
  opt_state: dict[str, Any]  # One Optax state per table.
  key: jax.Array  # uint32 [2]; step keys are fold_in(key, step).
  noise: negatives_lib.AliasTable | None  # For negatives drawn in the step; else None.


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


def schedule(settings: Any, total_steps: int) -> optax.Schedule:
  """`make_schedule` of an `OptimizerConfig` (w2v_jax.config)."""
  return make_schedule(settings.learning_rate, total_steps, settings.min_learning_rate_ratio,
                       settings.linear_decay)


def optimizer(settings: Any, total_steps: int) -> optax.GradientTransformation:
  """`make_optimizer` of an `OptimizerConfig` (w2v_jax.config)."""
  return make_optimizer(settings.optimizer, settings.learning_rate, total_steps,
                        settings.min_learning_rate_ratio, settings.linear_decay)


# An Optax transform, or a function of a run's total steps that makes one (for its schedule).
Optimizer = optax.GradientTransformation | Callable[[int], optax.GradientTransformation]


def optimizer_for(settings: Any, tx: Optimizer | None, total_steps: int
                  ) -> tuple[optax.GradientTransformation, optax.Schedule | None]:
  """A run's transform, `tx` or the settings' (an `OptimizerConfig`), and the learning-rate
  schedule it logs (the settings', None for a transform of the caller's)."""
  if tx is None:
    return optimizer(settings, total_steps), schedule(settings, total_steps)
  if not isinstance(tx, optax.GradientTransformation):
    tx = tx(total_steps)
  return tx, None


def create_train_state(
    key: jax.Array,
    tables: dict[str, int],
    dim: int,
    tx: optax.GradientTransformation,
    noise: negatives_lib.AliasTable | None = None,
    init: str = "word2vec",
) -> TrainState:
  """Initialises the named tables ({name: rows}) with the Flax module, one optimizer state each."""
  init_key, step_key = jax.random.split(key)
  module = model_lib.Tables(tuple(tables.items()), dim, init)
  # Jitted, so the tables are materialised once, without eager temporaries.
  params = dict(jax.jit(module.init)(init_key)["params"])
  opt_state = {name: tx.init(table) for name, table in params.items()}
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


def train_step(
    state: TrainState, batch: Batch, *, tx: optax.GradientTransformation,
    objective: objectives.Objective, combine_duplicates: bool | None = None,
) -> tuple[TrainState, dict[str, jax.Array]]:
  """One step of `objective` on a batch: gather rows, vmapped loss, sparse update per table.

  Metrics: the loss per prediction (a skip-gram pair, a CBOW window), the number of
  predictions ("count"), and every other metric the objective returns, per prediction.
  """
  objective = objectives.check(objective)
  # Whatever the input pipeline did not draw.
  batch = objective.sample(jax.random.fold_in(state.key, state.step), state, batch)
  slots = objective.rows(batch)
  ids = {}
  for name, rows in slots.items():
    size = state.params[rows.table].shape[0]
    ids[name] = jnp.where(rows.ids < 0, size, rows.ids)  # Out of range: gathers 0, not updated.
  vectors = {name: state.params[slots[name].table].at[i].get(mode="fill", fill_value=0)
             for name, i in ids.items()}
  shared = tuple(objective.shared_keys)

  def total_loss(vectors):
    # What the whole batch computes first (fastText's n-gram sums), then the loss per example.
    vectors, examples = objective.compose(vectors, batch)
    in_axes = ({k: None if k in slots and slots[k].shared else 0 for k in vectors},
               {k: None if k in shared else 0 for k in examples})
    losses_B, aux = jax.vmap(objective.loss, in_axes=in_axes)(vectors, examples)
    return jnp.sum(losses_B), aux

  (loss_sum, aux), grads = jax.value_and_grad(total_loss, has_aux=True)(vectors)
  new_params, new_opt_state = dict(state.params), dict(state.opt_state)
  for table in state.params:
    names = [name for name in slots if slots[name].table == table]
    if not names:
      continue
    dim = state.params[table].shape[1]
    rows_N = jnp.concatenate([ids[name].reshape(-1) for name in names])
    grads_NxD = jnp.concatenate([grads[name].reshape(-1, dim) for name in names])
    new_params[table], new_opt_state[table] = sparse_update(
        tx, state.params[table], state.opt_state[table], rows_N, grads_NxD, combine_duplicates)
  count = jnp.sum(aux["count"])
  metrics = {"loss": loss_sum / jnp.maximum(count, 1.0), "count": count}
  metrics.update({name: jnp.sum(value) / jnp.maximum(count, 1.0)
                  for name, value in aux.items() if name != "count"})
  new_state = state.replace(step=state.step + 1, params=new_params, opt_state=new_opt_state)
  return new_state, metrics


def train_steps(
    state: TrainState, batches: Batch, *, tx: optax.GradientTransformation,
    objective: objectives.Objective, combine_duplicates: bool | None = None,
) -> tuple[TrainState, dict[str, jax.Array]]:
  """`train_step` over a leading axis of batches in one `lax.scan` (one dispatch per chunk)."""

  def step(state, batch):
    return train_step(state, batch, tx=tx, objective=objective,
                      combine_duplicates=combine_duplicates)

  return jax.lax.scan(step, state, batches)
