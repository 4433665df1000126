"""The training loop: corpus -> pairs -> jitted steps -> logs, checkpoints, vectors."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import shutil
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from absl import logging

from w2v_jax import checkpoint as checkpoint_lib
from w2v_jax import corpus as corpus_lib
from w2v_jax import data as data_lib
from w2v_jax import export, io_utils, memory
from w2v_jax import negatives as negatives_lib
from w2v_jax import pairs as pairs_lib
from w2v_jax import parallel
from w2v_jax import step as step_lib
from w2v_jax import text
from w2v_jax import vocab as vocab_lib
from w2v_jax.config import Config


class TrainingDiverged(RuntimeError):
  """The loss became NaN or infinite."""


class Interrupted(RuntimeError):
  """Training stopped on request (a signal); a checkpoint was written first."""


@dataclasses.dataclass
class Prepared:
  """Everything built from the corpus before the first step."""

  vocab: vocab_lib.Vocab
  corpus: corpus_lib.Corpus
  source: data_lib.PairSource
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


def keep_probabilities(config: Config, vocab: vocab_lib.Vocab) -> np.ndarray:
  """Per-id keep probability: word2vec's from real counts, or the seed's Zipf table by rank."""
  if config.subsampling == "word2vec":
    return pairs_lib.word2vec_keep_prob(vocab.counts, config.subsample)
  if config.subsampling == "zipf":
    return pairs_lib.zipf_sampling_table(len(vocab), config.subsample)
  return np.ones(len(vocab))


def prepare(config: Config, cache_dir: str | None) -> Prepared:
  """Vocabulary, encoded corpus (cached) and the pair source; counts the run's steps."""
  vocab, corpus = corpus_lib.load_or_build(corpus_spec(config), cache_dir)
  settings = data_lib.PairSettings(
      window_size=config.window_size,
      dynamic_window=config.dynamic_window,
      subsampling=config.subsampling,
      skip_id=vocab.pad_id,
      shuffle=config.shuffle,
  )
  source = data_lib.PairSource(corpus, keep_probabilities(config, vocab), settings, config.seed)
  total_steps = data_lib.count_steps(source, config.epochs, config.batch_size)
  if total_steps == 0:
    raise text.CorpusError(
        f"{', '.join(config.corpus)}: no training pairs (every sentence has fewer than 2 words "
        f"with count >= {config.min_count})"
    )
  return Prepared(vocab, corpus, source, total_steps)


def noise_table(
    config: Config, vocab: vocab_lib.Vocab, rows: int
) -> negatives_lib.AliasTable | None:
  """The unigram^power alias table over `rows` ids (padding rows past the vocabulary: never)."""
  if config.negatives != "unigram":
    return None
  counts = np.zeros(rows, np.int64)
  counts[:len(vocab)] = vocab.counts
  return negatives_lib.build_alias_table(negatives_lib.unigram_probs(counts, config.ns_exponent))


def step_settings(config: Config) -> step_lib.StepSettings:
  return step_lib.StepSettings(
      num_ns=config.num_ns,
      loss=config.loss,
      negatives=config.negatives,
      # The seed's sampler (TF's) may return the positive itself; keep that for faithfulness.
      skip_positive_negatives=config.negatives == "unigram",
      shared_negatives=config.shared_negatives,
  )


def evaluate_vectors(config: Config, words: list[str], vectors: np.ndarray) -> dict[str, float]:
  """Analogy accuracy and WordSim Spearman, on the bundled sets unless the config names files."""
  from w2v_jax import evaluate  # pylint: disable=import-outside-toplevel

  analogies = config.analogies or evaluate.default_eval_path("questions-words.txt")
  wordsim = config.wordsim or evaluate.default_eval_path("wordsim353.tsv")
  results = {}
  results.update(evaluate.analogy_accuracy(words, vectors, analogies).as_dict())
  results.update(evaluate.word_similarity(words, vectors, wordsim).as_dict())
  return {f"eval/{k}": float(v) for k, v in results.items()}


