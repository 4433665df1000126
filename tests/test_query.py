"""Embeddings queries against hand-derived answers, the loader, and the query CLI."""

import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, TINY_VECTORS
from w2v_jax import query


TINY = TINY_VECTORS


def tiny() -> query.Embeddings:
  return query.Embeddings(tuple(TINY), np.array(list(TINY.values()), np.float32))


def write_text_vectors(path, words, vectors):
  lines = [f"{len(words)} {vectors.shape[1]}"]
  lines += [w + " " + " ".join(repr(float(x)) for x in v) for w, v in zip(words, vectors)]
  path.write_text("\n".join(lines) + "\n", encoding="utf-8")
  return str(path)


def test_most_similar_known_neighbours():
  neighbours = tiny().most_similar("man", topn=2)
  assert [w for w, _ in neighbours] == ["apple", "woman"]
  np.testing.assert_allclose([s for _, s in neighbours], [0.8, 0.64], atol=1e-6)


def test_analogy_is_exact_and_excludes_query_words():
  (word, score), *rest = tiny().most_similar(["king", "woman"], ["man"], topn=10)
  assert word == "queen" and score == pytest.approx(1.0, abs=1e-6)
  assert {w for w, _ in rest} == {"apple"}  # Only 2 words are not in the query.


def test_similarity():
  emb = tiny()
  assert emb.similarity("king", "queen") == pytest.approx(0.64, abs=1e-6)
  assert emb.similarity("man", "king") == pytest.approx(-0.28, abs=1e-6)


def test_unknown_word_and_bad_arguments():
  emb = tiny()
  with pytest.raises(KeyError, match="'princess' is not in the vocabulary"):
    emb.most_similar(["king", "princess"])
  with pytest.raises(KeyError, match="princess"):
    emb.similarity("princess", "king")
  with pytest.raises(ValueError, match="at least one word"):
    emb.most_similar([])
  with pytest.raises(ValueError, match="topn"):
    emb.most_similar("man", topn=0)
  with pytest.raises(ValueError, match="shape"):
    query.Embeddings(("a", "b"), np.zeros((3, 2)))


def test_batch_equals_single_queries():
  rng = np.random.default_rng(0)
  emb = query.Embeddings(tuple(f"w{i}" for i in range(300)), rng.normal(size=(300, 16)))
  queries = ["w0", "w17", "w299", "w17"]
  batch = emb.most_similar_batch(queries, topn=7)
  for word, result in zip(queries, batch):
    single = emb.most_similar(word, topn=7)
    assert [w for w, _ in result] == [w for w, _ in single]
    np.testing.assert_allclose([s for _, s in result], [s for _, s in single], atol=1e-5)


def test_padding_row_is_never_an_answer():
  emb = query.Embeddings(("",) + tuple(TINY), np.vstack([[[0.6, 0.0, -0.8]], list(TINY.values())]))
  assert "" not in [w for w, _ in emb.most_similar("man", topn=5)]
  assert "" not in [w for w, _ in emb.most_similar_batch(["man"], topn=5)[0]]


def test_load_embeddings_from_run_dir_and_files(tmp_path):
  models = pytest.importorskip("gensim.models")
  words, vectors = list(TINY), np.array(list(TINY.values()), np.float32)
  text = write_text_vectors(tmp_path / "vectors.txt", words, vectors)
  assert query.load_embeddings(str(tmp_path)).words == tuple(words)  # Only vectors.txt there.
  kv = models.KeyedVectors(3)
  kv.add_vectors(words[::-1], vectors[::-1])
  kv.save_word2vec_format(str(tmp_path / "vectors.bin"), binary=True)
  assert query.load_embeddings(str(tmp_path)).words == tuple(words[::-1])  # .bin preferred.
  loaded = query.load_embeddings(text)
  np.testing.assert_allclose(loaded.vectors, vectors)
  (tmp_path / "empty").mkdir()
  with pytest.raises(ValueError, match="no vectors.bin or vectors.txt"):
    query.load_embeddings(str(tmp_path / "empty"))
  with pytest.raises(ValueError, match="no such file"):
    query.load_embeddings(str(tmp_path / "missing"))


def run_cli(*args):
  return subprocess.run([sys.executable, "-m", "experiments.query", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def vectors_file(tmp_path):
  return write_text_vectors(tmp_path / "tiny.txt", list(TINY),
                            np.array(list(TINY.values()), np.float32))


@pytest.mark.slow  # Each CLI run pays for importing JAX (w2v_jax/__init__.py).
def test_cli_neighbours_and_analogy(vectors_file):
  out = run_cli("--vectors", vectors_file, "--topn", "2", "man")
  assert out.returncode == 0, out.stderr
  assert out.stdout.splitlines()[:2] == ["man", "    1  apple                0.8000"]
  out = run_cli("--vectors", vectors_file, "--analogy", "man", "king", "woman")
  assert out.returncode == 0, out.stderr
  assert out.stdout.splitlines()[1].split()[:2] == ["1", "queen"]


@pytest.mark.slow
def test_cli_eval_prints_tables(vectors_file, tmp_path):
  analogies = tmp_path / "q.txt"
  analogies.write_text(": royalty\nman king woman queen\nman woman king apple\n")
  out = run_cli("--vectors", vectors_file, "--eval", f"--analogies={analogies}")
  assert out.returncode == 0, out.stderr
  assert out.stdout.split("\n")[2].split() == ["royalty", "1", "2", "0", "0.5000"]
  assert "spearman" in out.stdout and "pairs 2  oov 351" in out.stdout


@pytest.mark.slow
@pytest.mark.parametrize("args,message", [
    (["princess"], "error: word 'princess' is not in the vocabulary"),
    (["--run", "/nonexistent/run", "man"], "error: /nonexistent/run: no such file or directory"),
    (["--analogy", "man", "king"], "error: --analogy needs 3 words"),
])
def test_cli_user_errors_are_one_line(vectors_file, args, message):
  if "--run" not in args:
    args = ["--vectors", vectors_file, *args]
  out = run_cli(*args)
  assert out.returncode != 0
  lines = out.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith(message), out.stderr
