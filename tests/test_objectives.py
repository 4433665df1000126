"""The objectives' parts: their kernel rules (only the built-in parts have one), what the step
choice makes of them, and the generic step's subword CBOW against the fused kernel's."""

import dataclasses
import functools
import logging

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from tests import fused_reference as ref
from w2v_jax import config as config_lib
from w2v_jax import data, fused, losses, native, negatives, objectives, step_choice
from w2v_jax import step as step_lib
from w2v_jax import subwords as subwords_lib
from w2v_jax.rules import Rule

V, D, LR, BUCKET = 30, 6, 0.05, 23
WORDS = [f"w{i:02d}{'x' * (i % 4)}" for i in range(V)]


# ---- Kernel rules ---------------------------------------------------------------------------

@pytest.mark.parametrize("settings, rule", [
    ({}, Rule()),
    ({"negatives_per": "pair"}, Rule(per_pair=True)),
    # CBOW: word2vec.c's (outputs in turn), with gensim's skip of saturated outputs.
    ({"model": "cbow", "cbow": "koan", "hs": True, "num_ns": 2},
     Rule(model="cbow", cbow="koan", hs=True, num_ns=2, per_pair=True, skip_saturated=True)),
    ({"model": "cbow", "skip_saturated": False}, Rule(model="cbow", per_pair=True)),
    ({"hs": True, "skip_saturated": True}, Rule(hs=True, skip_saturated=True)),
    ({"hs": True, "num_ns": 0}, Rule(hs=True, num_ns=0)),
    ({"skipgram_input": "centre"}, Rule(skipgram_input="centre", window_draws=10)),
    ({"skipgram_input": "centre", "window_negatives": 7}, Rule(skipgram_input="centre", window_draws=7)),
    ({"skipgram_input": "centre", "negatives_per": "pair"}, Rule(skipgram_input="centre", per_pair=True)),
    ({"bucket": 11, "model": "cbow", "cbow": "sum"},
     Rule(model="cbow", cbow="sum", per_pair=True, skip_saturated=True)),
])
def test_the_built_in_family_has_the_kernel_rule_of_its_settings(settings, rule):
  objective = objectives.word2vec(**settings)
  assert objective.fused() == rule
  assert objective.why_not_fused() is None


@pytest.mark.parametrize("settings, why", [
    ({"loss": "softmax"}, "NegativeSampling(loss='softmax') has no kernel rule"),
    ({"negatives": "log_uniform", "skip_positive_negatives": False},
     "NegativeSampling(skip_positive=False, negatives='log_uniform') has no kernel rule"),
    ({"shared_negatives": 64}, "SharedNegatives has no kernel rule"),
])
def test_built_in_parts_the_kernel_does_not_run_say_so(settings, why):
  objective = objectives.word2vec(**settings)
  assert objective.fused() is None
  assert objective.why_not_fused() == why


class OwnCbow(objectives.Cbow):
  """Overrides the math: the sum of the context rows, whatever the mode."""

  def hidden(self, vectors, example, subwords):
    return losses.cbow_hidden(vectors["inputs"], example["mask"], "sum")


class OwnNegativeSampling(objectives.NegativeSampling):
  """Doubles the loss."""

  def loss_of(self, h, weight, vectors, example, targets):
    loss, correct = super().loss_of(h, weight, vectors, example, targets)
    return 2 * loss, correct


@dataclasses.dataclass(frozen=True)
class OwnHead:
  """A head of its own: a squared hinge on the centre's output row alone."""

  shared_keys = ()

  def can_score(self, targets):
    return targets == objectives.CENTRE

  def tables(self, vocab_size):
    return {"output": vocab_size}

  def needs(self, targets):
    del targets
    return objectives.Needs()

  def rows(self, batch, targets):
    del targets
    return {"own": objectives.Rows(batch["centres"][:, None], "output")}

  def loss_of(self, h, weight, vectors, example, targets):
    del example, targets
    scores = h @ vectors["own"][0]
    return weight @ jnp.maximum(0.0, 1.0 - scores) ** 2, weight @ (scores > 0).astype(jnp.float32)

  def kernel_rule(self, targets):
    del targets
    return None


@pytest.mark.parametrize("objective, part", [
    (objectives.Word2Vec(OwnCbow("mean")), "OwnCbow (a part of its own)"),
    (objectives.Word2Vec(heads=(OwnNegativeSampling(),)), "OwnNegativeSampling (a part of its own)"),
    (objectives.Word2Vec(heads=(objectives.HierarchicalSoftmax(), OwnNegativeSampling())),
     "OwnNegativeSampling (a part of its own)"),
    (objectives.Word2Vec(subwords=type("OwnSubwords", (objectives.Subwords,), {})()),
     "OwnSubwords (a part of its own)"),
])
def test_a_subclass_of_a_built_in_part_does_not_inherit_its_kernel_rule(objective, part):
  assert objective.fused() is None
  assert objective.why_not_fused() == f"{part} has no kernel rule"


