"""The generic step with the word2vec objectives, against word2vec.c's update rules by hand."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from w2v_jax import losses, model, negatives, objectives
from w2v_jax import step as step_lib

V, D, K = 40, 8, 3
# Jitted once per (tx, objective): much faster than running the step's many small ops eagerly.
_step = jax.jit(step_lib.train_step, static_argnames=("tx", "objective", "combine_duplicates"))


def _sig(x):
  return 1 / (1 + np.exp(-x))


def _state(objective, tx, key=0, scale=0.1):
  """A state whose every table is random (word2vec zero-inits outputs: all terms stay visible)."""
  counts = np.arange(V, 0, -1)
  noise = negatives.build_alias_table(negatives.unigram_probs(counts))
  state = step_lib.create_train_state(jax.random.PRNGKey(key), objective.tables(V), D, tx, noise)
  params = {name: scale * jax.random.normal(jax.random.PRNGKey(99 + i), t.shape)
            for i, (name, t) in enumerate(sorted(state.params.items()))}
  return state.replace(params=params)


def _window(centres, contexts, mask, **extra):
  batch = {"centres": jnp.asarray(centres, jnp.int32),
           "contexts": jnp.asarray(contexts, jnp.int32),
           "mask": jnp.asarray(mask, jnp.float32)}
  return batch | {k: jnp.asarray(v) for k, v in extra.items()}


def _np(state):
  return {k: np.asarray(v, np.float64).copy() for k, v in state.params.items()}


def _apply_outputs(h, outputs, lr):
  """word2vec.c's inner loop over (table, row, label): returns neu1e, updates the rows in place.

  f = h . out; g = (label - s(f)) * lr; neu1e += g * out; out += g * h (exact sigmoid, no clamp).
  """
  neu1e = np.zeros_like(h)
  updates = []
  for table, row, label in outputs:
    g = (label - _sig(h @ table[row])) * lr
    neu1e += g * table[row]
    updates.append((table, row, g * h))
  for table, row, u in updates:  # Distinct rows: the same as applying each at once.
    table[row] += u
  return neu1e


@pytest.mark.parametrize("mode", ["mean", "sum", "koan"])
def test_cbow_negative_sampling_equals_word2vec_rule(mode):
  lr = 0.1
  objective = objectives.word2vec(model="cbow", num_ns=K, cbow=mode)
  state = _state(objective, optax.sgd(lr))
  batch = _window([5], [[7, 9, 0, 11]], [[1, 1, 0, 1]], negatives=[[12, 13, 14]])
  new_state, metrics = _step(state, batch, tx=optax.sgd(lr), objective=objective)
  p = _np(state)
  ctx = [7, 9, 11]
  total = p["input"][ctx].sum(0)
  h = total / 3 if mode in ("mean", "koan") else total
  outs = [(p["output"], 5, 1.0)] + [(p["output"], n, 0.0) for n in (12, 13, 14)]
  expected_loss = -np.log(_sig(h @ p["output"][5])) - sum(
      np.log(_sig(-h @ p["output"][n])) for n in (12, 13, 14))
  neu1e = _apply_outputs(h, outs, lr)
  # word2vec.c adds neu1e to every context row; gensim's sum and koan's mean divide it by 3.
  for c in ctx:
    p["input"][c] += neu1e if mode == "mean" else neu1e / 3
  for name in ("input", "output"):
    np.testing.assert_allclose(new_state.params[name], p[name], rtol=1e-5, atol=1e-7)
  assert float(metrics["loss"]) == pytest.approx(expected_loss, rel=1e-5)
  assert float(metrics["count"]) == 1.0


def _path(points, codes, length):
  pad = L - length
  return ([points + [V - 1] * pad], [codes + [0] * pad], [[1.0] * length + [0.0] * pad])


L = 4


@pytest.mark.parametrize("model_name", ["skipgram", "cbow"])
def test_hierarchical_softmax_equals_word2vec_per_node_rule(model_name):
  lr = 0.2
  objective = objectives.word2vec(model=model_name, num_ns=0, hs=True)
  state = _state(objective, optax.sgd(lr))
  # The centre's path: nodes 38 (root), 4, 17 with codes 1, 0, 1; label = 1 - code.
  points, codes, path_mask = _path([38, 4, 17], [1, 0, 1], 3)
  contexts = [[6, 0]] if model_name == "skipgram" else [[6, 8]]
  mask = [[1, 0]] if model_name == "skipgram" else [[1, 1]]
  batch = _window([3], contexts, mask, points=points, codes=np.float32(codes),
                  path_mask=np.float32(path_mask))
  new_state, metrics = _step(state, batch, tx=optax.sgd(lr), objective=objective)
  p = _np(state)
  ctx = [6] if model_name == "skipgram" else [6, 8]
  h = p["input"][ctx].mean(0)
  nodes = [(p["tree"], n, 1.0 - c) for n, c in zip([38, 4, 17], [1, 0, 1])]
  expected_loss = -sum(np.log(_sig((1 - 2 * c) * (h @ p["tree"][n])))
                       for n, c in zip([38, 4, 17], [1, 0, 1]))
  neu1e = _apply_outputs(h, nodes, lr)
  for c in ctx:
    p["input"][c] += neu1e
  for name in ("input", "tree"):
    np.testing.assert_allclose(new_state.params[name], p[name], rtol=1e-5, atol=1e-7)
  assert float(metrics["loss"]) == pytest.approx(expected_loss, rel=1e-5)
  assert "output" not in new_state.params  # num_ns 0: no output table at all.


def test_ns_and_hs_both_train_and_add_into_the_input_error():
  lr = 0.1
  objective = objectives.word2vec(model="cbow", num_ns=2, hs=True)
  state = _state(objective, optax.sgd(lr))
  points, codes, path_mask = _path([38, 2], [0, 1], 2)
  batch = _window([5], [[7, 9]], [[1, 1]], negatives=[[12, 13]], points=points,
                  codes=np.float32(codes), path_mask=np.float32(path_mask))
  new_state, _ = _step(state, batch, tx=optax.sgd(lr), objective=objective)
  p = _np(state)
  h = p["input"][[7, 9]].mean(0)
  neu1e = _apply_outputs(h, [(p["tree"], 38, 1.0), (p["tree"], 2, 0.0)], lr)
  neu1e += _apply_outputs(h, [(p["output"], 5, 1.0), (p["output"], 12, 0.0),
                              (p["output"], 13, 0.0)], lr)
  p["input"][[7, 9]] += neu1e
  for name in ("input", "output", "tree"):
    np.testing.assert_allclose(new_state.params[name], p[name], rtol=1e-5, atol=1e-7)


def test_a_window_with_one_context_is_the_per_pair_update():
  """(target t, context c) pairs as one-slot windows: t's input row against c's outputs."""
  lr = 0.1
  objective = objectives.word2vec(num_ns=K)
  state = _state(objective, optax.sgd(lr))
  targets, contexts = [3, 7, 3], [5, 9, 3]
  negs = np.array([[1, 2, 5], [4, 9, 6], [8, 10, 11]])
  batch = _window(contexts, np.array(targets)[:, None], np.ones((3, 1)), negatives=negs)
  new_state, metrics = _step(state, batch, tx=optax.sgd(lr), objective=objective)
  p, q = _np(state), _np(state)
  total = 0.0
  for t, c, ns in zip(targets, contexts, negs):
    # A negative equal to the positive is skipped (word2vec.c, gensim).
    outs = [(q["output"], c, 1.0)] + [(q["output"], n, 0.0) for n in ns if n != c]
    total += -sum(np.log(_sig((2 * lab - 1) * (p["input"][t] @ p["output"][r])))
                  for _, r, lab in outs)
    # Gradients of every pair at the same point (minibatch): deltas from p, applied to q.
    for _, r, lab in outs:
      g = (lab - _sig(p["input"][t] @ p["output"][r])) * lr
      q["input"][t] += g * p["output"][r]
      q["output"][r] += g * p["input"][t]
  for name in ("input", "output"):
    np.testing.assert_allclose(new_state.params[name], q[name], rtol=1e-5, atol=1e-7)
  assert float(metrics["loss"]) == pytest.approx(total / 3, rel=1e-5)


@pytest.mark.parametrize("negatives_per", ["window", "pair"])
def test_skipgram_window_equals_its_pairs_at_one_point(negatives_per):
  """A window's update is the sum of its pairs' gradients (HogBatch), negatives per window or pair."""
  lr = 0.1
  objective = objectives.word2vec(num_ns=2, negatives_per=negatives_per)
  state = _state(objective, optax.sgd(lr))
  ctx, mask = [6, 7, 0, 8], [1, 1, 0, 1]
  negs = [[20, 21]] if negatives_per == "window" else [[[20, 21], [22, 23], [1, 2], [24, 20]]]
  batch = _window([4], [ctx], [mask], negatives=negs)
  new_state, metrics = _step(state, batch, tx=optax.sgd(lr), objective=objective)
  p, q = _np(state), _np(state)
  for s, (c, m) in enumerate(zip(ctx, mask)):
    if not m:
      continue
    ns = negs[0] if negatives_per == "window" else negs[0][s]
    for r, lab in [(4, 1.0)] + [(n, 0.0) for n in ns]:
      g = (lab - _sig(p["input"][c] @ p["output"][r])) * lr
      q["input"][c] += g * p["output"][r]
      q["output"][r] += g * p["input"][c]
  for name in ("input", "output"):
    np.testing.assert_allclose(new_state.params[name], q[name], rtol=1e-5, atol=1e-7)
  assert float(metrics["count"]) == 3.0


def _random_batch(objective, rng, b=4, s=4):
  mask = (rng.random((b, s)) < 0.6).astype(np.float32)
  mask[:, 0] = 1.0
  mask[-1] = 0.0  # A padded example.
  batch = dict(centres=rng.integers(0, 20, b), contexts=rng.integers(0, 20, (b, s)), mask=mask)
  draws = objective.needs().negatives
  if draws is not None:
    batch["negatives"] = rng.integers(0, 20, draws.shape(b, s))
  if objective.needs().paths:
    lengths = rng.integers(1, L + 1, b)
    batch["path_mask"] = (np.arange(L)[None, :] < lengths[:, None]).astype(np.float32)
    batch["points"] = rng.integers(0, 20, (b, L))
    batch["codes"] = rng.integers(0, 2, (b, L)).astype(np.float32)
  return {k: jnp.asarray(v) for k, v in batch.items()}


def _touched(objective, batch):
  """Rows each table's update may change, from the objective's own row ids."""
  out = {}
  for rows in objective.rows(batch).values():
    ids = np.asarray(rows.ids).ravel()
    out.setdefault(rows.table, set()).update(ids[ids >= 0].tolist())
  return out


COMBOS = [("skipgram", 3, False), ("skipgram", 0, True), ("skipgram", 2, True),
          ("cbow", 3, False), ("cbow", 0, True), ("cbow", 2, True)]


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adagrad"])
@pytest.mark.parametrize("model_name,num_ns,hs", COMBOS)
def test_rows_outside_the_batch_are_bit_for_bit_unchanged(model_name, num_ns, hs, optimizer):
  tx = step_lib.make_optimizer(optimizer, 0.05, total_steps=10)
  objective = objectives.word2vec(model=model_name, num_ns=num_ns, hs=hs)
  state = _state(objective, tx)
  batch = _random_batch(objective, np.random.default_rng(1))
  before = jax.tree_util.tree_map(np.asarray, state)
  after, _ = _step(state, batch, tx=tx, objective=objective)
  for table, touched in _touched(objective, batch).items():
    rows = before.params[table].shape[0]
    untouched = np.array(sorted(set(range(rows)) - touched))
    np.testing.assert_array_equal(np.asarray(after.params[table])[untouched],
                                  before.params[table][untouched])
    changed = np.array(sorted(touched))
    assert not np.allclose(np.asarray(after.params[table])[changed],
                           before.params[table][changed])
    for leaf_before, leaf_after in zip(jax.tree_util.tree_leaves(before.opt_state[table]),
                                       jax.tree_util.tree_leaves(after.opt_state[table])):
      if np.shape(leaf_before) == before.params[table].shape:
        np.testing.assert_array_equal(np.asarray(leaf_after)[untouched], leaf_before[untouched])


def test_lazy_adam_with_duplicate_rows_equals_dense_adam_on_summed_gradients():
  tx = optax.adam(0.01)
  objective = objectives.word2vec(num_ns=K)
  state = _state(objective, tx)
  batch = _window([3, 3, 4], [[1, 1], [1, 0], [2, 5]], [[1, 1], [1, 0], [1, 1]],
                  negatives=[[6, 7, 3], [6, 8, 9], [7, 7, 1]])
  new_state, _ = _step(state, batch, tx=tx, objective=objective)
  slots = objective.rows(batch)

  def dense_loss(params):
    vectors = {n: params[r.table].at[jnp.where(r.ids < 0, V, r.ids)].get(
        mode="fill", fill_value=0) for n, r in slots.items()}
    return jax.vmap(objective.loss)(vectors, batch)[0].sum()

  grads = jax.grad(dense_loss)(state.params)
  for table, touched in _touched(objective, batch).items():
    updates, _ = tx.update(grads[table], tx.init(state.params[table]), state.params[table])
    rows = np.array(sorted(touched))
    np.testing.assert_allclose(new_state.params[table][rows],
                               (state.params[table] + updates)[rows], rtol=1e-5, atol=1e-7)


def test_scan_of_steps_equals_repeated_steps():
  tx = optax.sgd(0.05)
  objective = objectives.word2vec(num_ns=K)
  rng = np.random.default_rng(0)
  batches = [_random_batch(objective, rng) for _ in range(4)]
  stacked = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *batches)
  scanned, metrics = step_lib.train_steps(_state(objective, tx), stacked, tx=tx,
                                          objective=objective)
  state = _state(objective, tx)
  for i, batch in enumerate(batches):
    state, m = _step(state, batch, tx=tx, objective=objective)
    assert float(m["loss"]) == pytest.approx(float(metrics["loss"][i]), rel=1e-6)
  np.testing.assert_allclose(scanned.params["input"], state.params["input"], rtol=1e-6)


def test_negatives_drawn_in_the_step_come_from_the_noise_table():
  objective = objectives.word2vec(num_ns=K)
  tx = optax.sgd(0.1)
  state = _state(objective, tx)
  batch = _window(np.zeros(500), np.ones((500, 1)), np.ones((500, 1)))
  drawn = objective.sample(jax.random.PRNGKey(3), state, batch)["negatives"]
  assert drawn.shape == (500, K)
  # counts V..1: id 0 is the most frequent; every id < V.
  ids, freq = np.unique(np.asarray(drawn), return_counts=True)
  assert ids.max() < V and ids[np.argmax(freq)] < 5


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


def test_tables_follow_word2vec_init():
  objective = objectives.word2vec(num_ns=K, hs=True)
  state = step_lib.create_train_state(jax.random.PRNGKey(0), objective.tables(V), D,
                                      optax.sgd(0.1))
  assert state.params["input"].shape == (V, D) and state.params["tree"].shape == (V - 1, D)
  assert float(jnp.abs(state.params["input"]).max()) <= 0.5 / D
  assert not jnp.any(state.params["output"]) and not jnp.any(state.params["tree"])


def test_pinned_loss_after_two_steps():
  # If you did not mean to change the numerics (init, loss, update), this is a bug.
  tx = step_lib.make_optimizer("sgd", 0.5, total_steps=100)
  objective = objectives.word2vec(num_ns=K)
  state = step_lib.create_train_state(jax.random.PRNGKey(0), objective.tables(V), D, tx)
  batch = _window(np.arange(6), np.stack([np.arange(6) + 1, np.arange(6) + 2], 1) % V,
                  np.ones((6, 2)), negatives=(np.arange(18).reshape(6, 3) * 7) % V)
  state, first = _step(state, batch, tx=tx, objective=objective)
  # The output table starts at zero, so every first-step logit is 0: log 2 per term.
  valid = np.sum((np.arange(18).reshape(6, 3) * 7) % V != np.arange(6)[:, None])
  assert float(first["loss"]) * 12 == pytest.approx(np.log(2) * (12 + 2 * valid), rel=1e-6)
  _, second = _step(state, batch, tx=tx, objective=objective)
  assert float(second["loss"]) == pytest.approx(PINNED_SECOND_LOSS, rel=1e-5)


PINNED_SECOND_LOSS = 2.421599864959717


def test_shared_pool_step_updates_pool_rows_with_summed_weighted_gradients():
  lr, pool_size = 0.1, 4
  objective = objectives.word2vec(num_ns=2, shared_negatives=pool_size)
  state = _state(objective, optax.sgd(lr))
  batch = _window([5, 9], [[3], [7]], np.ones((2, 1)), negatives=[11, 12, 13, 5])
  new_state, _ = _step(state, batch, tx=optax.sgd(lr), objective=objective)
  p, q = _np(state), _np(state)
  weight = 2 / pool_size
  for w, pos in ((3, 5), (7, 9)):
    g = _sig(p["input"][w] @ p["output"][pos]) - 1
    q["input"][w] -= lr * g * p["output"][pos]
    q["output"][pos] -= lr * g * p["input"][w]
    for n in (11, 12, 13, 5):
      if n == pos:  # A negative equal to the positive is skipped.
        continue
      g = weight * _sig(p["input"][w] @ p["output"][n])
      q["input"][w] -= lr * g * p["output"][n]
      q["output"][n] -= lr * g * p["input"][w]
  for name in ("input", "output"):
    np.testing.assert_allclose(new_state.params[name], q[name], rtol=1e-5, atol=1e-6)


def test_softmax_loss_is_cross_entropy_of_the_positive():
  h = jnp.array([[1.0, 0.0]])
  outputs = jnp.array([[2.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
  value, first = losses.sampled_loss(h, jnp.ones(1), outputs, jnp.ones(3), "softmax")
  assert float(value) == pytest.approx(-(2.0 - np.log(np.exp(2) + np.exp(1) + 1)), rel=1e-6)
  assert float(first) == 1.0


def test_step_jits_with_donation():
  tx = optax.sgd(0.1)
  objective = objectives.word2vec(model="cbow", num_ns=2, hs=True)
  step = jax.jit(functools.partial(step_lib.train_step, tx=tx, objective=objective),
                 donate_argnums=0)
  state, metrics = step(_state(objective, tx), _random_batch(objective, np.random.default_rng(0)))
  assert np.isfinite(float(metrics["loss"])) and int(state.step) == 1
