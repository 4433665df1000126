"""A training run: config -> examples, objective and state -> the loop -> vectors and summary."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import json
import math
import os
import shutil
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from absl import logging

from w2v_jax import checkpoint as checkpoint_lib
from w2v_jax import config as config_lib
from w2v_jax import corpus as corpus_lib
from w2v_jax import data as data_lib
from w2v_jax import export, fused, huffman, io_utils, logs, loop, memory, native
from w2v_jax import negatives as negatives_lib
from w2v_jax import objectives
from w2v_jax import pairs as pairs_lib
from w2v_jax import parallel, placement
from w2v_jax import step as step_lib
from w2v_jax import subwords as subwords_lib
from w2v_jax import text
from w2v_jax import vocab as vocab_lib
from w2v_jax.config import Config

# Re-exported: callers catch these from here.
TrainingDiverged, Interrupted = loop.TrainingDiverged, loop.Interrupted
write_status, config_dict = logs.write_status, logs.config_dict


@dataclasses.dataclass
class Prepared:
  """Everything built from the corpus before the first step."""

  vocab: vocab_lib.Vocab
  corpus: corpus_lib.Corpus
  source: data_lib.ExampleSource
  total_steps: int


def corpus_spec(config: Config) -> corpus_lib.CorpusSpec:
  return corpus_lib.CorpusSpec(
      paths=tuple(config.corpus),
      standardize=config.standardize,
      min_count=config.min_count,
      max_vocab=config.max_vocab,
      reserved=config.reserved_tokens,
      tie_break=config.tie_break,
      sequence_length=config.sequence_length,
  )


def example_settings(config: Config, vocab: vocab_lib.Vocab) -> data_lib.ExampleSettings:
  return data_lib.ExampleSettings(
      layout=config.example_layout,
      window_size=config.window_size,
      dynamic_window=config.dynamic_window,
      subsampling=config.subsampling,
      skip_id=vocab.pad_id,
      shuffle=config.shuffle,
      fixed_training_set=config.fixed_training_set,
      repeat_batch_order=config.repeat_batch_order,
      drop_remainder=config.drop_remainder,
  )


def build_objective(config: Config) -> objectives.Word2Vec:
  return objectives.Word2Vec(
      model=config.model,
      num_ns=config.num_ns,
      hs=config.hs,
      output_loss=config.loss,
      cbow=config.cbow_mode,
      negatives_per=config.negatives_per,
      pool_size=config.shared_negatives if config.num_ns else 0,
      # The seed's sampler (TF's) may return the positive itself; keep that for faithfulness.
      skip_positive_negatives=config.negatives == "unigram",
      negatives=config.negatives,
      bucket=config.bucket if config.subwords else 0,
      input=config.input_word,
      window_negatives=config.window_negatives,
  )


def fused_unsupported(config: Config) -> str | None:
  """Why the fused step cannot train `config` (a flag to change), or None."""
  reasons = [
      (config.optimizer != "sgd", "--optimizer=sgd (the kernel applies SGD)"),
      (config.loss != "sigmoid", "--loss=sigmoid"),
      (config.num_ns > 0 and config.negatives != "unigram", "--negatives=unigram"),
      (config.shared_negatives > 0, "no --shared_negatives (it draws negatives per window)"),
      (config.subsampling == "zipf", "--subsampling=word2vec or none"),
      (config.fixed_training_set or config.repeat_batch_order or config.drop_remainder,
       "examples drawn afresh every epoch (no --fixed_training_set, --repeat_batch_order, "
       "--drop_remainder)"),
      (config.reserved_tokens or config.sequence_length is not None,
       "no --reserved_tokens or --sequence_length (whole sentences of vocabulary words)"),
      (config.layout == "pairs", "windows, not --layout=pairs (it makes each window itself)"),
      (config.replicas != 1 or config.table_sharding != "replicated",
       "one model on one device (--replicas=1, --table_sharding=replicated)"),
  ]
  return next((f"needs {flag}" for bad, flag in reasons if bad), None)


def resolve_step(config: Config, saved_step: str | None = None) -> Config:
  """`config` with `step` fused or generic: auto is fused where the fused step can train it
  (a CPU, one device, the kernel built), else generic; a resumed run keeps its own step.

  Raises ValueError (one line: why) for --step=fused where it cannot run.
  """
  if config.step == "auto" and saved_step in ("fused", "generic"):
    config = dataclasses.replace(config, step=saved_step)
  if config.step == "generic":
    return config
  why = fused_unsupported(config)
  if why is None and jax.default_backend() != "cpu":
    why = f"a CPU (this run's devices are {jax.default_backend()})"
  if why is None and jax.device_count() > 1:
    why = f"one device (this run has {jax.device_count()})"
  if why is None:
    try:
      native.load()
    except native.KernelUnavailable as e:
      why = str(e)
  if why is None:
    return dataclasses.replace(config, step="fused")
  if config.step == "fused":
    raise ValueError(f"--step=fused: {why}")
  if why.startswith("needs"):  # What auto means for these settings.
    logging.info("generic step: the fused step %s", why)
  else:
    logging.warning("generic step: the fused step is unavailable: %s", why)
  return dataclasses.replace(config, step="generic")


def thread_count(config: Config) -> int:
  """--threads, or the cores this process may run on."""
  if config.threads:
    return config.threads
  return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def fused_kernel(config: Config) -> fused.Kernel:
  return fused.Kernel(
      model=config.model, input=config.input_word, per_pair=config.negatives_per == "pair",
      num_ns=config.num_ns, window_draws=config.window_negatives or 2 * config.num_ns,
      hs=config.hs, cbow=config.cbow_mode, window=config.window_size,
      dynamic_window=config.dynamic_window, threads=thread_count(config))


def fused_lookups(config: Config, vocab: vocab_lib.Vocab, outputs: data_lib.Outputs,
                  noise: negatives_lib.AliasTable | None) -> fused.Lookups:
  """What the kernel reads: keep probabilities, noise, the tree and the n-grams."""
  keep = keep_probabilities(config, vocab) if config.subsampling == "word2vec" else None
  return jax.device_put(fused.make_lookups(keep, noise if noise is not None else outputs.noise,
                                           outputs.tree, outputs.subwords))


def keep_probabilities(config: Config, vocab: vocab_lib.Vocab) -> np.ndarray:
  """Per-id keep probability: word2vec's from real counts, or the seed's Zipf table by rank."""
  if config.subsampling == "word2vec":
    return pairs_lib.word2vec_keep_prob(vocab.counts, config.subsample)
  if config.subsampling == "zipf":
    return pairs_lib.zipf_sampling_table(len(vocab), config.subsample)
  return np.ones(len(vocab))


def prepare(config: Config, cache_dir: str | None, batch_size: int | None = None) -> Prepared:
  """Vocabulary, encoded corpus (cached) and the example source; counts the run's steps.

  `batch_size`: examples per step over all replicas (default: the config's).
  """
  vocab, corpus = corpus_lib.load_or_build(corpus_spec(config), cache_dir)
  if config.hs and len(vocab) < 2:
    raise ValueError(f"--hs: hierarchical softmax needs at least 2 words in the vocabulary "
                     f"(this corpus has {len(vocab)} at --min_count={config.min_count})")
  settings = example_settings(config, vocab)
  keep = keep_probabilities(config, vocab)
  source = data_lib.ExampleSource(corpus, keep, settings, config.seed,
                                  example_negatives(config, vocab, settings))
  batch_size = batch_size or config.examples_per_step
  if config.step == "fused":
    total_steps = data_lib.count_sentence_steps(source, config.epochs, batch_size)
    if not _has_pairs(corpus, keep):
      total_steps = 0
  else:
    total_steps = data_lib.count_steps(source, config.epochs, batch_size)
  if total_steps == 0:
    raise text.CorpusError(
        f"{', '.join(config.corpus)}: no training pairs: {_why_no_pairs(config, source)}")
  return Prepared(vocab, corpus, source, total_steps)


def _has_pairs(corpus: corpus_lib.Corpus, keep: np.ndarray) -> bool:
  """Whether the fused step may find pairs: sentences of two words or more, and in them more
  than one word expected to survive subsampling (its count without drawing it)."""
  lengths = np.diff(corpus.offsets)
  in_pairs = np.repeat(lengths >= 2, lengths)
  return bool(in_pairs.any()) and keep[np.asarray(corpus.ids)[in_pairs]].sum() >= 2


def _why_no_pairs(config: Config, source: data_lib.ExampleSource) -> str:
  """The true cause of an empty example stream: the words, subsampling, or whole batches."""
  keep_all = data_lib.ExampleSource(source.corpus, np.ones_like(source.keep_prob),
                                    source.settings, source.seed)
  examples = sum(keep_all.count(0, p) for p in range(keep_all.num_pieces))
  if examples == 0:
    return f"every sentence has fewer than 2 words with count >= {config.min_count}"
  kept = sum(source.count(0, p) for p in range(source.num_pieces))
  if kept == 0:
    return (f"subsampling (--subsampling={config.subsampling} --subsample={config.subsample:g}) "
            f"dropped the words of every one of its {examples} examples; on a corpus this small "
            "use --subsample=0")
  if config.step == "fused":  # Subsampling may keep a pair, but is expected to keep none.
    return (f"subsampling (--subsampling={config.subsampling} --subsample="
            f"{config.subsample:g}) drops nearly every word; on a corpus this small use "
            "--subsample=0")
  return (f"its {kept} examples make no whole batch of {config.examples_per_step} "
          "(--drop_remainder drops a partial one)")


def example_negatives(
    config: Config, vocab: vocab_lib.Vocab, settings: data_lib.ExampleSettings
) -> Callable[[np.random.Generator, int], np.ndarray] | None:
  """For a fixed training set, `draw(rng, n)`: n examples' negatives, drawn with them once."""
  if not (config.fixed_training_set and config.num_ns):
    return None
  objective = build_objective(config)
  noise = noise_table(config, vocab, len(vocab))

  def draw(rng: np.random.Generator, n: int) -> np.ndarray:
    shape = objective.negatives_shape(n, settings.slots)
    if noise is not None:
      return negatives_lib.sample_alias_np(rng, noise, shape)
    # TF's sampler: each example's (or pair's) K negatives distinct.
    rows = math.prod(shape) // config.num_ns
    return negatives_lib.sample_log_uniform_np(rng, len(vocab), (rows, config.num_ns)).reshape(
        shape)

  return draw


def noise_table(
    config: Config, vocab: vocab_lib.Vocab, rows: int
) -> negatives_lib.AliasTable | None:
  """The unigram^power alias table over `rows` ids (padding rows past the vocabulary: never)."""
  if config.negatives != "unigram" or not config.num_ns:
    return None
  counts = np.zeros(rows, np.int64)
  counts[:len(vocab)] = vocab.counts
  return negatives_lib.build_alias_table(negatives_lib.unigram_probs(counts, config.ns_exponent))


def output_side(
    config: Config, vocab: vocab_lib.Vocab, rows: int, objective: objectives.Word2Vec,
    slots: int, batch_size: int, replicas: int = 1,
) -> tuple[data_lib.Outputs, negatives_lib.AliasTable | None]:
  """What the input pipeline adds (negatives, Huffman paths, subwords), and the noise the step
  keeps.

  The alias table lives in one place: the pipeline's when negatives are drawn on the host, else
  the train state's. Subwords come in one group of columns per replica (each its own slots).
  """
  added = {"tree": huffman.build_huffman(vocab.counts) if config.hs else None}
  if config.subwords:  # The vocabulary's n-gram rows, computed once.
    added["subwords"] = subwords_lib.subwords(vocab.words, config.minn, config.maxn,
                                              config.bucket)
    added["subword_chunks"] = replicas
    added["centre_inputs"] = objective.centre_input
  if config.fixed_training_set:  # The examples carry their negatives (`example_negatives`).
    return data_lib.Outputs(**added), None
  noise = noise_table(config, vocab, rows)
  if noise is not None and config.negatives_on_host:
    shape = objective.negatives_shape(batch_size, slots)
    return data_lib.Outputs(noise, shape, **added), None
  return data_lib.Outputs(**added), noise


def evaluate_vectors(config: Config, words: list[str], vectors: np.ndarray,
                     composer: subwords_lib.SubwordVectors | None = None) -> dict[str, float]:
  """Analogy accuracy and WordSim Spearman, on the bundled sets unless the config names files.

  With subwords (`composer`), WordSim and analogies again with words outside the vocabulary
  composed from their n-grams (wordsim_subwords_*, analogy_subwords_*; `..._outside`: the pairs
  or questions that needed such a word).
  """
  from w2v_jax import evaluate  # pylint: disable=import-outside-toplevel

  analogies = config.analogies or evaluate.default_eval_path("questions-words.txt")
  wordsim = config.wordsim or evaluate.default_eval_path("wordsim353.tsv")
  results = {}
  results.update(evaluate.analogy_accuracy(words, vectors, analogies).as_dict())
  results.update(evaluate.word_similarity(words, vectors, wordsim).as_dict())
  if composer is not None:
    index = {w: i for i, w in enumerate(words)}

    def vector_of(word: str) -> np.ndarray | None:
      return vectors[index[word]] if word in index else composer.vector(word)

    sim, outside = evaluate.word_similarity_any(vector_of, index, wordsim)
    results.update({f"wordsim_subwords_{k.split('_', 1)[1]}": v for k, v in sim.as_dict().items()})
    results["wordsim_subwords_outside"] = outside
    analogy, outside = evaluate.analogy_accuracy_any(words, vectors, vector_of, analogies)
    results.update({f"analogy_subwords_{k.split('_', 1)[1]}": v
                    for k, v in analogy.as_dict().items()})
    results["analogy_subwords_outside"] = outside
  return {f"eval/{k}": float(v) for k, v in results.items()}


def nearest_neighbours(
    words: list[str], vectors: np.ndarray, queries: list[str], topn: int = 8
) -> dict[str, list[tuple[str, float]]]:
  """Cosine neighbours of each query word that is in the vocabulary."""
  from w2v_jax import query  # pylint: disable=import-outside-toplevel

  emb = query.Embeddings(words, vectors)
  known = [q for q in queries if q in emb]
  return dict(zip(known, emb.most_similar_batch(known, topn=topn)))


def train_and_evaluate(
    config: Config,
    workdir: str,
    resume: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
) -> dict[str, Any]:
  """Trains, writes vectors and logs to `workdir`, returns the summary.

  Raises `Interrupted` (after a checkpoint) when `should_stop()` turns true, `TrainingDiverged`
  on NaN/Inf, `text.CorpusError` / `ValueError` on bad input.
  """
  config.validate()
  config = resolve_step(config, _saved_config(workdir).get("step") if resume else None)
  place = placement.make_placement(config.replicas, config.examples_per_step,
                                   config.table_sharding, config.sync_every, config.merge)
  # Process 0 writes the run's files; any other keeps its own logs in a folder beside them.
  primary = jax.process_index() == 0
  rundir = workdir if primary else os.path.join(workdir, f"process-{jax.process_index()}")
  os.makedirs(rundir, exist_ok=True)
  # What a killed run was writing: the run directory is this run's alone (experiments.train
  # holds its lock), so no other writer's file is in flight, but for the other processes' own
  # folders of a distributed run.
  io_utils.remove_temps(rundir, skip=lambda name: name.startswith("process-"))
  ckpt_dir = os.path.join(workdir, "checkpoints")
  if resume:
    _check_resumable(config, workdir)
  ckpt_path = checkpoint_lib.latest_valid(ckpt_dir, logging.warning) if resume else None
  if ckpt_path is None:  # A fresh run must not append to, or resume from, an older one's files.
    for stale in ("metrics.jsonl", "summary.json"):
      if os.path.exists(os.path.join(rundir, stale)):
        os.unlink(os.path.join(rundir, stale))
    if primary:
      shutil.rmtree(ckpt_dir, ignore_errors=True)
  io_utils.atomic_write_json(os.path.join(rundir, "config.json"), config_dict(config))
  write_status(rundir, "running")

  t_setup = time.perf_counter()
  prep = prepare(config, os.path.join(rundir, "cache"), place.batch_size)
  vocab = prep.vocab
  vocab_lib.save_vocab(vocab, os.path.join(rundir, "vocab.tsv"))
  logging.info("vocabulary %d words, %d tokens (%d raw), %d steps", len(vocab),
               len(prep.corpus.ids), prep.corpus.raw_words, prep.total_steps)

  schedule_args = (config.learning_rate, prep.total_steps, config.min_learning_rate_ratio,
                   config.linear_decay)
  tx = step_lib.make_optimizer(config.optimizer, *schedule_args)
  objective = build_objective(config)
  rows = parallel.padded_rows(len(vocab), place.mesh, place.table_sharding)
  outputs, noise = output_side(config, vocab, rows, objective, prep.source.slots,
                               place.batch_size, place.replicas)
  state = place.init(step_lib.create_train_state(
      jax.random.PRNGKey(config.seed), objective.tables(rows), config.embedding_dim, tx, noise,
      config.table_init))
  position, words_done = data_lib.Position(), 0.0
  if ckpt_path:
    restored = checkpoint_lib.restore(ckpt_path, _payload(state, position, 0.0))
    state = place.restore(restored["state"])
    position = data_lib.Position(**{k: int(v) for k, v in restored["position"].items()})
    words_done = float(restored["words"])
    logging.info("resumed from %s at step %d", ckpt_path, placement.step_of(place, state))
  memory.release_freed()  # What encoding the corpus and initialising the tables left behind.
  if memory.huge_pages(state):
    logging.info("tables on huge pages: %.0f MB in all", memory.anon_huge_bytes() / 2**20)
  setup_seconds = time.perf_counter() - t_setup

  if config.step == "fused":
    lookups = fused_lookups(config, vocab, outputs, noise)
    fused_fn = jax.jit(functools.partial(fused.train_steps, kernel=fused_kernel(config), tx=tx),
                       donate_argnums=0)
    train_fn = lambda state, batches: fused_fn(state, batches, lookups)  # noqa: E731
    examples = data_lib.sentence_blocks(prep.source, config.epochs, place.batch_size,
                                        config.steps_per_call, position)
  else:
    train_fn = place.compile(state, tx, objective)
    examples = data_lib.blocks(prep.source, config.epochs, place.batch_size,
                               config.steps_per_call, position, outputs)
  stream = data_lib.Prefetcher(
      examples, transform=lambda b: (place.put_batches(b.batches, objective), b))
  log = logs.MetricLog(rundir)
  words = list(vocab.words)

  def evaluate(step, state, epoch):
    results = evaluate_vectors(config, words, *_vectors(config, place, state, vocab))
    log.write(step, {"epoch": epoch, **results})
    return results

  def save_checkpoint(step, state, pos, words_done):
    payload = place.to_host(_payload(state, pos, words_done))  # A collective: every process.
    if primary:
      checkpoint_lib.save(ckpt_dir, step, payload)
    place.sync()  # The others wait here, not at the next merge's collective.

  start_step = placement.step_of(place, state)
  hooks = loop.Hooks(
      log=log.write,
      checkpoint=save_checkpoint,
      evaluate=evaluate,
      should_stop=should_stop,
      on_diverged=lambda step: write_status(rundir, "diverged", step=step),
      on_interrupted=lambda step: write_status(rundir, "interrupted", step=step),
      progress=_progress(config, prep.total_steps, start_step, primary),
  )
  schedules = loop.Schedules(config.log_every, config.checkpoint_every, config.eval_every_epoch,
                             step_lib.make_schedule(*schedule_args))
  first_call = [True]

  def train_fn_releasing(state, batches):
    out = train_fn(state, batches)
    if first_call[0]:
      memory.release_freed()  # What compiling the step freed.
      first_call[0] = False
    return out

  try:
    result = loop.run(state, train_fn_releasing, stream, prep.corpus.raw_words, schedules,
                      hooks, position, words_done, start_step)
  finally:
    stream.close()
    hooks.progress.close()
  del state
  # The final checkpoint is written while the vector files are formatted (the disk works beside
  # the CPU: ~3 s of 840 MB with subwords); both are complete before the vectors count as
  # written. On the CPU the host copy shares the device buffers: no second state in memory.
  payload = place.to_host(_payload(result.state, result.position, result.words))
  with concurrent.futures.ThreadPoolExecutor(1, "w2v-checkpoint") as pool:
    saving = pool.submit(checkpoint_lib.save, ckpt_dir, result.step, payload) if primary else None
    del payload
    try:
      summary = _finish(config, rundir if primary else None, place, prep, result, log,
                        saving.result if saving else lambda: None)
    except BaseException:
      if saving is not None and saving.exception() is not None:  # Waits for it to end.
        logging.error("the final checkpoint failed too: %s", saving.exception())
      raise
  summary["setup_seconds"] = setup_seconds
  # Time the loop waited for the next block; calls still in flight may have been computing then.
  summary["input_wait_fraction"] = stream.wait_seconds / max(result.train_seconds, 1e-9)
  summary["replicas"] = place.replicas
  summary["step"] = config.step
  if config.step == "fused":
    summary["threads"] = thread_count(config)
  io_utils.atomic_write_json(os.path.join(rundir, "summary.json"), summary)
  write_status(rundir, "done")
  return summary


def _saved_config(workdir: str) -> dict[str, Any]:
  """The config.json of the run in `workdir`; {} if none was started there."""
  try:
    with open(os.path.join(workdir, "config.json"), encoding="utf-8") as f:
      return json.load(f)
  except FileNotFoundError:
    return {}  # Nothing was started here: --resume starts the run.
  except (OSError, ValueError) as e:
    raise ValueError(f"--resume: cannot read {workdir}/config.json ({e})") from None


def _check_resumable(config: Config, workdir: str) -> None:
  """Refuses (ValueError) to resume a run with settings other than those it was started with."""
  saved = _saved_config(workdir)
  if not saved:
    return
  changed = config_lib.resume_differences(saved, config)
  if changed:
    shown = ", ".join(changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")
    raise ValueError(f"--resume: {workdir} was started with other settings: {shown}; pass the "
                     "run's own flags (its flags.txt), or start a new --out_dir")


def _finish(config: Config, vectors_dir: str | None, place: placement.Placement, prep: Prepared,
            result: loop.LoopResult, log: logs.MetricLog,
            wait_checkpoint: Callable[[], Any] = lambda: None) -> dict[str, Any]:
  """Vectors written (to `vectors_dir` unless None), final evaluation, the summary.

  `wait_checkpoint`: returns once the final checkpoint is saved (raising what saving raised).
  """
  raw_words = prep.corpus.raw_words
  words = list(prep.vocab.words)
  vectors, composer = _vectors(config, place, result.state, prep.vocab)
  if composer is not None:
    output = _output_rows(config, place, result.state, len(prep.vocab))
    if vectors_dir is not None:
      _write_fasttext(vectors_dir, config, prep, composer, output)
    del output
  # Frees the device tables (on the CPU the final checkpoint's payload shares them until it is
  # saved), and the heap pages the input pipeline's arrays left in glibc's per-thread arenas,
  # before export and evaluation, which had been the peak: 422 -> 383 MB RSS on one epoch of the
  # bench corpus.
  result.state = None
  memory.release_freed()
  if vectors_dir is not None:
    _write_vectors(vectors_dir, words, vectors)
  wait_checkpoint()
  place.sync()  # The others wait for process 0's files here, not in shutdown's shorter wait.
  vectors_written_time = time.time()
  eval_results = result.eval_results
  if not eval_results:
    eval_results = evaluate_vectors(config, words, vectors, composer)
    log.write(result.step, {"epoch": result.words / raw_words, **eval_results})
  neighbours = nearest_neighbours(words, vectors, _show_words(config, prep.vocab))
  # HParams are the sweep launcher's to write: it knows what the runs vary (experiments.sweeps).
  log.close()
  seconds = max(result.train_seconds, 1e-9)
  return {
      "status": "done",
      "config": config_dict(config),
      "steps": result.step,
      "vocab_size": len(prep.vocab),
      "raw_words": raw_words,
      "final_loss": result.last["loss"],
      "final_accuracy": result.last["accuracy"],
      "train_seconds": result.train_seconds,
      "words_per_sec": (result.words - result.words_start) / seconds,
      "pairs_per_sec": result.pairs / seconds,
      "vectors_written_time": vectors_written_time,
      "neighbours": {w: [n for n, _ in ns] for w, ns in neighbours.items()},
      "eval_history": result.eval_history,
      **eval_results,
  }


def _payload(state, position: data_lib.Position, words: float) -> dict[str, Any]:
  return {"state": state, "position": dataclasses.asdict(position), "words": words}


def _vectors(config: Config, place: placement.Placement, state: Any, vocab: vocab_lib.Vocab
             ) -> tuple[np.ndarray, subwords_lib.SubwordVectors | None]:
  """The word vectors as NumPy: the input table (word2vec's syn0) without the rows padded for
  sharding or, with subwords, each word's row averaged with its n-gram rows (fastText's), and
  then the rows that compose any word's vector."""
  rows = place.table(state, "input")[:len(vocab)]
  if not config.subwords:
    return rows, None
  composer = subwords_lib.SubwordVectors(tuple(vocab.words), rows, place.table(state, "ngrams"),
                                         config.minn, config.maxn)
  return composer.vocabulary_vectors(), composer


def _output_rows(config: Config, place: placement.Placement, state: Any, words: int
                 ) -> np.ndarray:
  """The output side as fastText keeps it, [V, D]: NS's context rows, or HS's V - 1 inner nodes.

  Every process takes part (a gather across processes where the tables are split)."""
  if config.num_ns:
    return place.table(state, "output")[:words]
  output = np.zeros((words, config.embedding_dim), np.float32)
  output[:words - 1] = place.table(state, "tree")[:words - 1]
  return output


def _write_fasttext(workdir: str, config: Config, prep: Prepared,
                    composer: subwords_lib.SubwordVectors, output: np.ndarray) -> None:
  """model.bin in fastText's layout (fastText and gensim's load_facebook_model read it)."""
  vocab = prep.vocab
  args = {"dim": config.embedding_dim, "ws": config.window_size, "epoch": config.epochs,
          "min_count": config.min_count, "neg": config.num_ns, "word_ngrams": 1,
          "loss": export.FASTTEXT_LOSS["ns" if config.num_ns else "hs"],
          "model": export.FASTTEXT_MODEL[config.model], "bucket": config.bucket,
          "minn": config.minn, "maxn": config.maxn, "lr_update_rate": 100,
          "t": config.subsample}
  model = export.FastTextModel(args, list(vocab.words), vocab.counts, prep.corpus.raw_words,
                               composer.word_rows, output)
  export.write_fasttext_bin(os.path.join(workdir, "model.bin"), model,
                            composer.ngram_rows[:config.bucket])


def _progress(config: Config, total: int, initial: int, show: bool = True):
  from tqdm import tqdm  # pylint: disable=import-outside-toplevel

  whole_calls = -(-total // config.steps_per_call) * config.steps_per_call
  return tqdm(total=whole_calls, initial=initial, unit="step",
              disable=not (config.progress and show),
              mininterval=1.0, dynamic_ncols=True)


def _show_words(config: Config, vocab: vocab_lib.Vocab) -> list[str]:
  """The configured words that are in the vocabulary, else a few frequent words."""
  wanted = [w for w in config.show_words if w in vocab.index]
  if wanted:
    return wanted
  start = 2 if vocab.reserved else 0
  return list(vocab.words[start + 20:start + 25])


def _write_vectors(workdir: str, words: list[str], vectors: np.ndarray) -> None:
  tsv = (os.path.join(workdir, "vectors.tsv"), os.path.join(workdir, "metadata.tsv"))
  export.write_text_vectors(*tsv, os.path.join(workdir, "vectors.txt"), words, vectors)
  export.write_word2vec(os.path.join(workdir, "vectors.bin"), words, vectors, binary=True)
  export.write_tensorboard_projector(workdir, words, vectors, copy_of=tsv)
