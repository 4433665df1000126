"""Analogy accuracy and word similarity: hand-derived answers, then agreement with gensim."""

import math

import numpy as np
import pytest

from conftest import TINY_VECTORS
from w2v_jax import evaluate

TINY = TINY_VECTORS


def tiny():
  return list(TINY), np.array(list(TINY.values()), np.float32)


def write(tmp_path, name, text):
  path = tmp_path / name
  path.write_text(text, encoding="utf-8")
  return str(path)


def test_normalize_unit_rows_and_zero_rows():
  out = evaluate.normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
  np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])


def test_top_k_best_first():
  scores = np.array([[0.1, 0.9, 0.5, 0.7], [4.0, 3.0, 2.0, 1.0]])
  np.testing.assert_array_equal(evaluate.top_k(scores, 2), [[1, 3], [0, 1]])
  assert evaluate.top_k(scores, 10).shape == (2, 4)


def test_analogy_hand_derived(tmp_path):
  path = write(tmp_path, "q.txt", ": royalty\n"
               "man king woman queen\n"       # king - man + woman = queen: right
               "woman queen man king\n"       # queen - woman + man = king: right
               "king man queen woman\n"       # man - king + queen = woman: right
               "man woman king apple\n"       # woman - man + king = queen, not apple: wrong
               "\n"
               ": unknown\n"
               "man king woman princess\n")
  result = evaluate.analogy_accuracy(*tiny(), path)
  assert [(s.name, s.correct, s.total, s.oov) for s in result.sections] == [
      ("royalty", 3, 4, 0), ("unknown", 0, 0, 1)]
  assert (result.correct, result.total, result.oov) == (3, 4, 1)
  assert result.accuracy == 0.75  # OOV questions are not in the denominator (gensim's rule).
  assert result.accuracy_all == 0.6  # Over all 5 questions, the OOV one counted wrong.
  assert result.as_dict() == {"analogy_accuracy": 0.75, "analogy_accuracy_all": 0.6,
                              "analogy_correct": 3, "analogy_total": 4, "analogy_oov": 1}


def test_analogy_case_handling(tmp_path):
  path = write(tmp_path, "q.txt", ": upper\nMAN KING WOMAN QUEEN\n")
  assert evaluate.analogy_accuracy(*tiny(), path).correct == 1
  sensitive = evaluate.analogy_accuracy(*tiny(), path, case_insensitive=False)
  assert (sensitive.correct, sensitive.total, sensitive.oov) == (0, 0, 1)


def test_analogy_restrict_vocab_limits_questions_and_answers(tmp_path):
  words, vectors = tiny()
  # 'queen' is off the exact answer; 'empress' (rarest word) is exactly on it.
  vectors[words.index("queen")] = (0.1, 0.6, 0.8)
  words, vectors = words + ["empress"], np.vstack([vectors, [[0.0, 0.6, 0.8]]])
  path = write(tmp_path, "q.txt", ": s\nman king woman queen\n")
  assert evaluate.analogy_accuracy(words, vectors, path).correct == 0  # Answer: empress.
  assert evaluate.analogy_accuracy(words, vectors, path, restrict_vocab=5).correct == 1
  oov = evaluate.analogy_accuracy(words, vectors, path, restrict_vocab=3)  # queen is row 3.
  assert (oov.total, oov.oov) == (0, 1)


def test_padding_row_is_ignored(tmp_path):
  words, vectors = tiny()
  path = write(tmp_path, "q.txt", ": s\nman woman king queen\n")
  # A padding vector on the exact answer must not take it, nor use up restrict_vocab.
  padded = evaluate.analogy_accuracy([""] + words, np.vstack([[[0.0, 0.6, 0.8]], vectors]), path,
                                     restrict_vocab=5)
  assert padded.correct == 1


def test_duplicate_words_keep_the_first_row(tmp_path):
  words, vectors = tiny()
  path = write(tmp_path, "q.txt", ": s\nman king woman queen\n")
  # As gensim's load_word2vec_format does: a later 'king' row neither counts nor answers.
  dup_words, dup_vectors = words[:3] + ["king"] + words[3:], np.insert(vectors, 3, -vectors[2], 0)
  result = evaluate.analogy_accuracy(dup_words, dup_vectors, path, restrict_vocab=4)
  assert (result.correct, result.total) == (1, 1)


