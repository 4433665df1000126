"""The fused kernel against its rules in NumPy, against the generic step, and by hand."""

import functools
import math
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from tests import fused_reference as ref
from w2v_jax import data, fused, huffman, native, negatives, objectives
from w2v_jax import step as step_lib
from w2v_jax import subwords as subwords_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
V, D, LR = 30, 6, 0.05
# Row sizes every rule is checked at: a generic loop's (6, 37), and ones compiled for their size.
DIMS = (6, 37, 64, 100, 300)
WORDS = [f"w{i:02d}{'x' * (i % 4)}" for i in range(V)]  # n-grams shared between some words.
BUCKET = 23


def _kernel_fn(kernel, tx):
  return jax.jit(functools.partial(fused.train_step, kernel=kernel, tx=tx), donate_argnums=0)


def _lookups(kernel, keep=True, subwords=False, counts=None):
  counts = np.arange(V, 0, -1) * 7 if counts is None else np.asarray(counts)
  noise = negatives.build_alias_table(negatives.unigram_probs(counts))
  return fused.make_lookups(
      keep=np.linspace(0.55, 1.0, len(counts)).astype(np.float32) if keep else None,
      noise=noise if kernel.rule.num_ns else None,
      tree=huffman.build_huffman(counts) if kernel.rule.hs else None,
      subwords=subwords_lib.subwords(WORDS[:len(counts)], 2, 3, BUCKET) if subwords else None)


def _state(kernel, subwords=False, seed=0, rows=V, dim=D, lr=LR):
  """Every table random, so that every term of every update shows; made in NumPy, as
  step.create_train_state would jit one initialiser per table shape."""
  tx = optax.sgd(lr)
  tables = _generic(kernel, subwords).tables(rows)
  params = {name: jnp.asarray(0.3 * np.random.default_rng(seed + 7 + i).standard_normal(
      (n, dim)), jnp.float32) for i, (name, n) in enumerate(sorted(tables.items()))}
  key = jax.random.split(jax.random.PRNGKey(seed))[1]  # As create_train_state's.
  state = step_lib.TrainState(jnp.zeros((), jnp.int32), params,
                              {name: tx.init(t) for name, t in params.items()}, key, None)
  return state, tx


def _tokens(seed=0, n=60, vocab=V):
  rng = np.random.default_rng(seed)
  tokens = rng.integers(0, vocab, n).astype(np.int32)
  tokens[rng.random(n) < 0.12] = -1  # Sentence ends.
  tokens[-5:] = -1  # Padding.
  return tokens


def _key(state):
  return tuple(int(x) for x in np.asarray(state.key))


KERNELS = {
    "sg-ns-window": dict(),
    "sg-ns-pair": dict(per_pair=True),
    "sg-hs-window": dict(hs=True, num_ns=0),
    "sg-hs-pair": dict(hs=True, num_ns=0, per_pair=True),
    "sg-ns+hs-window": dict(hs=True, num_ns=3),
    "sg-ns+hs-pair": dict(hs=True, num_ns=3, per_pair=True),
    "cbow-mean": dict(model="cbow"),
    "cbow-sum": dict(model="cbow", cbow="sum"),
    "cbow-koan": dict(model="cbow", cbow="koan"),
    "cbow-hs": dict(model="cbow", hs=True, num_ns=0),
    "cbow-ns+hs": dict(model="cbow", hs=True, num_ns=2),
    "cbow-mean-pair": dict(model="cbow", per_pair=True),
    "cbow-koan-pair": dict(model="cbow", cbow="koan", per_pair=True),
    "cbow-ns+hs-pair": dict(model="cbow", hs=True, num_ns=2, per_pair=True),
    "sg-centre-window": dict(skipgram_input="centre", window_draws=7),
    "sg-centre-pair": dict(skipgram_input="centre", per_pair=True),
    "sg-fixed-window": dict(dynamic_window=False, window=2),
}
SUBWORD_KERNELS = {
    "sub-sg-centre-window": dict(skipgram_input="centre", window_draws=6),
    "sub-sg-centre-pair": dict(skipgram_input="centre", per_pair=True, num_ns=3),
    "sub-sg-context-window": dict(),
    "sub-sg-context-pair": dict(per_pair=True),
    "sub-sg-context-hs-pair": dict(hs=True, num_ns=0, per_pair=True),
    "sub-sg-context-ns+hs-pair": dict(hs=True, num_ns=2, per_pair=True),
    "sub-cbow": dict(model="cbow"),
    "sub-cbow-hs": dict(model="cbow", hs=True, num_ns=0),
    "sub-cbow-ns+hs-pair": dict(model="cbow", hs=True, num_ns=2, per_pair=True),
}