def test_a_head_of_its_own_beside_a_built_in_one_is_never_fused():
  """Its lack of a rule blocks the kernel's, rather than the head being left out of it."""
  alone = objectives.Word2Vec(heads=(OwnHead(),))
  both = objectives.Word2Vec(heads=(objectives.NegativeSampling(), OwnHead()))
  assert alone.tables(5) == {"input": 5, "output": 5}
  for objective in (alone, both):
    assert objective.fused() is None
    assert objective.why_not_fused() == "OwnHead (a part of its own) has no kernel rule"


def test_a_head_of_its_own_trains_on_the_generic_step():
  objective = objectives.Word2Vec(heads=(OwnHead(),))
  tx = optax.sgd(0.5)
  state = step_lib.create_train_state(jax.random.PRNGKey(0), objective.tables(4), 2, tx)
  state = state.replace(params={"input": jnp.array([[1.0, 0.0]] * 4),
                                "output": jnp.zeros((4, 2))})
  batch = {"centres": jnp.array([2]), "contexts": jnp.array([[1, 3]]),
           "mask": jnp.array([[1.0, 0.0]])}
  state, metrics = step_lib.train_step(state, batch, tx=tx, objective=objective)
  # One pair (context 1 -> centre 2): d/d out_2 of (1 - h.out_2)^2 is -2 h, so out_2 += 0.5 * 2 h.
  np.testing.assert_array_equal(np.asarray(state.params["output"][2]), [1.0, 0.0])
  np.testing.assert_array_equal(np.asarray(state.params["input"][1]), [1.0, 0.0])  # out_2 was 0.
  assert float(metrics["loss"]) == 1.0 and float(metrics["count"]) == 1.0


def test_a_part_without_the_protocol_is_a_type_error():
  with pytest.raises(TypeError, match="object is not an objectives.Head"):
    objectives.Word2Vec(heads=(object(),))
  with pytest.raises(ValueError, match="the centre as input needs skip-gram with negative "
                     "sampling alone"):
    objectives.Word2Vec(objectives.CentreSkipGram(),
                        (objectives.NegativeSampling(), objectives.HierarchicalSoftmax()))

  class ContextsOnly(OwnHead):
    def can_score(self, targets):
      return targets == objectives.CONTEXTS

  with pytest.raises(ValueError) as error:
    objectives.Word2Vec(heads=(ContextsOnly(),))
  assert str(error.value) == ("ContextsOnly (a part of its own) cannot score predictions of "
                              "the centre")


# ---- Which step ------------------------------------------------------------------------------

def test_the_step_choice_takes_the_objectives_word_for_its_own_settings():
  """One source: an objective setting blocks the fused step only where the objective has no
  rule (--hs --num_ns 0 leaves --shared_negatives unused)."""
  assert step_choice.fused_unsupported(config_lib.make(
      hs=True, num_ns=0, shared_negatives=64)) is None
  assert step_choice.fused_unsupported(config_lib.make(loss="softmax")) == (
      "needs an objective it has a rule for: NegativeSampling(loss='softmax') has no kernel rule")
  assert step_choice.fused_unsupported(config_lib.make(shared_negatives=8)) == (
      "needs an objective it has a rule for: SharedNegatives(shared_negatives=8) has no kernel "
      "rule")
  # The settings' reasons come first.
  assert step_choice.fused_unsupported(config_lib.make(loss="softmax", optimizer="adam")) == (
      "needs --optimizer=sgd (the kernel applies SGD)")
  own = objectives.Word2Vec(OwnCbow())
  assert step_choice.fused_unsupported(config_lib.make(model="cbow"), own) == (
      "needs an objective it has a rule for: OwnCbow (a part of its own) has no kernel rule")


@pytest.mark.skipif(jax.default_backend() != "cpu" or jax.device_count() > 1,
                    reason="the fused step needs one CPU device")
def test_auto_trains_a_part_of_its_own_on_the_generic_step_and_says_why(caplog):
  try:
    native.load()
  except native.KernelUnavailable:
    pytest.skip("no C++ compiler for the kernel")
  config = config_lib.make(model="cbow")
  own = objectives.Word2Vec(OwnCbow())
  assert step_choice.choose_step(config, objectives.word2vec(model="cbow")) == "fused"
  with caplog.at_level(logging.INFO):
    assert step_choice.choose_step(config, own) == "generic"
  assert [r.getMessage() for r in caplog.records if "generic step" in r.getMessage()] == [
      "generic step: the fused step needs an objective it has a rule for: OwnCbow (a part of "
      "its own) has no kernel rule"]
  with pytest.raises(ValueError) as error:
    step_choice.choose_step(config.replace(step="fused"), own)
  assert str(error.value) == ("--step=fused: needs an objective it has a rule for: OwnCbow (a "
                              "part of its own) has no kernel rule")
  assert step_choice.choose_step(config.replace(step="generic"), own) == "generic"


