"""A run's input side: from its corpus and examples sections and the objective's needs to the
stream of blocks the step trains on.

  load      the vocabulary and encoded corpus (cached), the example source, the run's steps
  features  what the objective `needs()` (negatives, Huffman paths, n-gram rows) made on the
            host: added to each block, or kept by the step (the noise it draws from)
  lookups   the same for the fused kernel, which draws and walks them itself
  blocks    the blocks of batches from a position (the run prefetches them on a thread)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator

import numpy as np

from w2v_jax import config as config_lib
from w2v_jax import corpus as corpus_lib
from w2v_jax import data, fused, huffman, objectives, pairs, text
from w2v_jax import negatives as negatives_lib
from w2v_jax import subwords as subwords_lib
from w2v_jax import vocab as vocab_lib


@dataclasses.dataclass
class Data:
  """The corpus a run trains on, and its examples."""

  vocab: vocab_lib.Vocab
  corpus: corpus_lib.Corpus
  source: data.ExampleSource
  total_steps: int


def keep_probabilities(examples: config_lib.ExamplesConfig, vocab: vocab_lib.Vocab) -> np.ndarray:
  """Per-id keep probability: word2vec's from real counts, or the seed's Zipf table by rank."""
  if examples.subsampling == "word2vec":
    return pairs.word2vec_keep_prob(vocab.counts, examples.subsample)
  if examples.subsampling == "zipf":
    return pairs.zipf_sampling_table(len(vocab), examples.subsample)
  return np.ones(len(vocab))


def load(corpus_settings: config_lib.CorpusConfig, examples: config_lib.ExamplesConfig,
         needs: objectives.Needs, batch_size: int, *, seed: int, epochs: int,
         cache_dir: str | None = None) -> Data:
  """Vocabulary, encoded corpus (cached in `cache_dir`) and the example source of resolved
  sections; counts the steps of `batch_size` examples (over all replicas) in `epochs`."""
  vocab, corpus = corpus_lib.load_or_build(corpus_settings, cache_dir)
  if needs.paths and len(vocab) < 2:
    raise ValueError(f"--hs: hierarchical softmax needs at least 2 words in the vocabulary "
                     f"(this corpus has {len(vocab)} at --min_count={corpus_settings.min_count})")
  keep = keep_probabilities(examples, vocab)
  source = data.ExampleSource(corpus, keep, examples, seed, skip_id=vocab.pad_id,
                              draw_negatives=_example_negatives(examples, vocab, needs))
  if examples.layout == "sentences":
    total_steps = (data.count_sentence_steps(source, epochs, batch_size)
                   if _has_pairs(corpus, keep) else 0)
  else:
    total_steps = data.count_steps(source, epochs, batch_size)
  if total_steps == 0:
    raise text.CorpusError(f"{', '.join(corpus_settings.corpus)}: no training pairs: "
                           f"{_why_no_pairs(source, corpus_settings.min_count)}")
  return Data(vocab, corpus, source, total_steps)


def _has_pairs(corpus: corpus_lib.Corpus, keep: np.ndarray) -> bool:
  """Whether the fused step may find pairs: sentences of two words or more, and in them more
  than one word expected to survive subsampling (its count without drawing it)."""
  lengths = np.diff(corpus.offsets)
  paired = int(lengths[lengths >= 2].sum())
  if paired * float(keep.min(initial=1.0)) >= 2:  # Without a pass over the tokens.
    return True
  in_pairs = np.repeat(lengths >= 2, lengths)
  return bool(in_pairs.any()) and keep[np.asarray(corpus.ids)[in_pairs]].sum() >= 2


def _why_no_pairs(source: data.ExampleSource, min_count: int) -> str:
  """The true cause of an empty example stream: the words, subsampling, or whole batches."""
  settings = source.settings
  keep_all = data.ExampleSource(source.corpus, np.ones_like(source.keep_prob), settings,
                                source.seed, skip_id=source.skip_id)
  examples = sum(keep_all.count(0, p) for p in range(keep_all.num_pieces))
  if examples == 0:
    return f"every sentence has fewer than 2 words with count >= {min_count}"
  kept = sum(source.count(0, p) for p in range(source.num_pieces))
  subsampling = (f"subsampling (--subsampling={settings.subsampling} "
                 f"--subsample={settings.subsample:g})")
  if kept == 0:
    return (f"{subsampling} dropped the words of every one of its {examples} examples; on a "
            "corpus this small use --subsample=0")
  if settings.layout == "sentences":  # Subsampling may keep a pair, expected to keep none.
    return f"{subsampling} drops nearly every word; on a corpus this small use --subsample=0"
  return (f"its {kept} examples make no whole batch of {settings.batch_size} "
          "(--drop_remainder drops a partial one)")


def noise_table(draws: objectives.NegativeDraws | None, vocab: vocab_lib.Vocab, rows: int
                ) -> negatives_lib.AliasTable | None:
  """The unigram^power alias table over `rows` ids (padding rows past the vocabulary: never);
  None where the negatives are not unigram's."""
  if draws is None or draws.distribution != "unigram":
    return None
  counts = np.zeros(rows, np.int64)
  counts[:len(vocab)] = vocab.counts
  return negatives_lib.build_alias_table(negatives_lib.unigram_probs(counts, draws.power))