def _check_against_reference(settings, subwords, keep=True, steps=2, dim=D, tokens=None,
                             vocab=V, threads=1):
  """The kernel against its NumPy loop, `steps` steps (of `tokens`, else random sentences).

  Tables within rtol 2e-5 and atol 2e-6 * sqrt(D / 6) of the float64 loop: a logit's float32
  rounding grows as the square root of its D terms, and the rows an update is made of (an
  n-gram row shared by many words takes dozens) carry it on.
  """
  kernel = fused.Kernel.of(**{"window": 3, "threads": threads, **settings})
  state, tx = _state(kernel, subwords, rows=vocab, dim=dim)
  lookups = _lookups(kernel, keep, subwords, counts=np.arange(vocab, 0, -1) * 7)
  fn = _kernel_fn(kernel, tx)
  tables = {k: np.asarray(v) for k, v in state.params.items()}
  for s in range(steps):  # A second step: the step counter keys the draws.
    step_tokens = _tokens(seed=s, vocab=vocab) if tokens is None else tokens
    expected = ref.Reference(kernel, tables, lookups, LR, _key(state), s).run(step_tokens)
    state, metrics = fn(state, {"tokens": step_tokens}, lookups)
    for name, table in expected.t.items():
      np.testing.assert_allclose(np.asarray(state.params[name]), table, rtol=2e-5,
                                 atol=2e-6 * max(1.0, math.sqrt(dim / D)),
                                 err_msg=f"{name} after step {s}")
    loss, correct, count, pairs = expected.metrics
    assert float(metrics["count"]) == count
    count = max(count, 1)
    assert float(metrics["pairs"] * max(metrics["count"], 1)) == pytest.approx(pairs, rel=1e-6)
    assert float(metrics["loss"]) == pytest.approx(loss / count, rel=1e-5)
    # Within one prediction: a logit within rounding of 0 may score either way.
    assert float(metrics["accuracy"]) == pytest.approx(correct / count, abs=1 / count)
    tables = expected.t
  assert int(state.step) == steps
  return state


@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("name", KERNELS)
def test_each_kernel_equals_its_rule_in_numpy(name, dim):
  _check_against_reference(KERNELS[name], subwords=False, dim=dim)


@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("name", SUBWORD_KERNELS)
def test_each_subword_kernel_equals_its_rule_in_numpy(name, dim):
  _check_against_reference(SUBWORD_KERNELS[name], subwords=True, dim=dim)


def test_without_subsampling_every_token_is_a_centre():
  _check_against_reference({}, subwords=False, keep=False, steps=1)


EDGE_RULES = ["sg-ns-window", "sg-ns-pair", "cbow-ns+hs", "cbow-mean-pair", "sg-centre-window",
              "sg-centre-pair"]


@pytest.mark.parametrize("name", EDGE_RULES)
def test_an_empty_block_changes_nothing(name):
  kernel = fused.Kernel.of(window=3, **KERNELS[name])
  state, tx = _state(kernel)
  before = {k: np.asarray(v).copy() for k, v in state.params.items()}
  out, metrics = _kernel_fn(kernel, tx)(state, {"tokens": np.full(16, -1, np.int32)},
                                        _lookups(kernel))
  for table, values in before.items():
    np.testing.assert_array_equal(np.asarray(out.params[table]), values)
  assert {k: float(v) for k, v in metrics.items()} == {
      "loss": 0.0, "accuracy": 0.0, "count": 0.0, "pairs": 0.0}


@pytest.mark.parametrize("name", [n for n in EDGE_RULES if not KERNELS[n].get("hs")])
def test_a_one_word_vocabulary(name):
  """V = 1: every negative is the target itself, skipped (word2vec.c) or redrawn up to
  kMaxDraws times and then left out (fastText); only the positive trains."""
  tokens = np.array([0, 0, 0, -1, 0, 0, 0, 0, 0, -1, 0, -1], np.int32)
  state = _check_against_reference(KERNELS[name], subwords=False, keep=False, steps=1,
                                   tokens=tokens, vocab=1)
  assert np.isfinite(np.asarray(state.params["input"])).all()


@pytest.mark.parametrize("name", ["sg-ns-pair", "cbow-ns+hs", "sg-centre-window"])
def test_a_sentence_longer_than_a_chunk(name):
  """One sentence filling the whole step (no -1 at all): against the NumPy loop, and at two
  threads the same bits (a chunk ends only where a sentence does, so there is one)."""
  tokens = np.random.default_rng(6).integers(0, V, 120).astype(np.int32)
  one = _check_against_reference(KERNELS[name], subwords=False, steps=1, tokens=tokens)
  two = _check_against_reference(KERNELS[name], subwords=False, steps=1, tokens=tokens,
                                 threads=2)
  for table, values in one.params.items():
    np.testing.assert_array_equal(np.asarray(two.params[table]), np.asarray(values))


