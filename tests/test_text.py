import bz2
import gzip
import tracemalloc

import numpy as np
import pytest

from w2v_jax import text


def test_seed_standardization_lowercases_and_deletes_ascii_punctuation_only():
  assert text.standardize_seed("Hello, World! Don't—stop’") == "hello world dont—stop’"


def test_unicode_standardization():
  assert text.standardize_unicode("Ｈello—World, don’t Stop_it «x»").split() == [
      "hello", "world", "dont", "stop", "it", "x"]


def test_reads_plain_gzip_bz2_and_directories(tmp_path):
  (tmp_path / "d").mkdir()
  (tmp_path / "d" / "a.txt").write_text("one two\n", encoding="utf-8")
  with gzip.open(tmp_path / "d" / "b.txt.gz", "wt", encoding="utf-8") as f:
    f.write("three four\n")
  with bz2.open(tmp_path / "c.txt.bz2", "wt", encoding="utf-8") as f:
    f.write("Five, six!\n\n")
  sentences = list(text.iter_sentences([str(tmp_path / "d"), str(tmp_path / "c.txt.bz2")]))
  assert sentences == [["one", "two"], ["three", "four"], ["five", "six"]]


def test_long_lines_are_split_or_truncated(tmp_path):
  path = tmp_path / "long.txt"
  path.write_text(" ".join(f"w{i}" for i in range(25)) + "\n", encoding="utf-8")
  split = list(text.iter_sentences([str(path)], "none", max_length=10))
  assert [len(s) for s in split] == [10, 10, 5]
  assert split[2][0] == "w20"
  truncated = list(text.iter_sentences([str(path)], "none", max_length=10, truncate=True))
  assert truncated == [[f"w{i}" for i in range(10)]]


def test_non_utf8_names_file_and_line(tmp_path):
  path = tmp_path / "bad.txt"
  path.write_bytes(b"fine line\nsecond\nbad \xff byte\n")
  with pytest.raises(text.CorpusError, match=r"bad.txt: line 3: not valid UTF-8"):
    list(text.read_lines([str(path)]))


def test_missing_path_and_empty_directory(tmp_path):
  with pytest.raises(text.CorpusError, match="nope.txt: no such file"):
    text.expand_paths([str(tmp_path / "nope.txt")])
  (tmp_path / "empty").mkdir()
  with pytest.raises(text.CorpusError, match="holds no files"):
    text.expand_paths([str(tmp_path / "empty")])


def test_corrupt_gzip_is_a_corpus_error(tmp_path):
  path = tmp_path / "broken.txt.gz"
  path.write_bytes(b"this is not gzip")
  with pytest.raises(text.CorpusError, match="broken.txt.gz: cannot read"):
    list(text.read_lines([str(path)]))


def test_a_huge_line_is_read_in_bounded_pieces_with_word2vec_sentence_cuts(tmp_path):
  words = [f"w{i % 97}é" for i in range(2500)]  # Non-ASCII: cuts must not split a character.
  path = tmp_path / "one_line.txt"
  path.write_text(" ".join(words) + "\nlast line\n", encoding="utf-8")
  pieces = list(text.read_pieces([str(path)], chunk_bytes=64))
  assert max(len(p.encode()) for p, _ in pieces) <= 64 + 8
  assert [ends for _, ends in pieces].count(True) == 2
  assert "".join(p for p, _ in pieces).split() == words + ["last", "line"]
  sentences = list(text.iter_sentences([str(path)], standardize="none", chunk_bytes=64))
  # word2vec.c's rule over the whole line, not per piece: 1000, 1000, 500, then the next line.
  assert [len(s) for s in sentences] == [1000, 1000, 500, 2]
  assert sum(sentences[:3], []) == words
  truncated = list(text.iter_sentences([str(path)], standardize="none", max_length=10,
                                       truncate=True, chunk_bytes=64))
  assert truncated == [words[:10], ["last", "line"]]
  assert list(text.read_lines([str(path)])) == [" ".join(words) + "\n", "last line\n"]