def test_a_user_objective_without_a_rule_is_not_fused():
  class Plain(objectives.Base):
    pass

  assert objectives.why_not_fused(Plain()) == "Plain (an objective of its own) has no kernel rule"
  assert objectives.why_not_fused(objectives.word2vec()) is None


def test_a_subclass_of_word2vec_has_a_kernel_rule_only_where_it_says_its_own():
  @dataclasses.dataclass(frozen=True)
  class Doubled(objectives.Word2Vec):  # Changes the math: the kernel must not train it.
    def loss(self, vectors, example):
      loss, metrics = super().loss(vectors, example)
      return 2 * loss, metrics

  @dataclasses.dataclass(frozen=True)
  class Declines(objectives.Word2Vec):
    def fused(self):
      return None

  @dataclasses.dataclass(frozen=True)
  class PerPair(objectives.Word2Vec):  # Says its own rule: that one is trained.
    def fused(self):
      return Rule(per_pair=True)

  doubled = Doubled()
  assert doubled.fused() is None
  assert objectives.why_not_fused(doubled) == (
      "Doubled (a subclass of Word2Vec) has no kernel rule")
  assert objectives.why_not_fused(Declines()) == (
      "Declines (an objective of its own) has no kernel rule")
  assert objectives.why_not_fused(PerPair()) is None
  config = config_lib.resolve(config_lib.make(), step="generic")
  for objective in (doubled, Declines()):
    assert step_choice.choose_step(config.replace(step="auto"), objective) == "generic"


# ---- The generic step's subword CBOW is the kernel's -------------------------------------

def _windows_and_state(kernel):
  counts = np.arange(V, 0, -1) * 7
  lookups = fused.make_lookups(
      keep=np.linspace(0.55, 1.0, V).astype(np.float32),
      noise=negatives.build_alias_table(negatives.unigram_probs(counts)),
      subwords=subwords_lib.subwords(WORDS, 2, 3, BUCKET))
  objective = objectives.word2vec(model="cbow", cbow=kernel.rule.cbow,
                                  num_ns=kernel.rule.num_ns, bucket=BUCKET, minn=2, maxn=3)
  tx = optax.sgd(LR)
  state = step_lib.create_train_state(jax.random.PRNGKey(0), objective.tables(V), D, tx)
  params = {name: 0.3 * jax.random.normal(jax.random.PRNGKey(7 + i), t.shape)
            for i, (name, t) in enumerate(sorted(state.params.items()))}
  return objective, state.replace(params=params), tx, lookups


def _batch(kernel, lookups, window):
  """The generic step's batch of one window: its slots, its negatives, its n-grams."""
  centre, ctx, base = window
  slots = 2 * kernel.window
  batch = {"centres": np.array([[centre]], np.int32),
           "contexts": np.zeros((1, 1, slots), np.int32),
           "mask": np.zeros((1, 1, slots), np.float32),
           "negatives": np.array([[[ref.negative(base, k, lookups.noise.prob, lookups.noise.alias)
                                    for k in range(kernel.rule.num_ns)]]], np.int32)}
  for w, slot in ctx:
    batch["contexts"][0, 0, slot], batch["mask"][0, 0, slot] = w, 1.0
  table = subwords_lib.Subwords(np.asarray(lookups.ngram_offsets), lookups.ngram_ids, BUCKET)
  data.Outputs(tree=None, subwords=table, centre_inputs=False).add(batch, [0])
  return {k: jnp.asarray(v[0]) for k, v in batch.items()}


