"""fastText's model.bin made from a run's sections and tables (its round trips, gensim's reading
and one-line errors are in test_subwords.py, beside the composition they check)."""

import numpy as np

from w2v_jax import config as config_lib
from w2v_jax import fasttext_format, subwords
from w2v_jax import vocab as vocab_lib


def _composer(words, dim=4, bucket=7):
  rng = np.random.default_rng(0)
  return subwords.SubwordVectors(tuple(words), rng.normal(size=(len(words), dim)),
                                 rng.normal(size=(bucket, dim)), 2, 5)


def test_settings_are_the_runs_in_fasttexts_names():
  composer = _composer(["a", "b"])
  args = fasttext_format.settings(
      config_lib.ObjectiveConfig(model="cbow", embedding_dim=4, num_ns=7),
      config_lib.ExamplesConfig(window_size=3, subsample=1e-4),
      config_lib.CorpusConfig(min_count=2), 9, composer)
  assert args == {"dim": 4, "ws": 3, "epoch": 9, "min_count": 2, "neg": 7, "word_ngrams": 1,
                  "loss": 2, "model": 1, "bucket": 7, "minn": 2, "maxn": 5,
                  "lr_update_rate": 100, "t": 1e-4}
  hs = fasttext_format.settings(config_lib.ObjectiveConfig(num_ns=0, hs=True),
                                config_lib.ExamplesConfig(), config_lib.CorpusConfig(), 1,
                                composer)
  assert (hs["loss"], hs["neg"], hs["model"]) == (1, 0, 2)  # hs, skip-gram.


def test_from_tables_takes_ns_context_rows_or_hs_inner_nodes_as_the_output_side():
  words = ["</s>", "x", "y"]
  vocab = vocab_lib.Vocab(tuple(words), np.array([5, 3, 2]))
  composer = _composer(words)
  tables = {"output": np.arange(20.0).reshape(5, 4), "tree": -np.arange(20.0).reshape(5, 4)}
  ns = fasttext_format.from_tables(tables.__getitem__, vocab, 10, composer, {"neg": 5, "dim": 4})
  assert ns.words == words and ns.ntokens == 10
  np.testing.assert_array_equal(ns.counts, [5, 3, 2])
  np.testing.assert_array_equal(ns.input, composer.word_rows)  # The n-grams' rows stay apart.
  np.testing.assert_array_equal(ns.output, tables["output"][:3])
  hs = fasttext_format.from_tables(tables.__getitem__, vocab, 10, composer, {"neg": 0, "dim": 4})
  # V - 1 inner nodes, and a row of zeros: fastText's output matrix has V rows.
  np.testing.assert_array_equal(hs.output, np.concatenate([tables["tree"][:2], np.zeros((1, 4))]))
