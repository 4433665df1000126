import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from w2v_jax import model, negatives
from w2v_jax import step as step_lib

V, D, B, K = 40, 8, 6, 3


def _state(tx, key=0, context_scale=0.1):
  counts = np.arange(1, V + 1)
  noise = negatives.build_alias_table(negatives.unigram_probs(counts))
  state = step_lib.create_train_state(jax.random.PRNGKey(key), V, D, tx, noise)
  # word2vec starts the context table at zero; random values make every gradient term visible.
  ctx = context_scale * jax.random.normal(jax.random.PRNGKey(99), (V, D))
  return state.replace(params={**state.params, "context": ctx})


def _batch(targets, contexts, mask=None):
  targets = jnp.asarray(targets, jnp.int32)
  mask = jnp.ones(len(targets)) if mask is None else jnp.asarray(mask, jnp.float32)
  return {"targets": targets, "contexts": jnp.asarray(contexts, jnp.int32), "mask": mask}


def test_hand_written_sigmoid_gradient_equals_jax_grad():
  key = jax.random.PRNGKey(0)
  t = jax.random.normal(key, (D,))
  c = jax.random.normal(jax.random.PRNGKey(1), (K + 1, D))
  valid = jnp.array([1.0, 1.0, 0.0, 1.0])
  loss = lambda t, c: model.example_loss(t, c, valid, "sigmoid")[0]
  g_t, g_c = jax.grad(loss, argnums=(0, 1))(t, c)
  h_t, h_c = model.sigmoid_grads(t, c, valid)
  np.testing.assert_allclose(g_t, h_t, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(g_c, h_c, rtol=1e-5, atol=1e-6)
  # And the loss itself, by hand.
  logits = np.asarray(c @ t)
  expected = -np.log(1 / (1 + np.exp(-logits[0]))) - np.log(1 / (1 + np.exp(logits[1]))) - np.log(
      1 / (1 + np.exp(logits[3])))
  assert float(loss(t, c)) == pytest.approx(expected, rel=1e-5)


def test_softmax_loss_is_cross_entropy_of_the_positive():
  t = jnp.array([1.0, 0.0])
  c = jnp.array([[2.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
  value, logits = model.example_loss(t, c, jnp.ones(3), "softmax")
  np.testing.assert_allclose(logits, [2.0, 1.0, 0.0])
  assert float(value) == pytest.approx(-(2.0 - np.log(np.exp(2) + np.exp(1) + 1)), rel=1e-6)


def test_sgd_step_equals_word2vec_update_by_hand():
  lr = 0.1
  tx = optax.sgd(lr)
  state = _state(tx)
  settings = step_lib.StepSettings(num_ns=K)
  batch = _batch([3, 7, 3], [5, 9, 3])
  new_state, metrics = step_lib.train_step(state, batch, tx=tx, settings=settings)
  # Recompute the update with numpy and the same negatives.
  negs = np.asarray(step_lib.draw_negatives(jax.random.fold_in(state.key, 0), state, settings, 3))
  target = np.asarray(state.params["target"]).copy()
  context = np.asarray(state.params["context"]).copy()
  new_t, new_c = target.copy(), context.copy()
  total = 0.0
  for b, (w, pos) in enumerate(zip([3, 7, 3], [5, 9, 3])):
    ids = [pos] + negs[b].tolist()
    valid = [1.0] + [float(n != pos) for n in negs[b]]
    for j, (cid, ok) in enumerate(zip(ids, valid)):
      logit = target[w] @ context[cid]
      label = 1.0 if j == 0 else 0.0
      g = ok * (1 / (1 + np.exp(-logit)) - label)
      total += ok * -np.log(1 / (1 + np.exp(-logit if j == 0 else logit)))
      new_t[w] -= lr * g * context[cid]
      new_c[cid] -= lr * g * target[w]
  np.testing.assert_allclose(new_state.params["target"], new_t, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(new_state.params["context"], new_c, rtol=1e-5, atol=1e-6)
  assert float(metrics["loss"]) == pytest.approx(total / 3, rel=1e-5)
  assert int(new_state.step) == 1


@pytest.mark.parametrize("name", ["sgd", "adam", "adagrad"])
def test_rows_outside_the_batch_are_bit_for_bit_unchanged(name):
  tx = step_lib.make_optimizer(name, 0.05, total_steps=10)
  state = _state(tx)
  settings = step_lib.StepSettings(num_ns=K)
  batch = _batch([1, 2, 2, 4], [5, 6, 6, 7], mask=[1, 1, 1, 0])
  before = jax.tree_util.tree_map(np.asarray, state)
  step = jax.jit(functools.partial(step_lib.train_step, tx=tx, settings=settings))
  after = step(state, batch)[0]
  after = step(after, batch)[0]
  negs = {int(n) for s in range(2) for n in np.asarray(step_lib.draw_negatives(
      jax.random.fold_in(before.key, s), before, settings, 4))[:3].ravel()}
  touched = {"target": {1, 2}, "context": {5, 6} | negs}
  for table in ("target", "context"):
    untouched = np.array(sorted(set(range(V)) - touched[table]))
    np.testing.assert_array_equal(np.asarray(after.params[table])[untouched],
                                  before.params[table][untouched])
    changed = np.array(sorted(touched[table]))
    assert not np.allclose(np.asarray(after.params[table])[changed], before.params[table][changed])
    for full_before, full_after in zip(jax.tree_util.tree_leaves(before.opt_state[table]),
                                       jax.tree_util.tree_leaves(after.opt_state[table])):
      if np.shape(full_before) == (V, D):
        np.testing.assert_array_equal(np.asarray(full_after)[untouched], full_before[untouched])


def test_lazy_adam_with_duplicate_rows_equals_dense_adam_on_summed_gradients():
  tx = optax.adam(0.01)
  state = _state(tx)
  settings = step_lib.StepSettings(num_ns=K)
  batch = _batch([1, 1, 2], [3, 3, 4])
  new_state, _ = step_lib.train_step(state, batch, tx=tx, settings=settings)
  negs = step_lib.draw_negatives(jax.random.fold_in(state.key, 0), state, settings, 3)
  ids = jnp.concatenate([batch["contexts"][:, None], negs], 1)
  valid = jnp.ones(ids.shape).at[:, 1:].set(negs != batch["contexts"][:, None])

  def dense_loss(params):
    losses, _ = jax.vmap(functools.partial(model.example_loss, loss="sigmoid"))(
        params["target"][batch["targets"]], params["context"][ids], valid)
    return losses.sum()

  grads = jax.grad(dense_loss)(state.params)
  for table in ("target", "context"):
    updates, _ = tx.update(grads[table], tx.init(state.params[table]), state.params[table])
    expected = state.params[table] + updates
    rows = np.unique(np.asarray(batch["targets"] if table == "target" else ids))
    np.testing.assert_allclose(new_state.params[table][rows], expected[rows], rtol=1e-5,
                               atol=1e-7)


def test_scan_of_steps_equals_repeated_steps():
  tx = optax.sgd(0.05)
  settings = step_lib.StepSettings(num_ns=K)
  rng = np.random.default_rng(0)
  batches = _batch(rng.integers(0, V, (4, B)), rng.integers(0, V, (4, B)), np.ones((4, B)))
  scanned, metrics = step_lib.train_steps(_state(tx), batches, tx=tx, settings=settings)
  state = _state(tx)
  for i in range(4):
    state, m = step_lib.train_step(state, jax.tree_util.tree_map(lambda x: x[i], batches),
                                   tx=tx, settings=settings)
    assert float(m["loss"]) == pytest.approx(float(metrics["loss"][i]), rel=1e-6)
  np.testing.assert_allclose(scanned.params["target"], state.params["target"], rtol=1e-6)


@pytest.mark.parametrize("rows", [1, 15, 16, 17, 100])
def test_blockwise_uniform_draws_every_row_within_bounds(rows):
  table = np.asarray(model.blockwise_uniform(jax.random.PRNGKey(0), (rows, 4), jnp.float32,
                                             -0.25, 0.25, block_rows=16))
  assert table.shape == (rows, 4)
  assert table.min() >= -0.25 and table.max() < 0.25
  # Every row overwritten with its own draw: no zero fill left, no block repeated.
  assert len(np.unique(table, axis=0)) == rows and not np.any(np.all(table == 0, axis=1))


def test_blockwise_uniform_is_uniform():
  table = np.asarray(model.blockwise_uniform(jax.random.PRNGKey(1), (5000, 40), jnp.float32,
                                             -0.5, 0.5, block_rows=512)).ravel()
  # 200k draws: mean 0 +- 0.0007 (1 sd) and variance 1/12; each tenth of the range ~10%.
  assert abs(table.mean()) < 0.005 and table.var() == pytest.approx(1 / 12, rel=0.01)
  np.testing.assert_allclose(np.histogram(table, 10, (-0.5, 0.5))[0] / table.size, 0.1, atol=0.003)


def test_pinned_loss_after_two_steps():
  # If you did not mean to change the numerics (init, sampling, loss, update), this is a bug.
  tx = step_lib.make_optimizer("sgd", 0.5, total_steps=100)
  counts = np.arange(1, V + 1)
  noise = negatives.build_alias_table(negatives.unigram_probs(counts))
  state = step_lib.create_train_state(jax.random.PRNGKey(0), V, D, tx, noise)
  batch = _batch(np.arange(B), (np.arange(B) + 1) % V)
  settings = step_lib.StepSettings(num_ns=K)
  state, first = step_lib.train_step(state, batch, tx=tx, settings=settings)
  # The context table starts at zero, so every first-step logit is 0.
  assert float(first["loss"]) * B == pytest.approx(
      np.log(2) * float(B + np.sum((np.asarray(step_lib.draw_negatives(
          jax.random.fold_in(state.key, 0), state, settings, B)) != np.asarray(
              batch["contexts"])[:, None]))), rel=1e-6)
  _, second = step_lib.train_step(state, batch, tx=tx, settings=settings)
  assert float(second["loss"]) == pytest.approx(PINNED_SECOND_LOSS, rel=1e-5)


PINNED_SECOND_LOSS = 2.7709968090057373  # Since the table init draws block by block.


def test_pooled_loss_equals_per_example_loss_when_the_pool_is_the_examples_negatives():
  t = jax.random.normal(jax.random.PRNGKey(0), (D,))
  pos = jax.random.normal(jax.random.PRNGKey(1), (D,))
  pool = jax.random.normal(jax.random.PRNGKey(2), (K, D))
  valid = jnp.array([1.0, 0.0, 1.0])
  pooled, logits = model.pooled_example_loss(t, pos, pool, valid, 1.0)
  single, single_logits = model.example_loss(t, jnp.concatenate([pos[None], pool]),
                                             jnp.concatenate([jnp.ones(1), valid]))
  assert float(pooled) == pytest.approx(float(single), rel=1e-6)
  np.testing.assert_allclose(logits, single_logits, rtol=1e-6)


def test_shared_pool_step_updates_pool_rows_with_summed_weighted_gradients():
  lr, pool_size = 0.1, 4
  tx = optax.sgd(lr)
  state = _state(tx)
  settings = step_lib.StepSettings(num_ns=2, shared_negatives=pool_size)
  batch = {**_batch([3, 7], [5, 9]), "negatives": jnp.array([11, 12, 13, 5], jnp.int32)}
  new_state, _ = step_lib.train_step(state, batch, tx=tx, settings=settings)
  target = np.asarray(state.params["target"])
  context = np.asarray(state.params["context"])
  new_t, new_c = target.copy(), context.copy()
  weight = 2 / pool_size
  sig = lambda x: 1 / (1 + np.exp(-x))
  for w, pos in ((3, 5), (7, 9)):
    g = sig(target[w] @ context[pos]) - 1
    new_t[w] -= lr * g * context[pos]
    new_c[pos] -= lr * g * target[w]
    for n in (11, 12, 13, 5):
      if n == pos:  # A negative equal to the positive is skipped.
        continue
      g = weight * sig(target[w] @ context[n])
      new_t[w] -= lr * g * context[n]
      new_c[n] -= lr * g * target[w]
  np.testing.assert_allclose(new_state.params["target"], new_t, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(new_state.params["context"], new_c, rtol=1e-5, atol=1e-6)