def test_bad_utf8_deep_in_a_long_line_names_line_and_column(tmp_path):
  path = tmp_path / "bad.txt"
  path.write_bytes(b"ok\n" + b"abc " * 100 + b"\xff tail\n")
  with pytest.raises(text.CorpusError, match=r"bad.txt: line 2: not valid UTF-8 .* column 401\)"):
    list(text.iter_sentences([str(path)], chunk_bytes=64))


@pytest.mark.parametrize("chunk_bytes", [16, 1 << 20])
def test_last_line_without_newline_is_a_sentence(tmp_path, chunk_bytes):
  path = tmp_path / "no_newline.txt"
  path.write_text("a b\nc d e " * 3 + "last words here", encoding="utf-8")
  sentences = list(text.iter_sentences([str(path)], standardize="none", chunk_bytes=chunk_bytes))
  assert sentences == [["a", "b"], ["c", "d", "e", "a", "b"], ["c", "d", "e", "a", "b"],
                       ["c", "d", "e", "last", "words", "here"]]


def test_a_line_longer_than_the_chunk_gives_the_ids_of_the_same_words_on_lines(tmp_path):
  from w2v_jax import config as config_lib  # pylint: disable=import-outside-toplevel
  from w2v_jax import corpus  # pylint: disable=import-outside-toplevel

  # Over 2 chunks of text, with a non-ASCII word and a tab: cuts only after whitespace.
  words = [f"w{i * 7919 % 300}" if i % 11 else "naïve" for i in range(40_000)]
  assert len(" ".join(words).encode()) > 2 * text.CHUNK_BYTES
  one_line, lines = tmp_path / "one_line.txt.gz", tmp_path / "lines.txt.gz"
  with gzip.open(one_line, "wt", encoding="utf-8") as f:
    f.write(" ".join(words[:100]) + "\t" + " ".join(words[100:]))  # No newline at all.
  with gzip.open(lines, "wt", encoding="utf-8") as f:
    f.write("\n".join(" ".join(words[i:i + 17]) for i in range(0, len(words), 17)) + "\n")
  built = {}
  for name, path in (("one_line", one_line), ("lines", lines)):
    spec = config_lib.CorpusConfig(corpus=(str(path),), min_count=1)
    vocab, encoded = corpus.load_or_build(spec, str(tmp_path / name))
    built[name] = vocab.words, np.asarray(encoded.ids), np.diff(encoded.offsets)
  assert built["one_line"][0] == built["lines"][0]
  np.testing.assert_array_equal(built["one_line"][1], built["lines"][1])  # Token for token.
  assert built["one_line"][2].tolist() == [1000] * 40  # word2vec.c's cuts over the whole line.


def test_a_word_longer_than_the_chunk_is_read_whole(tmp_path):
  word = "aé" * 40  # 120 bytes, no whitespace: a cut inside it would split a character.
  path = tmp_path / "long_word.txt"
  path.write_text(f"x {word} y\n{word}", encoding="utf-8")
  pieces = list(text.read_pieces([str(path)], chunk_bytes=16))
  assert "".join(p for p, _ in pieces) == f"x {word} y\n{word}"
  assert list(text.iter_sentences([str(path)], standardize="none", chunk_bytes=16)) == [
      ["x", word, "y"], [word]]


def test_reading_one_line_holds_no_more_than_a_chunk_of_tokens(tmp_path):
  """The tokens of a piece cost ~10x its bytes as Python strings: a one-line corpus read in
  pieces of a megabyte held ~20 MB more than the same words as lines (pieces of 170k tokens)."""
  words = [f"w{i * 7919 % 5000}" for i in range(200_000)]  # 1.1 MB on one line.
  one_line, lines = tmp_path / "one_line.txt", tmp_path / "lines.txt"
  one_line.write_text(" ".join(words), encoding="utf-8")
  lines.write_text("\n".join(" ".join(words[i:i + 17]) for i in range(0, len(words), 17)),
                   encoding="utf-8")
  peaks = {}
  for path in (one_line, lines):
    tracemalloc.start()
    try:
      assert sum(len(s) for s in text.iter_sentences([str(path)], "none")) == len(words)
      peaks[path.name] = tracemalloc.get_traced_memory()[1]
    finally:
      tracemalloc.stop()
  assert peaks["one_line.txt"] < peaks["lines.txt"] + (3 << 20), peaks