def test_rankdata_averages_ties():
  np.testing.assert_array_equal(evaluate.rankdata(np.array([10, 20, 20, 5, 20])),
                                [2, 4, 4, 1, 4])


def test_spearman_hand_computed_with_ties():
  # Ranks [1, 2.5, 2.5, 4] and [1, 3, 2, 4]: covariance 4.5 / sqrt(4.5 * 5) = 3 / sqrt(10).
  assert evaluate.spearman(np.array([1, 2, 2, 3]), np.array([1, 3, 2, 4])) == pytest.approx(
      3 / math.sqrt(10), abs=1e-12)
  assert math.isnan(evaluate.spearman(np.array([1.0]), np.array([2.0])))
  assert math.isnan(evaluate.pearson(np.array([1.0, 1.0]), np.array([1.0, 2.0])))


def test_spearman_matches_scipy():
  stats = pytest.importorskip("scipy.stats")
  rng = np.random.default_rng(0)
  x, y = rng.integers(0, 5, 50), rng.normal(size=50)
  assert evaluate.spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-12)
  assert evaluate.pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-12)


def test_word_similarity_hand_derived(tmp_path):
  path = write(tmp_path, "ws.tsv", "# Word 1\tWord 2\tHuman (mean)\n"
               "king\tqueen\t9.0\n"    # cosine 0.64
               "man\tapple\t8.0\n"     # cosine 0.8
               "King\tman\t5.0\n"      # cosine -0.28
               "king\twoman\t2.0\n"    # cosine -0.64
               "king\tprincess\t3.0\n")
  result = evaluate.word_similarity(*tiny(), path)
  # Human ranks [4, 3, 2, 1] against model ranks [3, 4, 2, 1]: 1 - 6 * 2 / (4 * 15).
  assert result.spearman == pytest.approx(0.8)
  assert result.pearson == pytest.approx(np.corrcoef([9, 8, 5, 2], [0.64, 0.8, -0.28, -0.64])[0, 1])
  assert (result.pairs, result.oov) == (4, 1)
  assert set(result.as_dict()) == {"wordsim_spearman", "wordsim_pearson", "wordsim_pairs",
                                   "wordsim_oov"}
  sensitive = evaluate.word_similarity(*tiny(), path, case_insensitive=False)
  assert (sensitive.pairs, sensitive.oov) == (3, 2)


def test_word_similarity_all_oov_gives_nan(tmp_path):
  path = write(tmp_path, "ws.tsv", "cat\tdog\t7\n")
  result = evaluate.word_similarity(*tiny(), path)
  assert math.isnan(result.spearman) and (result.pairs, result.oov) == (0, 1)


@pytest.mark.parametrize("name,text,message", [
    ("q.txt", ": s\nman king woman\n", "q.txt: line 2: expected 4 words"),
    ("q.txt", "man king woman queen\n", "q.txt: line 1: question before"),
    ("ws.tsv", "# c\nking\tqueen\n", "ws.tsv: line 2: expected"),
    ("ws.tsv", "king\tqueen\thigh\n", "ws.tsv: line 1: score 'high' is not a number"),
])
def test_malformed_files_name_file_and_line(tmp_path, name, text, message):
  path = write(tmp_path, name, text)
  run = evaluate.analogy_accuracy if name == "q.txt" else evaluate.word_similarity
  with pytest.raises(ValueError, match=message):
    run(*tiny(), path)


def test_missing_file(tmp_path):
  with pytest.raises(ValueError, match="nope.txt: no such file"):
    evaluate.analogy_accuracy(*tiny(), str(tmp_path / "nope.txt"))