def _generic(kernel, subwords):
  rule = kernel.rule
  return objectives.word2vec(
      model=rule.model, num_ns=rule.num_ns, hs=rule.hs, cbow=rule.cbow, skipgram_input=rule.skipgram_input,
      window_negatives=rule.window_draws, bucket=BUCKET if subwords else 0, minn=2, maxn=3)


def _generic_batch(kernel, lookups, windows, subwords):
  """The generic step's batch of `windows` (from the reference): the same slots and draws."""
  slots = 2 * kernel.window
  b = len(windows)
  batch = {"centres": np.zeros(b, np.int32), "contexts": np.zeros((b, slots), np.int32),
           "mask": np.zeros((b, slots), np.float32)}
  rule = kernel.rule
  draws = rule.window_draws if rule.centre_input else rule.num_ns
  if draws:
    batch["negatives"] = np.zeros((b, draws), np.int32)
  for i, (centre, ctx, base) in enumerate(windows):
    batch["centres"][i] = centre
    for w, slot in ctx:
      batch["contexts"][i, slot], batch["mask"][i, slot] = w, 1.0
    for k in range(draws):
      batch["negatives"][i, k] = ref.negative(base, k, lookups.noise.prob, lookups.noise.alias)
  steps = {k: v[None] for k, v in batch.items()}
  tree = None
  if rule.hs:
    tree = huffman.HuffmanTree(lookups.points, lookups.codes, lookups.lengths)
  table = None
  if subwords:
    table = subwords_lib.Subwords(np.asarray(lookups.ngram_offsets), lookups.ngram_ids, BUCKET)
  data.Outputs(tree=tree, subwords=table, centre_inputs=rule.centre_input).add(steps, [0])
  return {k: jnp.asarray(v[0]) for k, v in steps.items()}


GENERIC = {"sg-ns-window": KERNELS["sg-ns-window"], "sg-hs-window": KERNELS["sg-hs-window"],
           "sg-ns+hs-window": KERNELS["sg-ns+hs-window"], "cbow-mean": KERNELS["cbow-mean"],
           "cbow-sum": KERNELS["cbow-sum"], "cbow-koan": KERNELS["cbow-koan"],
           "cbow-ns+hs": KERNELS["cbow-ns+hs"], "sg-centre-window": KERNELS["sg-centre-window"],
           "sub-sg-centre-window": SUBWORD_KERNELS["sub-sg-centre-window"],
           "sub-cbow": SUBWORD_KERNELS["sub-cbow"]}


@pytest.mark.parametrize("name", GENERIC)
def test_per_window_kernel_is_the_generic_step_window_by_window(name):
  """A per-window rule is the generic step's SGD update of each window in turn."""
  subwords = name.startswith("sub-")
  kernel = fused.Kernel.of(window=3, **GENERIC[name])
  state, tx = _state(kernel, subwords)
  lookups = _lookups(kernel, subwords=subwords)
  tokens = _tokens(seed=3, n=40)
  windows = ref.Reference(kernel, {}, lookups, LR, _key(state), 0).all_windows(tokens)
  objective = _generic(kernel, subwords)
  step = jax.jit(functools.partial(step_lib.train_step, tx=tx, objective=objective))
  generic = state
  for window in windows:
    generic, _ = step(generic, _generic_batch(kernel, lookups, [window], subwords))
  fused_state, metrics = _kernel_fn(kernel, tx)(state, {"tokens": tokens}, lookups)
  for name_, table in generic.params.items():
    np.testing.assert_allclose(np.asarray(fused_state.params[name_]), np.asarray(table),
                               rtol=2e-5, atol=2e-6)
  assert float(metrics["count"]) > 0


def _disjoint_case(kernel, draws):
  """Sentences of two words each (window 1: two windows), negatives from ids 100-199 only, and
  a key whose draws never repeat a row: no two windows touch the same row."""
  counts = np.concatenate([np.zeros(100, np.int64), np.full(100, 5)])
  lookups = _lookups(kernel, keep=False, counts=counts)
  tokens = np.array([0, 1, -1, 2, 3, -1, 4, 5, -1, -1], np.int32)
  for seed in range(200):
    state, tx = _state(kernel, seed=seed, rows=200)
    windows = ref.Reference(kernel, {}, lookups, LR, _key(state), 0).all_windows(tokens)
    negs = [ref.negative(base, k, lookups.noise.prob, lookups.noise.alias)
            for _, _, base in windows for k in range(draws)]
    if len(set(negs)) == len(negs):
      return state, tx, lookups, tokens, windows
  raise AssertionError("no key with distinct negatives")


@pytest.mark.parametrize("settings", [dict(), dict(model="cbow"),
                                      dict(model="cbow", per_pair=True),
                                      dict(skipgram_input="centre", window_draws=3)])
