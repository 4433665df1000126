"""The fused kernel's inputs: every entry it indexes with is checked before it runs, and a bad
one is a one-line error naming the field, never a wild read or a signal."""

import functools
import os
import subprocess
import sys

import jax
import numpy as np
import optax
import pytest

from w2v_jax import fused, huffman, negatives
from w2v_jax import step as step_lib
from w2v_jax import subwords as subwords_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
V, D, BUCKET = 6, 4, 7
COUNTS = np.array([30, 20, 10, 5, 3, 2])
# Word w's n-gram rows are IDS[OFFSETS[w]:OFFSETS[w + 1]] (word 2 has none).
OFFSETS = np.array([0, 2, 3, 3, 5, 6, 7])
IDS = np.array([0, 1, 2, 3, 4, 5, 6], np.int32)


def _pieces(**changes):
  """Well-formed pieces for V words, with `changes` (name -> fn(array) -> array) applied."""
  tree = huffman.build_huffman(COUNTS)
  noise = negatives.build_alias_table(negatives.unigram_probs(COUNTS))
  arrays = {"keep": np.linspace(0.5, 1.0, V).astype(np.float32), "alias": noise.alias,
            "prob": noise.prob, "points": tree.points, "codes": tree.codes,
            "lengths": tree.lengths, "offsets": OFFSETS, "ids": IDS}
  for name, change in changes.items():
    arrays[name] = change(arrays[name].copy())
  a = arrays
  return dict(keep=a["keep"], noise=negatives.AliasTable(a["prob"], a["alias"]),
              tree=huffman.HuffmanTree(a["points"], a["codes"], a["lengths"]),
              subwords=subwords_lib.Subwords(a["offsets"], a["ids"], BUCKET))


def _set(index, value):
  def change(x):
    x[index] = value
    return x
  return change


def _one_line_error(message, fn, *args, **kwargs):
  """Runs fn and returns its ValueError, whose message must be exactly `message`."""
  with pytest.raises(ValueError) as e:
    fn(*args, **kwargs)
  assert str(e.value) == message
  assert "\n" not in str(e.value)


def test_well_formed_lookups_pass_and_carry_the_ngram_tables_rows():
  lookups = fused.make_lookups(**_pieces())
  assert lookups.bucket == BUCKET
  np.testing.assert_array_equal(lookups.ngram_ids, IDS)
  # A real vocabulary's pieces (the tree's padding, V - 1, lies past each path: not read).
  words = ["the", "cat", "sat", "on", "a", "mat"]
  real = fused.make_lookups(tree=huffman.build_huffman(COUNTS),
                            subwords=subwords_lib.subwords(words, 2, 3, 11))
  assert real.bucket == 11 and int(real.points.max()) == V - 1


@pytest.mark.parametrize("value", [BUCKET, -1])
def test_ngram_ids_outside_the_ngram_table(value):
  _one_line_error(f"lookups.ngram_ids[3] = {value} is outside the n-gram table's 7 rows",
                  fused.make_lookups, **_pieces(ids=_set(3, value)))


def test_ngram_offsets_that_decrease():
  _one_line_error("lookups.ngram_offsets[2] = 1 is less than the offset before it: offsets "
                  "must not decrease", fused.make_lookups, **_pieces(offsets=_set(2, 1)))


def test_ngram_offsets_that_do_not_start_at_0_or_end_at_the_ids():
  _one_line_error("lookups.ngram_offsets[0] = 1 must be 0: offsets start at 0",
                  fused.make_lookups, **_pieces(offsets=_set(0, 1)))
  _one_line_error("lookups.ngram_offsets[6] = 6 must be len(ngram_ids) = 7",
                  fused.make_lookups, **_pieces(offsets=_set(6, 6)))


def test_ngram_ids_without_the_tables_rows():
  lookups = fused.Lookups(ngram_offsets=OFFSETS, ngram_ids=IDS)  # No bucket.
  _one_line_error("lookups.bucket = 0: n-gram ids need the n-gram table's rows (make_lookups "
                  "takes them from the Subwords)", fused.check_lookups, lookups)


@pytest.mark.parametrize("value", [V, -1])
def test_alias_entries_outside_the_vocabulary(value):
  _one_line_error(f"lookups.noise.alias[2] = {value} is outside the vocabulary's 6 words",
                  fused.make_lookups, **_pieces(alias=_set(2, value)))


def test_huffman_points_outside_the_tree():
  tree = huffman.build_huffman(COUNTS)
  word = int(np.argmax(tree.lengths))  # Its last node is a real one.
  last = int(tree.lengths[word]) - 1
  _one_line_error(f"lookups.points[{word}, {last}] = 5 is outside the tree's 5 rows",
                  fused.make_lookups, **_pieces(points=_set((word, last), V - 1)))
  _one_line_error("lookups.points[0, 0] = -1 is outside the tree's 5 rows",
                  fused.make_lookups, **_pieces(points=_set((0, 0), -1)))


def test_huffman_lengths_outside_the_paths_and_codes_that_are_not_branches():
  width = huffman.build_huffman(COUNTS).points.shape[1]
  _one_line_error(f"lookups.lengths[1] = {width + 1} is outside [0, {width}] (points has "
                  f"{width} columns)", fused.make_lookups, **_pieces(lengths=_set(1, width + 1)))
  _one_line_error(f"lookups.lengths[1] = -1 is outside [0, {width}] (points has {width} "
                  "columns)", fused.make_lookups, **_pieces(lengths=_set(1, -1)))
  _one_line_error("lookups.codes[0, 0] = 2 is not a branch (0 or 1)",
                  fused.make_lookups, **_pieces(codes=_set((0, 0), 2)))