def test_default_eval_paths():
  assert evaluate.default_eval_path("questions-words.txt").endswith("eval/questions-words.txt")
  assert len(evaluate.read_word_pairs(evaluate.default_eval_path("wordsim353.tsv"))) == 353
  with pytest.raises(ValueError, match="available: questions-words.txt, wordsim353.tsv"):
    evaluate.default_eval_path("simlex.txt")


def structured_vocab(rng, questions_path, num_words=2000, dim=24):
  """Question words (lowercase, some with case variants), relations as noisy offsets, fillers."""
  sections = evaluate.read_analogies(questions_path)
  vocab = sorted({w.lower() for _, qs in sections for _, q in qs for w in q})
  variants = [w.capitalize() for w in rng.choice(vocab, 60, replace=False)]
  words = vocab + variants + [f"filler{i}" for i in range(num_words - len(vocab) - len(variants))]
  row = {w: i for i, w in enumerate(words)}
  vectors = rng.normal(size=(len(words), dim))
  derived = set()
  for _, questions in sections:
    offset = rng.normal(size=dim)
    for _, (a, b, c, d) in questions:
      for x, y in ((a.lower(), b.lower()), (c.lower(), d.lower())):
        if y not in derived:
          vectors[row[y]] = vectors[row[x]] + offset + 0.8 * rng.normal(size=dim)
          derived.add(y)
  for v in variants:  # Case variants sit near their word, so gensim's skip rule matters.
    vectors[row[v]] = vectors[row[v.lower()]] + 0.05 * rng.normal(size=dim)
  order = rng.permutation(len(words))  # Frequency order mixes everything up.
  return [words[i] for i in order], vectors[order].astype(np.float32)


def test_analogy_agrees_with_gensim(tmp_path):
  models = pytest.importorskip("gensim.models")
  rng = np.random.default_rng(0)
  full = evaluate.default_eval_path("questions-words.txt")
  words, vectors = structured_vocab(rng, full)
  lines = open(full, encoding="utf-8").read().splitlines()
  # Every 10th question keeps gensim's per-question loop fast.
  path = write(tmp_path, "q.txt", "\n".join(
      l for i, l in enumerate(lines) if l.startswith(":") or i % 10 == 0) + "\n")
  kv = models.KeyedVectors(vectors.shape[1])
  kv.add_vectors(words, vectors)
  score, gensim_sections = kv.evaluate_word_analogies(path, restrict_vocab=1500,
                                                      case_insensitive=True)
  ours = evaluate.analogy_accuracy(words, vectors, path, restrict_vocab=1500)
  assert gensim_sections[-1]["section"] == "Total accuracy"
  assert [(s.name, s.correct, s.total) for s in ours.sections] == [
      (g["section"], len(g["correct"]), len(g["correct"]) + len(g["incorrect"]))
      for g in gensim_sections[:-1]]
  assert 0.1 < ours.accuracy < 0.9 and ours.oov > 0  # A test that can tell answers apart.
  assert ours.accuracy == pytest.approx(score, abs=1e-3)


def test_word_similarity_agrees_with_gensim():
  models = pytest.importorskip("gensim.models")
  rng = np.random.default_rng(1)
  path = evaluate.default_eval_path("wordsim353.tsv")
  pair_words = sorted({w for _, a, b, _ in evaluate.read_word_pairs(path) for w in (a, b)})
  words = [w for w in pair_words if rng.random() < 0.9]
  words += sorted({w.upper() for w in pair_words[:40]} - set(words))  # Case variants.
  words = [words[i] for i in rng.permutation(len(words))]
  vectors = rng.normal(size=(len(words), 16)).astype(np.float32)
  kv = models.KeyedVectors(16)
  kv.add_vectors(words, vectors)
  pearson, spearman, oov_ratio = kv.evaluate_word_pairs(path, restrict_vocab=len(words) - 50)
  ours = evaluate.word_similarity(words, vectors, path, restrict_vocab=len(words) - 50)
  assert ours.spearman == pytest.approx(spearman[0], abs=1e-3)
  assert ours.pearson == pytest.approx(pearson[0], abs=1e-3)
  assert 100 * ours.oov / (ours.pairs + ours.oov) == pytest.approx(oov_ratio)
  assert ours.oov > 0
