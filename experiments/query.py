r"""Queries trained vectors: neighbours, analogies, and the bundled evaluations.

  python -m experiments.query --run runs/kjv king queen               # neighbours of each word
  python -m experiments.query --run runs/kjv --analogy man king woman  # king - man + woman
  python -m experiments.query --vectors vectors.bin --eval             # analogy + WordSim tables

User errors print one line and exit with status 2.
"""

from __future__ import annotations

import sys

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("run", None, "Run directory holding model.bin, vectors.bin or vectors.txt.")
flags.DEFINE_string("vectors", None, "fastText .bin, word2vec .bin or text file (instead of "
                    "--run); a fastText model gives words outside its vocabulary vectors too.")
flags.DEFINE_integer("topn", 10, "Neighbours to print.", lower_bound=1)
flags.DEFINE_bool("analogy", False, "Read the words as 'a b c' and print neighbours of b - a + c.")
flags.DEFINE_bool("eval", False, "Print analogy accuracy and WordSim correlation.")
flags.DEFINE_string("analogies", None, "questions-words.txt-style file (default: bundled).")
flags.DEFINE_string("wordsim", None, "wordsim353.tsv-style file (default: bundled).")
flags.DEFINE_integer("restrict_vocab", 30000,
                     "Analogy questions and answers use only this many most frequent words.",
                     lower_bound=1)


def main(argv: list[str]) -> int:
  from w2v_jax import query  # pylint: disable=import-outside-toplevel

  words = argv[1:]
  if (FLAGS.run is None) == (FLAGS.vectors is None):
    return _fail("give exactly one of --run DIR or --vectors FILE")
  if FLAGS.analogy and len(words) != 3:
    return _fail(f"--analogy needs 3 words 'a b c' (b - a + c), got {len(words)}")
  if not words and not FLAGS.eval:
    return _fail("nothing to do: give words to query, or --eval")
  try:
    emb = query.load_embeddings(FLAGS.run or FLAGS.vectors)
    if FLAGS.analogy:
      a, b, c = words
      _print_neighbours(f"{b} - {a} + {c}", emb.most_similar([b, c], [a], topn=FLAGS.topn))
    elif words:
      for word, neighbours in zip(words, emb.most_similar_batch(words, topn=FLAGS.topn)):
        oov = " (not in the vocabulary: from its n-grams)" if word not in emb else ""
        _print_neighbours(word + oov, neighbours)
    if FLAGS.eval:
      _print_eval(emb)
  except KeyError as e:
    return _fail(str(e.args[0]))
  except ValueError as e:
    return _fail(str(e))
  return 0


def _print_neighbours(title: str, neighbours: list[tuple[str, float]]) -> None:
  print(title)
  for rank, (word, score) in enumerate(neighbours, start=1):
    print(f"  {rank:>3}  {word:<20} {score:.4f}")


def _print_eval(emb) -> None:
  from w2v_jax import evaluate  # pylint: disable=import-outside-toplevel

  analogies = FLAGS.analogies or evaluate.default_eval_path("questions-words.txt")
  wordsim = FLAGS.wordsim or evaluate.default_eval_path("wordsim353.tsv")
  result = evaluate.analogy_accuracy(emb.words, emb.vectors, analogies,
                                     restrict_vocab=FLAGS.restrict_vocab)
  print(f"analogies: {analogies} (answers from the top {FLAGS.restrict_vocab} words)")
  print(f"  {'section':<28} {'correct':>7} {'total':>7} {'oov':>7} {'accuracy':>9}")
  for s in (*result.sections, evaluate.SectionResult("total", result.correct, result.total,
                                                     result.oov)):
    print(f"  {s.name:<28} {s.correct:>7} {s.total:>7} {s.oov:>7} {s.accuracy:>9.4f}")
  sim = evaluate.word_similarity(emb.words, emb.vectors, wordsim)
  print(f"word similarity: {wordsim}")
  print(f"  spearman {sim.spearman:.4f}  pearson {sim.pearson:.4f}  "
        f"pairs {sim.pairs}  oov {sim.oov}")


def _fail(message: str) -> int:
  print(f"error: {message}", file=sys.stderr)
  return 2


if __name__ == "__main__":
  app.run(lambda argv: sys.exit(main(argv)))