def _example_negatives(examples: config_lib.ExamplesConfig, vocab: vocab_lib.Vocab,
                       needs: objectives.Needs
                       ) -> Callable[[np.random.Generator, int], np.ndarray] | None:
  """For a fixed training set, `draw(rng, n)`: n examples' negatives, drawn with them once."""
  draws = needs.negatives
  if not examples.fixed_training_set or draws is None:
    return None
  noise = noise_table(draws, vocab, len(vocab))
  slots = examples.slots

  def draw(rng: np.random.Generator, n: int) -> np.ndarray:
    shape = draws.shape(n, slots)
    if noise is not None:
      return negatives_lib.sample_alias_np(rng, noise, shape)
    # TF's sampler: each example's (or pair's) K negatives distinct.
    rows = math.prod(shape) // draws.count
    return negatives_lib.sample_log_uniform_np(rng, len(vocab), (rows, draws.count)).reshape(
        shape)

  return draw


@dataclasses.dataclass(frozen=True)
class Features:
  """An objective's needs made on the host: what the pipeline adds to each block, and the
  noise the step draws from (the alias table lives in one place: the pipeline's when negatives
  are drawn on the host, else the train state's)."""

  outputs: data.Outputs
  noise: negatives_lib.AliasTable | None


def features(examples: config_lib.ExamplesConfig, vocab: vocab_lib.Vocab, needs: objectives.Needs,
             rows: int, batch_size: int, *, negatives_on_host: bool, replicas: int = 1,
             generic: bool = True) -> Features:
  """`needs` for the generic step: negatives over `rows` ids (drawn in the pipeline where
  `negatives_on_host`, else by the step), the tree, the n-gram rows (one group of columns per
  replica, each with its own slots). Nothing for the fused step (`generic` False), which draws
  them itself (`lookups`)."""
  if not generic:
    return Features(data.Outputs(), None)
  tree, grams = _tree_and_ngrams(vocab, needs)
  added = {"tree": tree}
  if grams is not None:
    added.update(subwords=grams, subword_chunks=replicas,
                 centre_inputs=needs.ngrams.of == "centres")
  if examples.fixed_training_set:  # The examples carry their negatives.
    return Features(data.Outputs(**added), None)
  noise = noise_table(needs.negatives, vocab, rows)
  if noise is not None and negatives_on_host:
    shape = needs.negatives.shape(batch_size, examples.slots)
    return Features(data.Outputs(noise, shape, **added), None)
  return Features(data.Outputs(**added), noise)


def lookups(prepared: Data, needs: objectives.Needs) -> fused.Lookups:
  """`needs` for the fused kernel (host arrays): keep probabilities, noise, tree, n-grams."""
  vocab, source = prepared.vocab, prepared.source
  tree, grams = _tree_and_ngrams(vocab, needs)
  return fused.make_lookups(
      keep=source.keep_prob if source.settings.subsampling == "word2vec" else None,
      noise=noise_table(needs.negatives, vocab, len(vocab)), tree=tree, subwords=grams)


def _tree_and_ngrams(vocab: vocab_lib.Vocab, needs: objectives.Needs
                     ) -> tuple[huffman.HuffmanTree | None, subwords_lib.Subwords | None]:
  """The Huffman tree and the vocabulary's n-gram rows, where `needs` asks for them."""
  g = needs.ngrams
  return (huffman.build_huffman(vocab.counts) if needs.paths else None,
          None if g is None else subwords_lib.subwords(vocab.words, g.minn, g.maxn, g.bucket))


def blocks(source: data.ExampleSource, outputs: data.Outputs, epochs: int, batch_size: int,
           start: data.Position) -> Iterator[data.Block]:
  """The run's blocks of `steps_per_call` batches from `start` (the source's settings): whole
  sentences for the fused step, else windows or pairs with what `outputs` adds."""
  steps = source.settings.steps_per_call
  if source.settings.layout == "sentences":
    return data.sentence_blocks(source, epochs, batch_size, steps, start)
  return data.blocks(source, epochs, batch_size, steps, start, outputs)
