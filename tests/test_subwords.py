"""fastText subwords: n-grams and bucket ids, known answers and gensim's own functions."""

import numpy as np
import pytest

from w2v_jax import subwords


def test_fnv1a_matches_the_standard_on_ascii_and_sign_extends_other_bytes():
  # Published FNV-1a (32-bit) test vectors: "" and "a" and "foobar".
  assert subwords.fnv1a(b"") == 0x811C9DC5
  assert subwords.fnv1a(b"a") == 0xE40C292C
  assert subwords.fnv1a(b"foobar") == 0xBF9CF968
  # By hand, one byte >= 0x80: h = (2166136261 ^ 0xFFFFFFE9) * 16777619 mod 2**32.
  assert subwords.fnv1a(b"\xe9") == ((2166136261 ^ 0xFFFFFFE9) * 16777619) % 2**32
  standard = ((2166136261 ^ 0xE9) * 16777619) % 2**32
  assert subwords.fnv1a(b"\xe9") != standard  # fastText's, not the textbook FNV-1a.


def test_ngrams_in_fasttexts_order():
  assert subwords.ngrams("where", 3, 3) == ["<wh", "whe", "her", "ere", "re>"]
  assert subwords.ngrams("ab", 3, 6) == ["<ab", "<ab>", "ab>"]  # The whole "<ab>" too.
  assert subwords.ngrams("ab", 1, 2) == ["<a", "a", "ab", "b", "b>"]  # Never "<" or ">" alone.
  assert subwords.ngrams("né", 3, 3) == ["<né", "né>"]  # Characters, not bytes.


WORDS = ["where", "ab", "a", "né", "été", "日本語", "x" * 12, "</s>", "naïveté"]


@pytest.mark.parametrize("minn,maxn", [(3, 6), (1, 2), (2, 4)])
def test_vectorized_spans_and_hashes_equal_the_definition(minn, maxn):
  spans = subwords.ngram_spans(WORDS, minn, maxn)
  found = [spans.buffer[s:e].tobytes().decode("utf-8") for s, e in zip(spans.start, spans.end)]
  expected = [g for w in WORDS for g in subwords.ngrams(w, minn, maxn)]
  assert found == expected
  assert list(spans.word) == [i for i, w in enumerate(WORDS)
                              for _ in subwords.ngrams(w, minn, maxn)]
  hashes = subwords.hash_spans(spans)
  assert hashes.tolist() == [subwords.fnv1a(g.encode("utf-8")) for g in expected]


def test_subwords_table_compact_and_padded():
  table = subwords.subwords(WORDS, 3, 6, 1000)
  for i, word in enumerate(WORDS):
    want = [] if word == "</s>" else [subwords.fnv1a(g.encode()) % 1000
                                      for g in subwords.ngrams(word, 3, 6)]
    assert table.of(i).tolist() == want, word
  assert table.ids.dtype == np.int32 and table.offsets[-1] == len(table.ids)
  padded = table.padded()
  assert padded.shape == (len(WORDS), max(np.diff(table.offsets)))
  assert padded[1].tolist()[:3] == table.of(1).tolist() and set(padded[1, 3:]) == {-1}
  assert (table.padded(width=2)[0] == table.of(0)[:2]).all()


def test_bad_settings_are_one_line_errors():
  with pytest.raises(ValueError, match=r"--minn=4 --maxn=3"):
    subwords.subwords(WORDS, 4, 3, 10)
  with pytest.raises(ValueError, match=r"--bucket=0"):
    subwords.subwords(WORDS, 3, 6, 0)


def test_bucket_ids_equal_gensims():
  fasttext = pytest.importorskip("gensim.models.fasttext")
  words = WORDS[:7] + WORDS[8:] + ["über", "ĳssel", "🙂ok", "Ω"]
  table = subwords.subwords(words, 3, 6, 2_000_000)
  for i, word in enumerate(words):
    assert sorted(table.of(i).tolist()) == sorted(fasttext.ft_ngram_hashes(word, 3, 6, 2_000_000))