def nearest_neighbours(
    words: list[str], vectors: np.ndarray, queries: list[str], topn: int = 8
) -> dict[str, list[tuple[str, float]]]:
  """Cosine neighbours of each query word that is in the vocabulary."""
  from w2v_jax import query  # pylint: disable=import-outside-toplevel

  emb = query.Embeddings(words, vectors)
  known = [q for q in queries if q in emb]
  return dict(zip(known, emb.most_similar_batch(known, topn=topn)))


class _MetricLog:
  """metrics.jsonl + tensorboardX scalars."""

  def __init__(self, workdir: str):
    from tensorboardX import SummaryWriter  # pylint: disable=import-outside-toplevel

    self.writer = SummaryWriter(workdir)
    self.path = os.path.join(workdir, "metrics.jsonl")

  def write(self, step: int, values: dict[str, float]) -> None:
    with open(self.path, "a") as f:
      f.write(json.dumps(io_utils.json_safe({"step": step, **values})) + "\n")
    for name, value in values.items():
      if name != "epoch":
        self.writer.add_scalar(name if "/" in name else f"train/{name}", value, step)
    self.writer.flush()

  def close(self) -> None:
    self.writer.close()


def write_status(workdir: str, status: str, **extra: Any) -> None:
  io_utils.atomic_write_json(os.path.join(workdir, "status.json"), {"status": status, **extra})


def config_dict(config: Config) -> dict[str, Any]:
  return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


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
  os.makedirs(workdir, exist_ok=True)
  ckpt_path = checkpoint_lib.latest(os.path.join(workdir, "checkpoints")) if resume else None
  if ckpt_path is None:  # A fresh run must not append to, or resume from, an older one's files.
    for stale in ("metrics.jsonl", "summary.json"):
      if os.path.exists(os.path.join(workdir, stale)):
        os.unlink(os.path.join(workdir, stale))
    shutil.rmtree(os.path.join(workdir, "checkpoints"), ignore_errors=True)
  io_utils.atomic_write_json(os.path.join(workdir, "config.json"), config_dict(config))
  write_status(workdir, "running")

  t_setup = time.perf_counter()
  prep = prepare(config, cache_dir=os.path.join(workdir, "cache"))
  vocab, corpus = prep.vocab, prep.corpus
  vocab_lib.save_vocab(vocab, os.path.join(workdir, "vocab.tsv"))
  logging.info("vocabulary %d words, %d tokens (%d raw), %d steps", len(vocab), len(corpus.ids),
               corpus.raw_words, prep.total_steps)

  schedule_args = (config.learning_rate, prep.total_steps, config.min_learning_rate_ratio,
                   config.linear_decay)
  tx = step_lib.make_optimizer(config.optimizer, *schedule_args)
  mesh = parallel.make_mesh()
  if config.batch_size % mesh.size:
    raise ValueError(f"--batch_size={config.batch_size}: must be a multiple of the "
                     f"{mesh.size} devices")
  rows = parallel.padded_rows(len(vocab), mesh, config.table_sharding)
  noise = noise_table(config, vocab, rows)
  state = step_lib.create_train_state(
      jax.random.PRNGKey(config.seed), rows, config.embedding_dim, tx, noise, config.init)
  state = parallel.shard_state(state, mesh, config.table_sharding)
  position, words_done = data_lib.Position(), 0.0
  if ckpt_path:
    restored = checkpoint_lib.restore(ckpt_path, _payload(state, position, 0.0))
    state = parallel.shard_state(restored["state"], mesh, config.table_sharding)
    position = data_lib.Position(**{k: int(v) for k, v in restored["position"].items()})
    words_done = float(restored["words"])
    logging.info("resumed from %s at step %d", ckpt_path, int(state.step))
  memory.release_freed()  # What encoding the corpus and initialising the tables left behind.
  setup_seconds = time.perf_counter() - t_setup

  settings = step_settings(config)
  train_fn = parallel.jit_sharded(
      functools.partial(step_lib.train_steps, tx=tx, settings=settings),
      state, mesh, config.table_sharding)
  stream = data_lib.Prefetcher(
      data_lib.blocks(prep.source, config.epochs, config.batch_size, config.steps_per_call,
                      position, noise if config.negatives_on_host else None,
                      step_lib.negatives_shape(settings, config.batch_size)),
      transform=lambda b: (parallel.put_batches(b.batches, mesh), b),
  )
  log = _MetricLog(workdir)
  summary = _run_loop(config, workdir, state, train_fn, stream, log, prep,
                      step_lib.make_schedule(*schedule_args), position, words_done,
                      should_stop)
  summary["setup_seconds"] = setup_seconds
  io_utils.atomic_write_json(os.path.join(workdir, "summary.json"), summary)
  write_status(workdir, "done")
  return summary


