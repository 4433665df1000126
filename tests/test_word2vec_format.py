"""word2vec.c's text and binary files: round trips, gensim both ways, one-line errors."""

import os

import numpy as np
import pytest

from w2v_jax import word2vec_format

WORDS = ["", "[UNK]", "über", "b"]


def _vectors():
  return np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)


@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_round_trip(tmp_path, binary):
  vec = _vectors()
  path = str(tmp_path / ("v.bin" if binary else "v.txt"))
  word2vec_format.write(path, WORDS, vec, binary=binary)
  words, loaded = word2vec_format.read(path)
  assert words == WORDS[1:]
  np.testing.assert_array_equal(loaded, vec[1:])


@pytest.mark.parametrize("binary", [False, True])
def test_gensim_reads_our_files_and_we_read_gensims(tmp_path, binary):
  keyed = pytest.importorskip("gensim.models.keyedvectors")
  vec = _vectors()
  ours = str(tmp_path / ("ours.bin" if binary else "ours.txt"))
  word2vec_format.write(ours, WORDS, vec, binary=binary)
  kv = keyed.KeyedVectors.load_word2vec_format(ours, binary=binary)
  assert kv.index_to_key == WORDS[1:]
  np.testing.assert_array_equal(kv.vectors, vec[1:])
  theirs = str(tmp_path / "theirs")
  kv.save_word2vec_format(theirs, binary=binary)
  words, loaded = word2vec_format.read(theirs, binary=binary)
  assert words == WORDS[1:]
  np.testing.assert_allclose(loaded, vec[1:], rtol=1e-6)


def test_malformed_word2vec_files_name_the_problem(tmp_path):
  bad = tmp_path / "bad.txt"
  bad.write_text("2 3\na 1 2 3\nb 1 2\n", encoding="utf-8")
  with pytest.raises(ValueError, match=r"bad.txt: line 3"):
    word2vec_format.read(str(bad))
  bad.write_text("two three\n", encoding="utf-8")
  with pytest.raises(ValueError, match=r"bad.txt: line 1"):
    word2vec_format.read(str(bad))
  with pytest.raises(ValueError, match="no such file"):
    word2vec_format.read(str(tmp_path / "missing.bin"))


def test_words_with_spaces_cannot_be_written(tmp_path):
  with pytest.raises(ValueError, match="cannot be written"):
    word2vec_format.write(str(tmp_path / "x.txt"), ["a b"], np.zeros((1, 2)), binary=False)


def test_numbers_are_written_with_the_fewest_digits_that_round_trip():
  vec = np.array([[0.1, -1e-8, 3.4028235e38, 1.0 / 3.0]], np.float32)
  (line,) = word2vec_format.format_rows(vec, " ")
  assert line == "0.100000001 -9.99999994e-09 3.40282347e+38 0.333333343"
  np.testing.assert_array_equal(np.array(line.split(), np.float32), vec[0])


def test_outputs_are_readable_by_others_as_umask_allows(tmp_path):
  old = os.umask(0o022)
  try:
    word2vec_format.write(str(tmp_path / "v.txt"), ["a"], np.zeros((1, 2)), binary=False)
  finally:
    os.umask(old)
  assert (os.stat(tmp_path / "v.txt").st_mode & 0o777) == 0o644