def test_keep_probabilities_outside_0_1_and_fields_for_other_vocabularies():
  _one_line_error("lookups.keep[1] = 1.5 is not a probability in [0, 1]",
                  fused.make_lookups, **_pieces(keep=_set(1, 1.5)))
  _one_line_error("lookups.keep[4] = nan is not a probability in [0, 1]",
                  fused.make_lookups, **_pieces(keep=_set(4, np.nan)))
  _one_line_error("lookups.noise.prob is for 6 words and lookups.keep for 5: every field must "
                  "be for the same vocabulary", fused.make_lookups,
                  **_pieces(keep=lambda k: k[:5]))


# ---- Against the tables, as the step traces ----

def _step(kernel, tables, lookups, tokens=(1, 2, 3, -1, 4, 5, -1)):
  """One jitted fused step on fresh tables ({name: rows}) of width D."""
  tx = optax.sgd(0.05)
  state = step_lib.create_train_state(jax.random.PRNGKey(0), tables, D, tx)
  fn = jax.jit(functools.partial(fused.train_step, kernel=kernel, tx=tx), donate_argnums=0)
  return jax.block_until_ready(fn(state, {"tokens": np.array(tokens, np.int32)}, lookups))


def test_subword_lookups_without_an_ngram_table():
  lookups = fused.make_lookups(**_pieces())
  _one_line_error("the fused step needs a table 'ngrams' of 7 rows and params have none "
                  "(they have input, output)",
                  _step, fused.Kernel.of(), {"input": V, "output": V}, lookups)


def test_tables_that_disagree_with_the_lookups():
  lookups = fused.make_lookups(**_pieces())
  kernel = fused.Kernel.of(hs=True)
  _one_line_error("params['ngrams'] has shape (9, 4); the fused step needs (7, 4)",
                  _step, kernel, {"input": V, "output": V, "tree": V - 1, "ngrams": 9}, lookups)
  _one_line_error("the fused step needs a table 'tree' of 5 rows and params have none (they "
                  "have input, ngrams, output)",
                  _step, kernel, {"input": V, "output": V, "ngrams": BUCKET}, lookups)
  _one_line_error("lookups.keep has shape (6,); the input table's 8 words need 8 rows",
                  _step, fused.Kernel.of(), {"input": 8, "output": 8, "ngrams": BUCKET}, lookups)


def test_lookups_the_rule_needs_and_an_untrained_ngram_table():
  no_noise = fused.make_lookups(keep=_pieces()["keep"])
  _one_line_error("the rule needs lookups.noise.prob and it is None (make_lookups(noise=...) "
                  "for negatives, tree=... for hierarchical softmax)",
                  _step, fused.Kernel.of(), {"input": V, "output": V}, no_noise)
  no_ngrams = fused.make_lookups(noise=_pieces()["noise"])
  _one_line_error("params have an 'ngrams' table and lookups have no n-grams to train it "
                  "(make_lookups(subwords=...))",
                  _step, fused.Kernel.of(), {"input": V, "output": V, "ngrams": BUCKET},
                  no_ngrams)


# ---- In the kernel: the tokens, new every call ----

@pytest.mark.parametrize("token, why", [(-2, "-2 < -1 (-1 ends a sentence)"),
                                        (V, "6 >= V = 6")])
def test_token_ids_outside_minus_1_to_v(token, why):
  pieces = _pieces()
  lookups = fused.make_lookups(keep=pieces["keep"], noise=pieces["noise"])
  tables = {"input": V, "output": V}
  _step(fused.Kernel.of(), tables, lookups, (1, 2, 3, -1, 4, 5, -1))  # -1s are sentence ends.
  with pytest.raises(Exception) as e:
    _step(fused.Kernel.of(), tables, lookups, (1, 2, token, 4, 5, -1))
  assert str(e.value) == f"INVALID_ARGUMENT: w2v_jax word2vec kernel: token id {why}"


_FORMER_SEGFAULT = """
import functools, jax, numpy as np, optax
from w2v_jax import fused, negatives, step, subwords
counts = np.arange(6, 0, -1)
lookups = fused.make_lookups(
    noise=negatives.build_alias_table(negatives.unigram_probs(counts)),
    subwords=subwords.subwords(["the", "cat", "sat", "on", "a", "mat"], 2, 3, 50))
tx = optax.sgd(0.05)
state = step.create_train_state(jax.random.PRNGKey(0), {"input": 6, "output": 6}, 4, tx)
fn = jax.jit(functools.partial(fused.train_step, kernel=fused.Kernel.of(), tx=tx))
jax.block_until_ready(fn(state, {"tokens": np.array([0, 1, 2, -1, 3, 4, 5], np.int32)}, lookups))
"""


def test_subword_lookups_without_an_ngram_table_fail_in_one_line_not_a_signal():
  run = subprocess.run([sys.executable, "-c", _FORMER_SEGFAULT], cwd=ROOT, capture_output=True,
                       text=True, timeout=300, check=False)
  assert run.returncode == 1, (run.returncode, run.stderr[-2000:])  # A signal is negative.
  errors = [line for line in run.stderr.splitlines() if line.startswith("ValueError")]
  assert errors == ["ValueError: the fused step needs a table 'ngrams' of 50 rows and params "
                    "have none (they have input, output)"], run.stderr[-2000:]