def test_windows_touching_disjoint_rows_equal_one_generic_batch(settings):
  """Also CBOW as it goes (word2vec.c's): with no row an output twice in a window, updating
  outputs as they go is the per-window update, so it too is the generic step's."""
  kernel = fused.Kernel.of(window=1, num_ns=3, **settings)
  draws = kernel.rule.window_draws if kernel.rule.centre_input else kernel.rule.num_ns
  state, tx, lookups, tokens, windows = _disjoint_case(kernel, draws)
  assert len(windows) == 6
  objective = _generic(kernel, False)
  batch = _generic_batch(kernel, lookups, windows, False)
  generic, _ = jax.jit(functools.partial(step_lib.train_step, tx=tx, objective=objective))(
      state, batch)
  fused_state, _ = _kernel_fn(kernel, tx)(state, {"tokens": tokens}, lookups)
  for name, table in generic.params.items():
    np.testing.assert_allclose(np.asarray(fused_state.params[name]), np.asarray(table),
                               rtol=2e-5, atol=2e-6)


def _sig(x):
  return 1 / (1 + math.exp(-x))


def test_one_sentence_by_hand_against_word2vec_c():
  """word2vec.c's skip-gram loop, literally, on "a b" (window 1, one negative, always n)."""
  kernel = fused.Kernel.of(window=1, dynamic_window=False, num_ns=1, per_pair=True)
  counts = np.array([0, 0, 5, 0])  # Only word 2 is ever a negative.
  lookups = _lookups(kernel, keep=False, counts=counts)
  tx = optax.sgd(0.1)
  state = step_lib.create_train_state(jax.random.PRNGKey(0), _generic(kernel, False).tables(4),
                                      2, tx)
  syn0 = np.array([[0.1, -0.2], [0.3, 0.4], [0.0, 0.0], [0.0, 0.0]])
  syn1neg = np.array([[0.5, 0.1], [-0.3, 0.2], [0.2, -0.6], [0.0, 0.0]])
  state = state.replace(params={"input": jnp.asarray(syn0, jnp.float32),
                                "output": jnp.asarray(syn1neg, jnp.float32)})
  out, metrics = _kernel_fn(kernel, tx)(state, {"tokens": np.array([0, 1, -1], np.int32)},
                                        lookups)
  alpha, n = 0.1, 2
  for word, last_word in [(0, 1), (1, 0)]:  # Centre `word`, its one context `last_word`.
    l1 = last_word
    neu1e = np.zeros(2)
    for target, label in [(word, 1), (n, 0)]:
      f = syn0[l1] @ syn1neg[target]
      g = (label - _sig(f)) * alpha
      neu1e += g * syn1neg[target]
      syn1neg[target] += g * syn0[l1]
    syn0[l1] += neu1e
  np.testing.assert_allclose(np.asarray(out.params["input"]), syn0, rtol=1e-6)
  np.testing.assert_allclose(np.asarray(out.params["output"]), syn1neg, rtol=1e-6)
  assert float(metrics["count"]) == 2 and float(metrics["pairs"]) == 1


@pytest.mark.parametrize("per_pair", [False, True])
def test_skip_saturated_leaves_an_output_whose_logit_is_past_six_as_gensim_does(per_pair):
  """gensim's rule: an output whose |logit| >= 6 gets no update and gives its input none; its
  loss still counts. "a b" (window 1, one negative, always word 2), word 2's row saturated."""
  counts = np.array([0, 0, 5])
  syn0 = np.array([[1.0, 1.0], [0.5, -0.5], [0.0, 0.0]])
  syn1neg = np.array([[0.3, 0.1], [0.2, -0.1], [4.0, 4.0]])  # Logit with input 0: 8.
  tx = optax.sgd(0.1)
  runs = {}
  for skip in (False, True):
    kernel = fused.Kernel.of(window=1, dynamic_window=False, num_ns=1, per_pair=per_pair,
                             skip_saturated=skip)
    state = step_lib.create_train_state(jax.random.PRNGKey(0), _generic(kernel, False).tables(3),
                                        2, tx)
    state = state.replace(params={"input": jnp.asarray(syn0, jnp.float32),
                                  "output": jnp.asarray(syn1neg, jnp.float32)})
    runs[skip] = _kernel_fn(kernel, tx)(state, {"tokens": np.array([0, 1, -1], np.int32)},
                                        _lookups(kernel, keep=False, counts=counts))
  (plain, plain_m), (skipped, skipped_m) = runs[False], runs[True]
  # Pair (centre 1, input 0): word 2 scores 8 against input 0; pair (centre 0, input 1): 0.
  alpha = 0.1
  f_pos, f_neg = syn0[0] @ syn1neg[1], syn0[0] @ syn1neg[2]
  assert f_neg >= 6 and abs(syn0[1] @ syn1neg[2]) < 6
  g_pos = (1 - _sig(f_pos)) * alpha
  g_neg_other = (0 - _sig(syn0[1] @ syn1neg[2])) * alpha
  # Without the skip, input 0 is pushed away from word 2's row (-alpha * sigmoid(8) * row).
  assert not np.allclose(np.asarray(plain.params["input"])[0], syn0[0] + g_pos * syn1neg[1],
                         atol=1e-3)
  np.testing.assert_allclose(np.asarray(skipped.params["input"])[0],
                             syn0[0] + g_pos * syn1neg[1], rtol=1e-5)
  # Word 2's row moves only by the unsaturated pair's negative (input 1 before its update).
  np.testing.assert_allclose(np.asarray(skipped.params["output"])[2],
                             syn1neg[2] + g_neg_other * syn0[1], rtol=1e-5)
  # The loss counts every output either way.
  np.testing.assert_allclose(float(skipped_m["loss"]), float(plain_m["loss"]), rtol=1e-3)


