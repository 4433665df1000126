import collections

import numpy as np
import pytest

from w2v_jax import vocab as vocab_lib

COUNTS = collections.Counter({"b": 3, "a": 3, "c": 5, "d": 1, "e": 2})


def test_order_is_count_descending_then_word_ascending():
  v = vocab_lib.build_vocab(COUNTS, min_count=2)
  assert v.words == ("c", "a", "b", "e")
  np.testing.assert_array_equal(v.counts, [5, 3, 3, 2])
  assert v.index["b"] == 2 and v.pad_id is None and v.unk_id is None


def test_keras_order_breaks_ties_by_descending_token_and_counts_reserved():
  v = vocab_lib.build_vocab(COUNTS, min_count=1, max_size=5, reserved=True,
                            tie_break="descending")
  # max_size 5 keeps '' and [UNK] plus 3 words.
  assert v.words == ("", "[UNK]", "c", "b", "a")
  # [UNK] counts the tokens of pruned words: e (2) + d (1).
  np.testing.assert_array_equal(v.counts, [0, 3, 5, 3, 3])
  assert v.pad_id == 0 and v.unk_id == 1


def test_keras_order_matches_lexsort_reference():
  rng = np.random.default_rng(0)
  counts = {f"w{i}": int(c) for i, c in enumerate(rng.integers(1, 6, 200))}
  tokens = np.array(list(counts)); freq = np.array(list(counts.values()))
  expected = tokens[np.lexsort((tokens, freq))[::-1]].tolist()
  v = vocab_lib.build_vocab(counts, min_count=1, reserved=True, tie_break="descending")
  assert list(v.words[2:]) == expected


def test_min_count_leaving_nothing_is_an_error():
  with pytest.raises(ValueError, match="no word occurs at least min_count=10"):
    vocab_lib.build_vocab(COUNTS, min_count=10)


def test_save_load_round_trip(tmp_path):
  for reserved in (False, True):
    v = vocab_lib.build_vocab(COUNTS, min_count=1, reserved=reserved)
    path = str(tmp_path / f"vocab{reserved}.tsv")
    vocab_lib.save_vocab(v, path)
    loaded = vocab_lib.load_vocab(path)
    assert loaded.words == v.words and loaded.reserved == reserved
    np.testing.assert_array_equal(loaded.counts, v.counts)


def test_load_rejects_malformed_line(tmp_path):
  path = tmp_path / "v.tsv"
  path.write_text("a\t3\nb three\n", encoding="utf-8")
  with pytest.raises(ValueError, match=r"v.tsv: line 2"):
    vocab_lib.load_vocab(str(path))
