"""Analogy accuracy (3CosAdd) and word-pair similarity of word vectors, scored as gensim does."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Container, Iterator, Sequence
from typing import Any

import numpy as np

# Score matrices are built in row chunks of at most this many elements (4 MB of float32): small
# enough to stay under the training loop's peak memory, big enough for a fast matrix product.
_CHUNK_ELEMENTS = 1 << 20
# gensim's evaluate_word_analogies looks at this many neighbours for an answer that is not a
# case variant of a query word; more would change which questions count as correct.
_ANALOGY_CANDIDATES = 5


@dataclasses.dataclass(frozen=True)
class SectionResult:
  """Analogy counts for one `: section` of the questions file; `total` excludes OOV questions."""
  name: str
  correct: int
  total: int
  oov: int

  @property
  def accuracy(self) -> float:
    return self.correct / self.total if self.total else 0.0


@dataclasses.dataclass(frozen=True)
class AnalogyResult:
  """Per-section and overall analogy counts; accuracy is over in-vocabulary questions only."""
  sections: tuple[SectionResult, ...]

  @property
  def correct(self) -> int:
    return sum(s.correct for s in self.sections)

  @property
  def total(self) -> int:
    return sum(s.total for s in self.sections)

  @property
  def oov(self) -> int:
    return sum(s.oov for s in self.sections)

  @property
  def accuracy(self) -> float:
    return self.correct / self.total if self.total else 0.0

  @property
  def accuracy_all(self) -> float:
    """Over every question, out-of-vocabulary ones counted wrong (comparable across vocabularies)."""
    asked = self.total + self.oov
    return self.correct / asked if asked else 0.0

  def as_dict(self) -> dict[str, float]:
    return {"analogy_accuracy": self.accuracy, "analogy_accuracy_all": self.accuracy_all,
            "analogy_correct": self.correct, "analogy_total": self.total, "analogy_oov": self.oov}


@dataclasses.dataclass(frozen=True)
class SimilarityResult:
  """Correlations of cosine with human scores over `pairs` scored pairs (NaN if fewer than 2)."""
  spearman: float
  pearson: float
  pairs: int
  oov: int

  def as_dict(self) -> dict[str, float]:
    return {"wordsim_spearman": self.spearman, "wordsim_pearson": self.pearson,
            "wordsim_pairs": self.pairs, "wordsim_oov": self.oov}


def default_eval_path(name: str) -> str:
  """Path of a bundled evaluation file: 'questions-words.txt' or 'wordsim353.tsv'."""
  directory = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "eval")
  path = os.path.join(directory, name)
  if not os.path.isfile(path):
    available = sorted(f for f in os.listdir(directory) if not f.endswith(".md"))
    raise ValueError(f"no bundled evaluation file {name!r}; available: {', '.join(available)}")
  return path


def normalize(vectors: np.ndarray) -> np.ndarray:
  """Rows scaled to unit length; zero rows stay zero."""
  vectors = np.asarray(vectors)
  if not np.issubdtype(vectors.dtype, np.floating):
    vectors = vectors.astype(np.float64)
  # einsum, not linalg.norm: no squared copy of the whole matrix.
  norms = np.sqrt(np.einsum("...d,...d->...", vectors, vectors))[..., None]
  return vectors / np.where(norms == 0, 1, norms).astype(vectors.dtype)


def top_k(scores_QxV: np.ndarray, k: int) -> np.ndarray:
  """Column indices of each row's k largest scores, best first."""
  num_rows, num_cols = scores_QxV.shape
  k = min(k, num_cols)
  if k <= 0:
    return np.zeros((num_rows, 0), np.int64)
  if k == 1:
    return np.argmax(scores_QxV, axis=1)[:, None]
  part_QxK = np.argpartition(scores_QxV, num_cols - k, axis=1)[:, num_cols - k:]
  order_QxK = np.argsort(-np.take_along_axis(scores_QxV, part_QxK, axis=1), axis=1, kind="stable")
  return np.take_along_axis(part_QxK, order_QxK, axis=1)