def test_one_window_by_hand_against_fasttext():
  """fastText's skip-gram (centre as input, subwords) on "a b": per pair, the centre's input is
  the mean of its word row and its n-gram rows; every one of them gets the gradient unscaled."""
  kernel = fused.Kernel.of(window=1, dynamic_window=False, num_ns=1, per_pair=True, skipgram_input="centre")
  counts = np.array([0, 0, 5])  # Word 2 is the only negative.
  table = subwords_lib.Subwords(np.array([0, 2, 3, 3]), np.array([0, 1, 1]), 3)
  lookups = fused.make_lookups(
      noise=negatives.build_alias_table(negatives.unigram_probs(counts)), subwords=table)
  tx = optax.sgd(0.05)
  tables = objectives.word2vec(num_ns=1, skipgram_input="centre", bucket=3).tables(3)
  state = step_lib.create_train_state(jax.random.PRNGKey(0), tables, 2, tx)
  wi = {"input": np.array([[0.2, 0.1], [-0.1, 0.3], [0.0, 0.0]]),
        "ngrams": np.array([[0.4, -0.2], [0.1, 0.1], [0.0, 0.0]])}
  wo = np.array([[0.3, 0.2], [0.1, -0.4], [-0.2, 0.5]])
  state = state.replace(params={"input": jnp.asarray(wi["input"], jnp.float32),
                                "ngrams": jnp.asarray(wi["ngrams"], jnp.float32),
                                "output": jnp.asarray(wo, jnp.float32)})
  out, _ = _kernel_fn(kernel, tx)(state, {"tokens": np.array([0, 1, -1], np.int32)}, lookups)
  rows = {0: [("input", 0), ("ngrams", 0), ("ngrams", 1)], 1: [("input", 1), ("ngrams", 1)]}
  for centre, context in [(0, 1), (1, 0)]:  # Model::update(input = centre's rows, target).
    hidden = np.mean([wi[t][i] for t, i in rows[centre]], axis=0)
    grad = np.zeros(2)
    for target, label in [(context, 1.0), (2, 0.0)]:  # binaryLogistic, then the negative.
      score = _sig(hidden @ wo[target])
      alpha = 0.05 * (label - score)
      grad += alpha * wo[target]
      wo[target] += alpha * hidden
    for t, i in rows[centre]:
      wi[t][i] += grad
  for name in ("input", "ngrams"):
    np.testing.assert_allclose(np.asarray(out.params[name]), wi[name], rtol=1e-6)
  np.testing.assert_allclose(np.asarray(out.params["output"]), wo, rtol=1e-6)


def _hand_case(kernel, counts, dim=3, lr=0.1, seed=0):
  """A kernel's state of random float32 tables (V = len(counts), D = dim), the lookups with
  noise from `counts` alone, and the tables as float64 to redo the update by hand."""
  state, tx = _state(kernel, rows=len(counts), dim=dim, lr=lr, seed=seed)
  lookups = _lookups(kernel, keep=False, counts=counts)
  return state, tx, lookups, {k: np.asarray(v, np.float64) for k, v in state.params.items()}


def _w2v_outputs(h, syn1neg, outputs, alpha, in_turn=True):
  """word2vec.c's negative-sampling loop over (target, label): each row updated as it goes;
  returns neu1e. Not `in_turn`: every gradient from the rows as they were before the loop."""
  neu1e = np.zeros_like(h)
  before = syn1neg.copy()
  for target, label in outputs:
    row = syn1neg[target] if in_turn else before[target]
    g = (label - _sig(h @ row)) * alpha
    neu1e += g * row
    syn1neg[target] += g * h
  return neu1e