def _payload(state, position: data_lib.Position, words: float) -> dict[str, Any]:
  return {"state": state, "position": dataclasses.asdict(position), "words": words}


_CALLS_IN_FLIGHT = 2  # Dispatched calls whose metrics are not fetched yet (see _run_loop).


def _run_loop(config, workdir, state, train_fn, stream, log, prep, schedule_lr, position,
              words_done, should_stop) -> dict[str, Any]:
  """Steps through the blocks; metrics are fetched two calls late so dispatch never waits.

  Fetching the previous call's metrics blocks the Python thread until that call ends; with two
  calls queued the device still has one to run while this thread waits for the GIL (the input
  thread holds it for up to 5 ms at a time). One call late measured 400-735k words/s, two calls
  late 674-731k.
  """
  raw_words = prep.corpus.raw_words
  ckpt_dir = os.path.join(workdir, "checkpoints")
  step = start_step = int(state.step)
  next_log = step + config.log_every
  next_ckpt = step + config.checkpoint_every if config.checkpoint_every else math.inf
  next_eval_epoch = math.floor(words_done / raw_words + 1e-9) + 1
  sums = np.zeros(3)  # Sums of loss * count, accuracy * count, count since the last log.
  pending: deque = deque()  # Metrics of dispatched calls, oldest first.
  last = {"loss": math.nan, "accuracy": math.nan}
  eval_results: dict[str, float] = {}
  eval_history: list[dict[str, float]] = []
  words_start, pairs = words_done, 0.0
  t0 = t_log = time.perf_counter()
  words_log = words_done
  bar = _progress(config, prep.total_steps, start_step)

  def drain(keep: int = 0):
    """Adds the metrics of all but the newest `keep` dispatched calls to `sums`."""
    while len(pending) > keep:
      m = jax.device_get(pending.popleft())
      sums[:] += [np.sum(m["loss"] * m["count"]), np.sum(m["accuracy"] * m["count"]),
                  np.sum(m["count"])]

  try:
    for device_batches, block in stream:
      state, metrics = train_fn(state, device_batches)
      if step == start_step:
        memory.release_freed()  # What compiling the step freed.
      pending.append(metrics)
      drain(keep=_CALLS_IN_FLIGHT)
      steps_in_block = block.batches["mask"].shape[0]
      step += steps_in_block
      pairs += float(block.batches["mask"].sum())
      words_done, position = block.words, block.end
      bar.update(steps_in_block)
      stop = should_stop()
      if step >= next_log or step >= next_ckpt or stop:
        drain()
        now = time.perf_counter()
        last = _log_values(sums, float(schedule_lr(step)), words_done, raw_words,
                           (words_done - words_log) / max(now - t_log, 1e-9))
        if not math.isfinite(last["loss"]) and sums[2] > 0:
          write_status(workdir, "diverged", step=step)
          raise TrainingDiverged(f"loss is {last['loss']} at step {step}; lower --learning_rate")
        log.write(step, last)
        bar.set_postfix(loss=f"{last['loss']:.3f}", lr=f"{last['learning_rate']:.2g}")
        sums[:] = 0
        t_log, words_log = now, words_done
        next_log = step + config.log_every
      if step >= next_ckpt or stop:
        checkpoint_lib.save(ckpt_dir, step, _payload(state, position, words_done))
        next_ckpt = step + config.checkpoint_every if config.checkpoint_every else math.inf
        if stop:
          write_status(workdir, "interrupted", step=step)
          raise Interrupted(f"stopped at step {step}; run again with --resume to continue")
      if config.eval_every_epoch and words_done / raw_words >= next_eval_epoch - 1e-9:
        eval_results = evaluate_vectors(config, list(prep.vocab.words),
                                        _vectors(state, prep.vocab))
        eval_history.append({"step": step, "epoch": words_done / raw_words, **eval_results})
        log.write(step, eval_history[-1])
        next_eval_epoch += 1
  finally:
    stream.close()
    bar.close()
  drain()
  if sums[2] > 0:
    last = _log_values(sums, float(schedule_lr(step)), words_done, raw_words, 0.0)
    log.write(step, last)
  jax.block_until_ready(state)
  train_seconds = time.perf_counter() - t0
  checkpoint_lib.save(ckpt_dir, step, _payload(state, position, words_done))

  words, vectors = list(prep.vocab.words), _vectors(state, prep.vocab)
  # Frees the device tables, and the heap pages the input pipeline's arrays left in glibc's
  # per-thread arenas, before export and evaluation, which had been the peak: 422 -> 383 MB RSS
  # on one epoch of the bench corpus.
  del state
  memory.release_freed()
  _write_vectors(workdir, words, vectors)
  if not eval_results:
    eval_results = evaluate_vectors(config, words, vectors)
    log.write(step, {"epoch": words_done / raw_words, **eval_results})
  neighbours = nearest_neighbours(words, vectors, _show_words(config, prep.vocab))
  hparams = {k: (str(v) if isinstance(v, (list, tuple)) or v is None else v)
             for k, v in config_dict(config).items()}
  log.writer.add_hparams(
      hparams,
      {"hparam/" + k.split("/")[-1]: v for k, v in eval_results.items()}
      | {"hparam/final_loss": last["loss"]},
      name="hparams")
  log.close()
  return {
      "status": "done",
      "config": config_dict(config),
      "steps": step,
      "vocab_size": len(prep.vocab),
      "raw_words": raw_words,
      "final_loss": last["loss"],
      "final_accuracy": last["accuracy"],
      "train_seconds": train_seconds,
      "words_per_sec": (words_done - words_start) / max(train_seconds, 1e-9),
      "pairs_per_sec": pairs / max(train_seconds, 1e-9),
      "input_wait_fraction": stream.wait_seconds / max(train_seconds, 1e-9),
      "neighbours": {w: [n for n, _ in ns] for w, ns in neighbours.items()},
      "eval_history": eval_history,
      **eval_results,
  }


