import os

import numpy as np
import pytest

from w2v_jax import export

WORDS = ["", "[UNK]", "über", "b"]


def _vectors():
  return np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)


def test_projector_tsv_matches_the_seed_layout(tmp_path):
  vec = _vectors()
  export.write_projector_tsv(str(tmp_path / "vectors.tsv"), str(tmp_path / "metadata.tsv"),
                             WORDS, vec)
  meta = (tmp_path / "metadata.tsv").read_text(encoding="utf-8").splitlines()
  assert meta == ["[UNK]", "über", "b"]  # The padding row is skipped.
  rows = np.loadtxt(tmp_path / "vectors.tsv", delimiter="\t", dtype=np.float32)
  np.testing.assert_array_equal(rows, vec[1:])


@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_round_trip(tmp_path, binary):
  vec = _vectors()
  path = str(tmp_path / ("v.bin" if binary else "v.txt"))
  export.write_word2vec(path, WORDS, vec, binary=binary)
  words, loaded = export.read_word2vec(path)
  assert words == WORDS[1:]
  np.testing.assert_array_equal(loaded, vec[1:])


@pytest.mark.parametrize("binary", [False, True])
def test_gensim_reads_our_files_and_we_read_gensims(tmp_path, binary):
  keyed = pytest.importorskip("gensim.models.keyedvectors")
  vec = _vectors()
  ours = str(tmp_path / ("ours.bin" if binary else "ours.txt"))
  export.write_word2vec(ours, WORDS, vec, binary=binary)
  kv = keyed.KeyedVectors.load_word2vec_format(ours, binary=binary)
  assert kv.index_to_key == WORDS[1:]
  np.testing.assert_array_equal(kv.vectors, vec[1:])
  theirs = str(tmp_path / "theirs")
  kv.save_word2vec_format(theirs, binary=binary)
  words, loaded = export.read_word2vec(theirs, binary=binary)
  assert words == WORDS[1:]
  np.testing.assert_allclose(loaded, vec[1:], rtol=1e-6)


def test_malformed_word2vec_files_name_the_problem(tmp_path):
  bad = tmp_path / "bad.txt"
  bad.write_text("2 3\na 1 2 3\nb 1 2\n", encoding="utf-8")
  with pytest.raises(ValueError, match=r"bad.txt: line 3"):
    export.read_word2vec(str(bad))
  bad.write_text("two three\n", encoding="utf-8")
  with pytest.raises(ValueError, match=r"bad.txt: line 1"):
    export.read_word2vec(str(bad))
  with pytest.raises(ValueError, match="no such file"):
    export.read_word2vec(str(tmp_path / "missing.bin"))


def test_words_with_spaces_cannot_be_written(tmp_path):
  with pytest.raises(ValueError, match="cannot be written"):
    export.write_word2vec(str(tmp_path / "x.txt"), ["a b"], np.zeros((1, 2)), binary=False)


def test_tensorboard_projector_files(tmp_path):
  vec = _vectors()
  export.write_tensorboard_projector(str(tmp_path), WORDS, vec)
  config = (tmp_path / "projector_config.pbtxt").read_text()
  tensor_path = os.path.join(tmp_path, config.split('tensor_path: "')[1].split('"')[0])
  meta_path = os.path.join(tmp_path, config.split('metadata_path: "')[1].split('"')[0])
  np.testing.assert_array_equal(np.loadtxt(tensor_path, delimiter="\t", dtype=np.float32),
                                vec[1:])
  assert open(meta_path, encoding="utf-8").read().split("\n")[:3] == ["[UNK]", "über", "b"]
  export.write_tensorboard_projector(str(tmp_path), WORDS, vec)  # Again, into the same place.
  assert (tmp_path / "projector_config.pbtxt").read_text() == config  # Not appended to.


def test_numbers_are_written_with_the_fewest_digits_that_round_trip():
  vec = np.array([[0.1, -1e-8, 3.4028235e38, 1.0 / 3.0]], np.float32)
  (line,) = export.format_rows(vec, " ")
  assert line == "0.100000001 -9.99999994e-09 3.40282347e+38 0.333333343"
  np.testing.assert_array_equal(np.array(line.split(), np.float32), vec[0])


def test_outputs_are_readable_by_others_as_umask_allows(tmp_path):
  old = os.umask(0o022)
  try:
    export.write_word2vec(str(tmp_path / "v.txt"), ["a"], np.zeros((1, 2)), binary=False)
  finally:
    os.umask(old)
  assert (os.stat(tmp_path / "v.txt").st_mode & 0o777) == 0o644


@pytest.mark.parametrize("words", [WORDS, WORDS[1:]])
def test_text_vectors_in_one_pass_equal_each_writer_and_the_projector_copies_them(tmp_path, words):
  """vectors.tsv + metadata.tsv and word2vec text from one formatting, byte for byte what the
  two writers give; the TensorBoard projector copies that TSV."""
  vec = _vectors()[:len(words)]
  one, each = tmp_path / "one", tmp_path / "each"
  each.mkdir()
  export.write_projector_tsv(str(each / "v.tsv"), str(each / "m.tsv"), words, vec)
  export.write_word2vec(str(each / "v.txt"), words, vec, binary=False)
  tsv = (str(one / "v.tsv"), str(one / "m.tsv"))
  export.write_text_vectors(*tsv, str(one / "v.txt"), words, vec)
  for name in ("v.tsv", "m.tsv", "v.txt"):
    assert (one / name).read_bytes() == (each / name).read_bytes(), name
  export.write_tensorboard_projector(str(one), words, vec, copy_of=tsv)
  export.write_tensorboard_projector(str(each), words, vec)
  for name in ("tensors.tsv", "metadata.tsv"):
    path = f"projector/00000/word2vec/{name}"
    assert (one / path).read_bytes() == (each / path).read_bytes(), name
  with pytest.raises(ValueError, match="cannot be written"):
    export.write_text_vectors(*tsv, str(one / "v.txt"), ["a b"], vec[:1])
