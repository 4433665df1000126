"""Which step trains a run: the fused CPU kernel (`w2v_jax.fused`) or the generic step
(`w2v_jax.step`), and the config resolved for it.

The fused step runs what its kernel has a rule for: the objective says so itself
(`objectives.why_not_fused`, from its parts' kernel rules); the settings say the rest (SGD,
examples drawn afresh from whole sentences, one model on one device). `--step auto` takes the
fused step where both allow it and logs why not otherwise; `--step fused` where they do not is
an error of one line.
"""

from __future__ import annotations


import jax
from absl import logging

from w2v_jax import config as config_lib
from w2v_jax import devices, native, objectives


def settings_unsupported(config: config_lib.Config) -> str | None:
  """What the settings, apart from the objective, would have to change for the fused step (a
  flag to set), or None."""
  e, d = config.examples, config.devices
  reasons = [
      (config.optimizer.optimizer != "sgd", "--optimizer=sgd (the kernel applies SGD)"),
      (e.subsampling == "zipf", "--subsampling=word2vec or none"),
      (e.fixed_training_set or e.repeat_batch_order or e.drop_remainder,
       "examples drawn afresh every epoch (no --fixed_training_set, --repeat_batch_order, "
       "--drop_remainder)"),
      (config.corpus.reserved_tokens or config.corpus.sequence_length is not None,
       "no --reserved_tokens or --sequence_length (whole sentences of vocabulary words)"),
      (e.layout == "pairs", "windows, not --layout=pairs (it makes each window itself)"),
      (d.replicas != 1 or d.table_sharding != "replicated",
       "one model on one device (--replicas=1, --table_sharding=replicated)"),
  ]
  return next((f"needs {flag}" for bad, flag in reasons if bad), None)


def fused_unsupported(config: config_lib.Config,
                      objective: objectives.Objective | None = None) -> str | None:
  """Why the fused step cannot train `config` (one line: a flag to set, or the objective's
  part the kernel has no rule for), or None; `objective` replaces the config's."""
  why = settings_unsupported(config)
  if why is None:
    objective_why = objectives.why_not_fused(objectives.for_run(config, objective))
    why = objective_why and f"needs an objective it has a rule for: {objective_why}"
  return why


def choose_step(config: config_lib.Config, objective: objectives.Objective,
                builtin_optimizer: bool = True, saved: str | None = None) -> str:
  """"fused" or "generic" for `config`'s --step: auto is fused where it can train (the
  objective's parts all have kernel rules, SGD, a CPU, one device, the kernel built), else
  generic; a resumed run keeps the step it was started with (`saved`).

  Raises ValueError (one line: why) for --step=fused where it cannot run.
  """
  step = config.devices.step
  if step == "auto" and saved in ("fused", "generic"):
    step = saved
  if step == "generic":
    return step
  why = fused_unsupported(config, objective)
  if why is None and not builtin_optimizer and step == "auto":  # --step=fused: the user's word.
    why = "needs the built-in optimizer (--optimizer=sgd; another tx: --step=fused if it is SGD)"
  if why is None and jax.default_backend() != "cpu":
    why = f"needs a CPU (this run's devices are {jax.default_backend()})"
  if why is None and jax.device_count() > 1:
    why = f"needs one device (this run has {jax.device_count()})"
  if why is None:
    try:
      native.load()
    except native.KernelUnavailable as e:
      why = f"is unavailable: {e}"
  if why is None:
    return "fused"
  if step == "fused":
    raise ValueError(f"--step=fused: {why.removeprefix('is unavailable: ')}")
  if why.startswith("needs"):  # What auto means for these settings.
    logging.info("generic step: the fused step %s", why)
  else:
    logging.warning("generic step: the fused step %s", why)
  return "generic"


def resolve_for_run(config: config_lib.Config, objective: objectives.Objective,
                    builtin_optimizer: bool = True, saved_step: str | None = None
                    ) -> config_lib.Config:
  """`config` resolved for the step that trains `objective` (`choose_step`), and its threads."""
  step = choose_step(config, objective, builtin_optimizer, saved_step)
  return config_lib.resolve(config, step=step, threads=devices.thread_count(config.devices.threads))