@pytest.mark.parametrize("mode", losses.CBOW_MODES)
def test_subword_cbow_in_every_mode_is_the_kernels_window_by_window(mode):
  """sum and koan too: each row of the window gets the error / the number of contexts. The
  kernel's CBOW updates its outputs in turn, which the generic step's window equals only where
  no row is an output twice (tests/test_fused.py, disjoint rows); here its per-window form (all
  outputs from the rows before the window), which the generic step's window equals exactly."""
  rule = objectives.word2vec(model="cbow", cbow=mode, num_ns=2, bucket=BUCKET, minn=2,
                             maxn=3).fused()
  assert rule.per_pair and rule.skip_saturated  # No logit here reaches 6.
  kernel = fused.Kernel(dataclasses.replace(rule, per_pair=False), window=3)
  objective, state, tx, lookups = _windows_and_state(kernel)
  assert objective.fused() == rule
  tokens = np.random.default_rng(3).integers(0, V, 40).astype(np.int32)
  tokens[[9, 22, 35]] = -1
  key = tuple(int(x) for x in np.asarray(state.key))
  windows = ref.Reference(kernel, {}, lookups, LR, key, 0).all_windows(tokens)
  assert any(len(ctx) > 1 for _, ctx, _ in windows)
  step = jax.jit(functools.partial(step_lib.train_step, tx=tx, objective=objective))
  generic = state
  for window in windows:
    generic, _ = step(generic, _batch(kernel, lookups, window))
  kernel_state, _ = jax.jit(functools.partial(fused.train_step, kernel=kernel, tx=tx))(
      state, {"tokens": tokens}, lookups)
  for name, table in generic.params.items():
    assert not np.allclose(np.asarray(table), np.asarray(state.params[name]))
    np.testing.assert_allclose(np.asarray(kernel_state.params[name]), np.asarray(table),
                               rtol=2e-5, atol=2e-6, err_msg=name)


def test_subword_cbow_sum_by_hand():
  """Two contexts, each a word row and one n-gram row: h is the sum of the four rows, and each
  row's gradient is dL/dh / 2 (koan: h is their mean, the same gradient)."""
  words = jnp.array([[1.0, 0.0], [0.0, 2.0]])
  ngram_sums = jnp.array([[3.0, 0.0], [0.0, 4.0]])
  counts, mask = jnp.array([1.0, 1.0]), jnp.array([1.0, 1.0])
  for mode, value in (("sum", [4.0, 6.0]), ("koan", [1.0, 1.5]), ("mean", [1.0, 1.5])):
    h, weight = losses.cbow_subword_hidden(words, ngram_sums, counts, mask, mode)
    np.testing.assert_allclose(np.asarray(h), [value])
    assert float(weight[0]) == 1.0
    grad = jax.grad(lambda w, mode=mode: jnp.sum(losses.cbow_subword_hidden(
        w, ngram_sums, counts, mask, mode)[0] * jnp.array([[2.0, 4.0]])))(words)
    np.testing.assert_allclose(np.asarray(grad), [[2.0, 4.0]] * 2 if mode == "mean"
                               else [[1.0, 2.0]] * 2)


# ---- Saturated outputs (gensim's rule, CBOW's default) -------------------------------------

def test_a_saturated_output_gives_no_gradient_and_keeps_its_loss():
  """h = (1, 1) against the positive (0.3, 0.1) (logit 0.4) and a negative (4, 4) (logit 8):
  with skip_saturated only the positive moves, by -(1 - s(0.4)) h; the loss is the same."""
  h = jnp.array([[1.0, 1.0]])
  outputs = jnp.array([[0.3, 0.1], [4.0, 4.0]])
  valid = jnp.array([1.0, 1.0])
  grads, values = {}, {}
  for skip in (False, True):
    def loss(rows, skip=skip):
      return losses.sampled_loss(h, jnp.ones(1), rows, valid, skip_saturated=skip)[0]
    values[skip], grads[skip] = jax.value_and_grad(loss)(outputs)
  sig = lambda x: 1 / (1 + np.exp(-x))  # pylint: disable=unnecessary-lambda-assignment
  np.testing.assert_allclose(grads[True], [[-(1 - sig(0.4))] * 2, [0.0, 0.0]], rtol=1e-6)
  np.testing.assert_allclose(grads[False][1], [sig(8.0)] * 2, rtol=1e-6)
  np.testing.assert_allclose(values[True], values[False], rtol=1e-6)
  # Hierarchical softmax: a node at logit -7 with code 0 (label 1) is skipped likewise.
  nodes = jnp.array([[-3.5, -3.5], [0.2, 0.0]])
  codes, mask = jnp.array([0.0, 1.0]), jnp.array([1.0, 1.0])
  hs = jax.grad(lambda rows: losses.hierarchical_loss(h, jnp.ones(1), rows, codes, mask,
                                                      skip_saturated=True)[0])(nodes)
  np.testing.assert_allclose(hs, [[0.0, 0.0], [sig(0.2)] * 2], rtol=1e-6)


def test_cbow_skips_saturated_outputs_by_default_and_skip_gram_does_not():
  cbow, skip_gram = objectives.word2vec(model="cbow", hs=True), objectives.word2vec(hs=True)
  assert all(head.skip_saturated for head in cbow.heads)
  assert not any(head.skip_saturated for head in skip_gram.heads)
  # The seed's softmax has no sigmoid to saturate.
  seed = objectives.word2vec(model="cbow", loss="softmax")
  assert not seed.heads[0].skip_saturated