def test_a_negative_drawn_twice_by_hand_against_word2vec_c():
  """word2vec.c's skip-gram loop, literally, on "a b n" (window 1, K = 3, the noise word n
  alone): each pair's three draws are all n, the second and third scored against n's row as the
  draw before left it; centre n's own draws equal it and are skipped (no redraw)."""
  kernel = fused.Kernel.of(window=1, dynamic_window=False, num_ns=3, per_pair=True)
  state, tx, lookups, t = _hand_case(kernel, np.array([0, 0, 5]))
  out, metrics = _kernel_fn(kernel, tx)(state, {"tokens": np.array([0, 1, 2, -1], np.int32)},
                                        lookups)

  def word2vec_c(in_turn):
    syn0, syn1neg = t["input"].copy(), t["output"].copy()
    sentence, alpha, n = [0, 1, 2], 0.1, 2
    for pos, word in enumerate(sentence):
      for a in (pos - 1, pos + 1):  # The window's positions, in order.
        if not 0 <= a < len(sentence):
          continue
        l1 = sentence[a]
        outputs = [(word, 1)] + [(n, 0) for _ in range(3) if n != word]  # n == word: skipped.
        syn0[l1] += _w2v_outputs(syn0[l1].copy(), syn1neg, outputs, alpha, in_turn)
    return syn0, syn1neg

  syn0, syn1neg = word2vec_c(in_turn=True)
  np.testing.assert_allclose(np.asarray(out.params["input"]), syn0, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(np.asarray(out.params["output"]), syn1neg, rtol=1e-5, atol=1e-7)
  assert float(metrics["count"]) == 4
  # The repeats matter: with each pair's gradients from the rows before it, n's row is 4e-4
  # away (the tolerance above is ~5e-6).
  _, syn1neg_before = word2vec_c(in_turn=False)
  assert np.abs(syn1neg_before - syn1neg).max() > 1e-4


def test_cbow_as_it_goes_by_hand_against_word2vec_c():
  """word2vec.c's CBOW loop, literally (per_pair), on "a b n" (window 1, K = 3, n alone):
  the mean of the contexts' rows against the centre and n three times, each output row updated
  as it goes; every context row gets neu1e."""
  kernel = fused.Kernel.of(model="cbow", window=1, dynamic_window=False, num_ns=3,
                           per_pair=True)
  state, tx, lookups, t = _hand_case(kernel, np.array([0, 0, 5]))
  syn0, syn1neg = t["input"], t["output"]
  out, metrics = _kernel_fn(kernel, tx)(state, {"tokens": np.array([0, 1, 2, -1], np.int32)},
                                        lookups)
  sentence, alpha, n = [0, 1, 2], 0.1, 2
  for pos, word in enumerate(sentence):
    context = [sentence[a] for a in (pos - 1, pos + 1) if 0 <= a < len(sentence)]
    neu1 = sum(syn0[w] for w in context) / len(context)
    outputs = [(word, 1)] + [(n, 0) for _ in range(3) if n != word]
    neu1e = _w2v_outputs(neu1, syn1neg, outputs, alpha)
    for w in context:
      syn0[w] += neu1e
  np.testing.assert_allclose(np.asarray(out.params["input"]), syn0, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(np.asarray(out.params["output"]), syn1neg, rtol=1e-5, atol=1e-7)
  assert float(metrics["count"]) == 3


def test_a_negative_equal_to_its_target_is_redrawn_as_fasttext_does():
  """fastText's skip-gram (centre as input, K = 2) on "a b" with noise {a, b}: a draw equal to
  the pair's target is drawn again until it differs, so every negative is the other word (the
  centre), its row updated as it goes: for centre a, targets b, a, a."""
  kernel = fused.Kernel.of(window=1, dynamic_window=False, num_ns=2, per_pair=True,
                           skipgram_input="centre")
  tokens = np.array([0, 1, -1], np.int32)
  for seed in range(20):  # A key whose first draws hit a target: a redraw happens.
    state, tx, lookups, t = _hand_case(kernel, np.array([5, 5]), lr=0.05, seed=seed)
    windows = ref.Reference(kernel, {}, lookups, 0.05, _key(state), 0).all_windows(tokens)
    if any(ref.negative(base, slot * 2 + k, lookups.noise.prob, lookups.noise.alias) == w
           for _, ctx, base in windows for w, slot in ctx for k in range(2)):
      break
  else:
    raise AssertionError("no key draws a target")
  wi, wo = t["input"], t["output"]
  out, metrics = _kernel_fn(kernel, tx)(state, {"tokens": tokens}, lookups)
  for centre, context in [(0, 1), (1, 0)]:  # Model::update(input = centre, target = context).
    hidden = wi[centre].copy()
    grad = np.zeros_like(hidden)
    for target, label in [(context, 1.0), (centre, 0.0), (centre, 0.0)]:
      alpha = 0.05 * (label - _sig(hidden @ wo[target]))
      grad += alpha * wo[target]
      wo[target] += alpha * hidden
    wi[centre] += grad
  np.testing.assert_allclose(np.asarray(out.params["input"]), wi, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(np.asarray(out.params["output"]), wo, rtol=1e-5, atol=1e-7)
  assert float(metrics["count"]) == 2


@pytest.mark.parametrize("settings", [dict(), dict(model="cbow", hs=True, num_ns=2),
                                      dict(skipgram_input="centre", window_draws=4)])
def test_rows_outside_the_batch_are_bit_for_bit_unchanged(settings):
  kernel = fused.Kernel.of(**{"window": 3, **settings})
  rows = 200
  state, tx = _state(kernel, rows=rows)
  counts = np.concatenate([np.full(20, 9), np.zeros(rows - 20, np.int64)])  # Negatives < 20.
  lookups = _lookups(kernel, counts=counts)
  tokens = _tokens(seed=5, vocab=10)  # Words 0-9.
  before = {k: np.asarray(v).copy() for k, v in state.params.items()}
  out, _ = _kernel_fn(kernel, tx)(state, {"tokens": tokens}, lookups)
  touched = {"input": set(range(10)), "output": set(range(20)),
             "tree": {int(p) for w in range(10) for p in lookups.points[w, :lookups.lengths[w]]}
             if kernel.rule.hs else set()}
  for name, table in before.items():
    after = np.asarray(out.params[name])
    untouched = sorted(set(range(table.shape[0])) - touched[name])
    np.testing.assert_array_equal(after[untouched], table[untouched])
    assert not np.array_equal(after[sorted(touched[name])], table[sorted(touched[name])])


def test_one_thread_is_deterministic_and_threads_count_the_same_pairs():
  kernel = fused.Kernel.of(threads=1)
  tokens = np.tile(_tokens(seed=8, n=400), 8)
  lookups = _lookups(kernel)
  runs = []
  for threads in (1, 1, 2):
    k = fused.Kernel.of(threads=threads)
    state, tx = _state(k)
    out, metrics = _kernel_fn(k, tx)(state, {"tokens": tokens}, lookups)
    runs.append(({n: np.asarray(t) for n, t in out.params.items()},
                 {n: float(m) for n, m in metrics.items()}))
  (one, m1), (again, m2), (two, m3) = runs
  for name in one:
    np.testing.assert_array_equal(one[name], again[name])
    assert np.isfinite(two[name]).all()  # Hogwild: not equal to one thread's, but as trained.
  assert m1 == m2
  assert m3["count"] == m1["count"] and m3["pairs"] == pytest.approx(m1["pairs"], rel=1e-6)


def _planted_tokens(n=1800):
  """About 200 sentences of a planted corpus (400 words in 10 topics) as one step's ids."""
  from conftest import planted_corpus  # pylint: disable=import-outside-toplevel

  lines = planted_corpus(num_topics=10, words_per_topic=40)
  vocab = {w: i for i, w in enumerate(sorted({w for line in lines for w in line.split()}))}
  ids = [i for line in lines for i in [vocab[w] for w in line.split()] + [-1]]
  tokens = np.array(ids[:n], np.int32)
  tokens[-1] = -1
  return tokens, len(vocab)


def _rows_off(table, want, start):
  """The share of the rows `want` changed whose change `table` misses by over a quarter."""
  change = np.linalg.norm(want - start, axis=1)
  miss = np.linalg.norm(table - want, axis=1)
  return float(np.mean(miss[change > 0] > 0.25 * change[change > 0]))


@pytest.mark.parametrize("name", ["sg-ns-window", "sg-ns-pair", "sg-hs-window", "cbow-mean",
                                  "cbow-mean-pair", "sg-centre-window", "sg-centre-pair"])
def test_two_threads_train_the_values_one_thread_does(name):
  """Hogwild at two threads against one, one step of a planted corpus (lr 2.5e-3, D 64): at
  most 3% of each table's rows miss one thread's change by over a quarter (measured at most
  0.3%, one row, in 20 runs: the windows' order as the threads take their chunks, and now and
  then a hot row's updates lost to the other thread), where leaving out the last 112 tokens
  (one of the 16 chunks) puts over 10% of them off (measured 11.6-95%). Counts equal, the loss
  within 1%."""
  tokens, vocab = _planted_tokens()
  counts = np.bincount(tokens[tokens >= 0], minlength=vocab)
  cut = np.where(np.arange(len(tokens)) < len(tokens) - len(tokens) // 16, tokens, -1)
  runs = []
  for threads, step_tokens in [(1, tokens), (2, tokens), (1, cut)]:
    kernel = fused.Kernel.of(threads=threads, **KERNELS[name])
    state, tx = _state(kernel, rows=vocab, dim=64, lr=2.5e-3)
    before = {k: np.asarray(v).copy() for k, v in state.params.items()}
    out, metrics = _kernel_fn(kernel, tx)(state, {"tokens": step_tokens}, _lookups(
        kernel, keep=False, counts=counts))
    runs.append(({k: np.asarray(v) for k, v in out.params.items()},
                 {k: float(v) for k, v in metrics.items()}))
  (one, m1), (two, m2), (short, _) = runs
  for table, start in before.items():
    assert _rows_off(two[table], one[table], start) <= 0.03, table
    assert _rows_off(short[table], one[table], start) > 0.1, table
  assert (m2["count"], m2["pairs"]) == (m1["count"], m1["pairs"])
  assert m2["loss"] == pytest.approx(m1["loss"], rel=0.01)


def test_learning_rate_follows_the_schedule_and_advances_like_the_generic_step():
  schedule = optax.linear_schedule(0.025, 0.0025, 10)
  tx = optax.sgd(schedule)
  tables = {"input": jnp.zeros((3, 2)), "output": jnp.zeros((3, 2))}
  opt_state = {name: tx.init(t) for name, t in tables.items()}
  for step in range(4):
    lr, opt_state = fused.learning_rate(tx, opt_state)
    assert float(lr) == pytest.approx(float(schedule(step)), rel=1e-6)
  generic = {name: tx.init(t) for name, t in tables.items()}
  for _ in range(4):
    generic = {n: tx.update(jnp.zeros((1, 2)), s)[1] for n, s in generic.items()}
  assert jax.tree_util.tree_all(jax.tree_util.tree_map(
      lambda a, b: bool(np.array_equal(a, b)), opt_state, generic))


def test_bad_token_ids_are_an_error_not_a_wild_write():
  kernel = fused.Kernel.of()
  state, tx = _state(kernel)
  with pytest.raises(Exception, match="token id 30 >= V"):
    jax.block_until_ready(_kernel_fn(kernel, tx)(
        state, {"tokens": np.array([1, 30, -1], np.int32)}, _lookups(kernel)))


@pytest.mark.slow
def test_kernel_library_is_cached_by_source(tmp_path, monkeypatch):
  monkeypatch.setenv("W2V_JAX_CACHE", str(tmp_path))
  assert native.cache_dir() == str(tmp_path / "kernels")
  source = tmp_path / "word2vec.cc"
  source.write_text(open(native.SOURCE).read())
  monkeypatch.setattr(native, "SOURCE", str(source))
  first = native.library_path()
  assert os.path.exists(first) and native.library_path() == first  # Built once.
  source.write_text(source.read_text() + "\n// changed\n")
  assert native.library_path() != first  # Another source, another library.


def _train_cli(args, env=None):
  return subprocess.run([sys.executable, "-m", "experiments.train", "--noprogress", *args],
                        cwd=ROOT, capture_output=True, text=True, env=env)


@pytest.mark.slow
def test_without_a_compiler_auto_trains_generic_and_fused_fails_in_one_line(
    planted_file, tmp_path):
  env = dict(os.environ, CXX=str(tmp_path / "no-such-compiler"),
             W2V_JAX_CACHE=str(tmp_path / "cache"))
  common = ["--corpus", planted_file, "--epochs", "1", "--min_count", "1", "--subsample", "0"]
  run = _train_cli(["--out_dir", str(tmp_path / "auto"), *common], env)
  assert run.returncode == 0, run.stderr[-2000:]
  assert "fused step is unavailable: C++ compiler" in run.stderr
  import json  # pylint: disable=import-outside-toplevel

  with open(tmp_path / "auto" / "summary.json") as f:
    assert json.load(f)["step"] == "generic"
  run = _train_cli(["--out_dir", str(tmp_path / "fused"), "--step", "fused", *common], env)
  assert run.returncode == 2
  assert run.stderr.strip().splitlines()[-1].startswith("error: --step=fused: C++ compiler")


def test_fused_step_refuses_what_it_cannot_train_in_one_line(planted_file, tmp_path):
  run = _train_cli(["--out_dir", str(tmp_path), "--corpus", planted_file, "--step", "fused",
                    "--optimizer", "adam"])
  assert run.returncode == 2
  assert run.stderr.strip().splitlines()[-1] == (
      "error: --step=fused: needs --optimizer=sgd (the kernel applies SGD)")


@pytest.mark.slow
def test_fused_and_generic_score_alike_on_the_bundled_corpus(tmp_path):
  """One epoch of the default recipe on the KJV, each step at one thread: the same quality
  within seed noise (3 seeds each measured analogy 0.033-0.041, WS353 0.07-0.20)."""
  import json  # pylint: disable=import-outside-toplevel

  scores = {}
  for step in ("fused", "generic"):
    run = _train_cli(["--out_dir", str(tmp_path / step), "--step", step, "--epochs", "1",
                      "--threads", "1", "--seed", "1"])
    assert run.returncode == 0, run.stderr[-2000:]
    with open(tmp_path / step / "summary.json") as f:
      summary = json.load(f)
    assert summary["step"] == step
    scores[step] = (summary["eval/analogy_accuracy"], summary["eval/wordsim_spearman"])
  (fa, fw), (ga, gw) = scores["fused"], scores["generic"]
  assert fa > 0.025 and ga > 0.025  # Both learned (untrained vectors score ~0).
  assert abs(fa - ga) <= 0.012 and abs(fw - gw) <= 0.15, scores
