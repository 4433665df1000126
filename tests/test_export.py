import os

import numpy as np
import pytest

from w2v_jax import export, objectives, subwords, word2vec_format

WORDS = ["", "[UNK]", "über", "b"]


def _vectors():
  return np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)


def _tables(rows=6, dim=3, bucket=11):
  rng = np.random.default_rng(1)
  return {"input": rng.normal(size=(rows, dim)).astype(np.float32),
          "ngrams": rng.normal(size=(bucket, dim)).astype(np.float32)}


def test_word_vectors_are_the_input_rows_of_the_vocabulary():
  tables = _tables()
  vectors, composer = export.word_vectors(tables.__getitem__, ["a", "b", "c", "d"])
  assert composer is None
  np.testing.assert_array_equal(vectors, tables["input"][:4])  # Padding rows past V left out.


def test_word_vectors_with_ngrams_average_each_word_row_with_its_ngram_rows():
  tables = _tables()
  words = ["</s>", "ab", "abc"]
  vectors, composer = export.word_vectors(tables.__getitem__, words,
                                          objectives.NgramRows(minn=2, maxn=3, bucket=11))
  ngram = lambda g: tables["ngrams"][subwords.fnv1a(g.encode()) % 11]
  rows = tables["input"]
  # "<ab>": <a ab b> <ab ab>; "<abc>": <a ab bc c> <ab abc bc>; "</s>" has no n-grams.
  want = [rows[0],
          (rows[1] + sum(ngram(g) for g in ("<a", "ab", "b>", "<ab", "ab>"))) / 6,
          (rows[2] + sum(ngram(g) for g in ("<a", "ab", "bc", "c>", "<ab", "abc", "bc>"))) / 8]
  np.testing.assert_allclose(vectors, np.stack(want), rtol=1e-6)
  assert composer.words == tuple(words) and (composer.minn, composer.maxn) == (2, 3)
  np.testing.assert_array_equal(composer.ngram_rows, tables["ngrams"])


def test_projector_tsv_matches_the_seed_layout(tmp_path):
  vec = _vectors()
  export.write_projector_tsv(str(tmp_path / "vectors.tsv"), str(tmp_path / "metadata.tsv"),
                             WORDS, vec)
  meta = (tmp_path / "metadata.tsv").read_text(encoding="utf-8").splitlines()
  assert meta == ["[UNK]", "über", "b"]  # The padding row is skipped.
  rows = np.loadtxt(tmp_path / "vectors.tsv", delimiter="\t", dtype=np.float32)
  np.testing.assert_array_equal(rows, vec[1:])


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


@pytest.mark.parametrize("words", [WORDS, WORDS[1:]])
def test_text_vectors_in_one_pass_equal_each_writer_and_the_projector_copies_them(tmp_path, words):
  """vectors.tsv + metadata.tsv and word2vec text from one formatting, byte for byte what the
  two writers give; the TensorBoard projector copies that TSV."""
  vec = _vectors()[:len(words)]
  one, each = tmp_path / "one", tmp_path / "each"
  each.mkdir()
  export.write_projector_tsv(str(each / "v.tsv"), str(each / "m.tsv"), words, vec)
  word2vec_format.write(str(each / "v.txt"), words, vec, binary=False)
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