def chunk_rows(num_rows: int, row_size: int) -> Iterator[slice]:
  """Slices over `num_rows` rows of `row_size` elements, each chunk within the memory budget."""
  step = max(1, _CHUNK_ELEMENTS // max(1, row_size))
  for start in range(0, num_rows, step):
    yield slice(start, min(start + step, num_rows))


def _restricted_vocab(
    words: Sequence[str], vectors: np.ndarray, restrict_vocab: int, case_insensitive: bool
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
  """Rows of `vectors` holding the first `restrict_vocab` words, each one's key id, key -> index.

  Indices (key ids and key_to_row's values) count positions in the returned rows.
  """
  if vectors.ndim != 2 or vectors.shape[0] != len(words):
    raise ValueError(f"expected vectors of shape ({len(words)}, dim), got {vectors.shape}")
  # The padding row ('') is not a word and exported files skip it; gensim keeps the first of
  # duplicate words in a file. Dropping both first makes restrict_vocab count the same rows.
  first: dict[str, int] = {}
  for i, w in enumerate(words):
    if w != "":
      first.setdefault(w, i)
  rows = list(first.values())[:restrict_vocab]
  keys = [words[i].upper() if case_insensitive else words[i] for i in rows]
  key_to_row: dict[str, int] = {}
  for row, key in enumerate(keys):
    key_to_row.setdefault(key, row)  # Case variants share the first (most frequent) row: gensim.
  key_id = np.array([key_to_row[k] for k in keys], np.int64)
  return np.array(rows, np.int64), key_id, key_to_row


def _open_lines(path: str) -> list[str]:
  if not os.path.isfile(path):
    raise ValueError(f"{path}: no such file")
  try:
    with open(path, encoding="utf-8") as f:
      return f.read().splitlines()
  except UnicodeDecodeError as e:
    raise ValueError(f"{path}: not UTF-8 text ({e})") from e


def read_analogies(path: str) -> list[tuple[str, list[tuple[int, tuple[str, str, str, str]]]]]:
  """Sections of a questions-words.txt file: (name, [(line number, (a, b, c, d)), ...])."""
  sections: list[tuple[str, list[tuple[int, tuple[str, str, str, str]]]]] = []
  for line_no, line in enumerate(_open_lines(path), start=1):
    if not line.strip():
      continue
    if line.startswith(":"):
      sections.append((line.lstrip(": ").strip(), []))
      continue
    parts = line.split()
    if len(parts) != 4:
      raise ValueError(f"{path}: line {line_no}: expected 4 words, got {len(parts)}: {line[:80]!r}")
    if not sections:
      raise ValueError(f"{path}: line {line_no}: question before the first ': section' header")
    sections[-1][1].append((line_no, (parts[0], parts[1], parts[2], parts[3])))
  return sections


def _first_answers(
    scores_QxV: np.ndarray, key_id_V: np.ndarray, query_Qx3: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
  """gensim's pick among each row's k best: the first that is not a case variant of a query word.

  Returns the answer's key id (-1 if no candidate) and whether such an answer was among the k.
  """
  best_QxK = top_k(scores_QxV, k)
  found_QxK = np.take_along_axis(scores_QxV, best_QxK, axis=1) > -np.inf
  key_QxK = key_id_V[best_QxK]
  usable_QxK = found_QxK & ~(key_QxK[:, :, None] == query_Qx3[:, None, :]).any(axis=2)
  settled_Q = usable_QxK.any(axis=1)
  # With no usable answer gensim keeps the last candidate it looked at.
  pick_Q = np.where(settled_Q, np.argmax(usable_QxK, axis=1), found_QxK.sum(axis=1) - 1)
  chosen_Q = np.take_along_axis(key_QxK, np.maximum(pick_Q, 0)[:, None], axis=1)[:, 0]
  return np.where(pick_Q >= 0, chosen_Q, -1), settled_Q


def _analogy_predictions(
    unit_VxD: np.ndarray, key_id_V: np.ndarray, questions_Qx4: np.ndarray,
    extra_ExD: np.ndarray | None = None,
) -> np.ndarray:
  """Key id of each question's 3CosAdd answer, or -1 where there is no candidate.

  Question words index the candidates' rows, or with ids V + e the rows of `extra_ExD` (words
  outside the candidates, such as vectors composed from n-grams), which are never answers.
  """
  predicted_Q = np.full(questions_Qx4.shape[0], -1, np.int64)
  vocab_size = unit_VxD.shape[0]
  queries = unit_VxD if extra_ExD is None else np.concatenate([unit_VxD, extra_ExD])
  for rows in chunk_rows(questions_Qx4.shape[0], vocab_size):
    query_Qx3 = questions_Qx4[rows, :3]
    a, b, c = query_Qx3.T
    # The mean and norm of gensim's target vector scale every score alike, so the order is the same.
    scores_QxV = (queries[b] - queries[a] + queries[c]) @ unit_VxD.T
    question, slot = np.nonzero(query_Qx3 < vocab_size)  # Query words are never the answer.
    scores_QxV[question, query_Qx3[question, slot]] = -np.inf
    # The best answer almost always settles it; gensim looks further only past case variants.
    answer_Q, settled_Q = _first_answers(scores_QxV, key_id_V, query_Qx3, 1)
    redo = ~settled_Q & (answer_Q >= 0)
    if redo.any():
      answer_Q[redo], _ = _first_answers(scores_QxV[redo], key_id_V, query_Qx3[redo],
                                         _ANALOGY_CANDIDATES)
    predicted_Q[rows] = answer_Q
  return predicted_Q


def analogy_accuracy(
    words: Sequence[str], vectors: np.ndarray, path: str, restrict_vocab: int = 30000,
    case_insensitive: bool = True,
) -> AnalogyResult:
  """3CosAdd accuracy on a questions-words.txt file; gensim's `evaluate_word_analogies`."""
  return analogy_accuracy_any(words, vectors, lambda word: None, path, restrict_vocab,
                              case_insensitive)[0]


def analogy_accuracy_any(
    words: Sequence[str], vectors: np.ndarray, vector_of: Callable[[str], np.ndarray | None],
    path: str, restrict_vocab: int = 30000, case_insensitive: bool = True,
) -> tuple[AnalogyResult, int]:
  """`analogy_accuracy` with question words outside the vocabulary given vectors by `vector_of`
  (a casefolded word -> vector or None; e.g. composed from subwords).

  Answers are still searched among the first `restrict_vocab` words, so a question counts when
  its answer is among them and its three other words have vectors. Returns the result (its
  `oov`: questions left out) and how many scored questions used a vector from `vector_of`.
  """
  vectors = np.asarray(vectors)
  rows_V, key_id_V, key_to_row = _restricted_vocab(words, vectors, restrict_vocab,
                                                   case_insensitive)
  unit_VxD = normalize(vectors[rows_V].astype(np.float32, copy=False))
  fold: Callable[[str], str] = str.upper if case_insensitive else str
  extra: dict[str, int] = {}  # Composed word -> its row after the vocabulary's.
  extra_rows: list[np.ndarray] = []

  def row_of(word: str) -> int:
    if fold(word) in key_to_row:
      return key_to_row[fold(word)]
    key = word.casefold()
    if key not in extra:
      vector = vector_of(key)
      extra[key] = -1 if vector is None else len(unit_VxD) + len(extra_rows)
      if vector is not None:
        extra_rows.append(np.asarray(vector, np.float32))
    return extra[key]

  sections = []  # (name, questions asked [Q, 4], how many were left out)
  for name, questions in read_analogies(path):
    asked = [[row_of(a), row_of(b), row_of(c), key_to_row[fold(d)]]
             for _, (a, b, c, d) in questions if fold(d) in key_to_row]
    asked_Qx4 = np.array([q for q in asked if min(q) >= 0], np.int64).reshape(-1, 4)
    sections.append((name, asked_Qx4, len(questions) - len(asked_Qx4)))
  extra_ExD = normalize(np.stack(extra_rows)) if extra_rows else None
  results, outside = [], 0
  for name, asked_Qx4, left_out in sections:
    outside += int(np.sum((asked_Qx4[:, :3] >= len(unit_VxD)).any(axis=1)))
    predicted_Q = _analogy_predictions(unit_VxD, key_id_V, asked_Qx4, extra_ExD)
    correct = int(np.sum(predicted_Q == asked_Qx4[:, 3]))
    results.append(SectionResult(name, correct, len(asked_Qx4), left_out))
  return AnalogyResult(tuple(results)), outside


def read_word_pairs(path: str) -> list[tuple[int, str, str, float]]:
  """(line number, word1, word2, score) rows of a wordsim353.tsv-style file; '#' starts comments."""
  pairs = []
  for line_no, line in enumerate(_open_lines(path), start=1):
    if not line.strip() or line.startswith("#"):
      continue
    parts = [p.strip() for p in (line.split("\t") if "\t" in line else line.split())]
    if len(parts) != 3:
      raise ValueError(f"{path}: line {line_no}: expected 'word1<TAB>word2<TAB>score', "
                       f"got {line[:80]!r}")
    try:
      score = float(parts[2])
    except ValueError:
      raise ValueError(f"{path}: line {line_no}: score {parts[2]!r} is not a number") from None
    pairs.append((line_no, parts[0], parts[1], score))
  return pairs


def rankdata(x: np.ndarray) -> np.ndarray:
  """1-based ranks; tied values share the average of their ranks (scipy's 'average')."""
  x = np.asarray(x)
  order = np.argsort(x, kind="stable")
  sorted_x = x[order]
  starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
  ends = np.r_[starts[1:], len(x)]
  average = (starts + ends + 1) / 2.0  # Mean of the 1-based ranks start+1 .. end.
  ranks = np.empty(len(x), np.float64)
  ranks[order] = np.repeat(average, ends - starts)
  return ranks


def pearson(x: np.ndarray, y: np.ndarray) -> float:
  """Pearson correlation; NaN if fewer than 2 values or either side is constant."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  if len(x) < 2:
    return math.nan
  dx, dy = x - x.mean(), y - y.mean()
  denominator = math.sqrt(float(dx @ dx) * float(dy @ dy))
  return float(dx @ dy) / denominator if denominator > 0 else math.nan


def spearman(x: np.ndarray, y: np.ndarray) -> float:
  """Spearman rank correlation: Pearson of average ranks."""
  return pearson(rankdata(x), rankdata(y))


def word_similarity(
    words: Sequence[str], vectors: np.ndarray, path: str, restrict_vocab: int = 300000,
    case_insensitive: bool = True,
) -> SimilarityResult:
  """Cosine against human scores; gensim's `evaluate_word_pairs` with dummy4unknown=False."""
  vectors = np.asarray(vectors)
  rows_V, _, key_to_row = _restricted_vocab(words, vectors, restrict_vocab, case_insensitive)
  fold: Callable[[str], str] = str.upper if case_insensitive else str
  pairs = read_word_pairs(path)
  rows = [(key_to_row.get(fold(a), -1), key_to_row.get(fold(b), -1), s) for _, a, b, s in pairs]
  known = np.array([(i, j) for i, j, _ in rows if i >= 0 and j >= 0], np.int64).reshape(-1, 2)
  human = np.array([s for i, j, s in rows if i >= 0 and j >= 0], np.float64)
  # Only the rows in the pairs are normalised: a full-vocabulary copy would cost more memory
  # than anything else in the run.
  first, second = (normalize(vectors[rows_V[known[:, i]]].astype(np.float32)).astype(np.float64)
                   for i in (0, 1))
  cosine = np.einsum("nd,nd->n", first, second)
  return SimilarityResult(spearman(human, cosine), pearson(human, cosine), len(known),
                          len(pairs) - len(known))


def word_similarity_any(
    vector_of: Callable[[str], np.ndarray | None], vocabulary: Container[str], path: str,
) -> tuple[SimilarityResult, int]:
  """WordSim with every pair whose words have a vector at all, e.g. through subwords.

  `vector_of(word)` gives a casefolded word's vector or None. Returns the result (its `oov`: the
  pairs still without vectors) and how many scored pairs had a word outside `vocabulary`.
  """
  pairs = read_word_pairs(path)
  human, cosine, outside = [], [], 0
  for _, a, b, score in pairs:
    a, b = a.casefold(), b.casefold()
    va, vb = vector_of(a), vector_of(b)
    if va is None or vb is None:
      continue
    first, second = normalize(np.stack([va, vb]).astype(np.float32)).astype(np.float64)
    human.append(score)
    cosine.append(float(first @ second))
    outside += a not in vocabulary or b not in vocabulary
  human_N, cosine_N = np.asarray(human), np.asarray(cosine)
  result = SimilarityResult(spearman(human_N, cosine_N), pearson(human_N, cosine_N), len(human),
                            len(pairs) - len(human))
  return result, outside


def evaluate_vectors(words: Sequence[str], vectors: np.ndarray, analogies: str | None = None,
                     wordsim: str | None = None, composer: Any = None) -> dict[str, float]:
  """Analogy accuracy and WordSim Spearman (the bundled sets unless files are given), as
  "eval/..." metrics.

  With `composer` (a subwords.SubwordVectors), WordSim and analogies again with words outside
  the vocabulary composed from their n-grams (eval/wordsim_subwords_*, analogy_subwords_*;
  `..._outside`: the pairs or questions that needed such a word).
  """
  words = list(words)
  analogies = analogies or default_eval_path("questions-words.txt")
  wordsim = wordsim or default_eval_path("wordsim353.tsv")
  results = {}
  results.update(analogy_accuracy(words, vectors, analogies).as_dict())
  results.update(word_similarity(words, vectors, wordsim).as_dict())
  if composer is not None:
    index = {w: i for i, w in enumerate(words)}

    def vector_of(word: str) -> np.ndarray | None:
      return vectors[index[word]] if word in index else composer.vector(word)

    sim, outside = word_similarity_any(vector_of, index, wordsim)
    results.update({f"wordsim_subwords_{k.split('_', 1)[1]}": v for k, v in sim.as_dict().items()})
    results["wordsim_subwords_outside"] = outside
    analogy, outside = analogy_accuracy_any(words, vectors, vector_of, analogies)
    results.update({f"analogy_subwords_{k.split('_', 1)[1]}": v
                    for k, v in analogy.as_dict().items()})
    results["analogy_subwords_outside"] = outside
  return {f"eval/{k}": float(v) for k, v in results.items()}