def _vectors(state: step_lib.TrainState, vocab: vocab_lib.Vocab) -> np.ndarray:
  """The target table as NumPy, without the rows padded for sharding."""
  return np.asarray(jax.device_get(state.params["target"]))[:len(vocab)]


def _log_values(sums, lr, words_done, raw_words, words_per_sec) -> dict[str, float]:
  count = max(sums[2], 1.0)
  return {
      "epoch": words_done / raw_words,
      "loss": float(sums[0] / count) if sums[2] else math.nan,
      "accuracy": float(sums[1] / count) if sums[2] else math.nan,
      "learning_rate": float(lr),
      "words_per_sec": float(words_per_sec),
  }


def _progress(config: Config, total: int, initial: int):
  from tqdm import tqdm  # pylint: disable=import-outside-toplevel

  whole_calls = -(-total // config.steps_per_call) * config.steps_per_call
  return tqdm(total=whole_calls, initial=initial, unit="step", disable=not config.progress,
              mininterval=1.0, dynamic_ncols=True)


def _show_words(config: Config, vocab: vocab_lib.Vocab) -> list[str]:
  """The configured words that are in the vocabulary, else a few frequent words."""
  wanted = [w for w in config.show_words if w in vocab.index]
  if wanted:
    return wanted
  start = 2 if vocab.reserved else 0
  return list(vocab.words[start + 20:start + 25])


def _write_vectors(workdir: str, words: list[str], vectors: np.ndarray) -> None:
  export.write_projector_tsv(os.path.join(workdir, "vectors.tsv"),
                             os.path.join(workdir, "metadata.tsv"), words, vectors)
  export.write_word2vec(os.path.join(workdir, "vectors.txt"), words, vectors, binary=False)
  export.write_word2vec(os.path.join(workdir, "vectors.bin"), words, vectors, binary=True)
  export.write_tensorboard_projector(os.path.join(workdir, "projector"), words, vectors)
