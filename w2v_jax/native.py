"""The fused CPU kernels (w2v_jax/kernels/*.cc): compiled on first use, cached, registered with XLA.

The kernel is built with the system's C++ compiler (`$CXX`, else c++ or g++) against the XLA FFI
headers that ship with jaxlib, for this CPU (`-march=native`), into a cache keyed by the source's
hash, the jaxlib version, the compiler and the CPU's flags: `$W2V_JAX_CACHE/kernels`, else
`$XDG_CACHE_HOME/w2v_jax/kernels` (~/.cache/w2v_jax/kernels). A build takes about 10 s, once per
machine and version; concurrent runs wait for one build. Where there is no compiler or the build
fails, `load` raises `KernelUnavailable` with one line saying why.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernels", "word2vec.cc")
TARGET = "w2v_jax_word2vec_step"
SYMBOL = "W2vJaxWord2VecStep"
# -ffp-contract=fast: multiply-adds fused, as GNU C++ does by default (ISO C++17 mode does not);
# -fno-trapping-math: no floating-point exception flags to keep, so the logistic loop vectorises.
FLAGS = ("-O3", "-march=native", "-ffp-contract=fast", "-fno-trapping-math", "-std=c++17",
         "-shared", "-fPIC", "-w")
BUILD_TIMEOUT_S = 600


class KernelUnavailable(RuntimeError):
  """The fused kernel cannot be built or loaded here; the message says why, in one line."""


def cache_root() -> str:
  """Where w2v_jax keeps what it builds for this machine: $W2V_JAX_CACHE, else
  $XDG_CACHE_HOME/w2v_jax (~/.cache/w2v_jax)."""
  return os.environ.get("W2V_JAX_CACHE") or os.path.join(
      os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
      "w2v_jax")


def cache_dir() -> str:
  return os.path.join(cache_root(), "kernels")


def compiler() -> str | None:
  """The C++ compiler to build with: $CXX, else c++ or g++ on the PATH."""
  if os.environ.get("CXX"):
    return os.environ["CXX"]
  return shutil.which("c++") or shutil.which("g++")


def _cpu_flags() -> str:
  """What -march=native depends on: the CPU's feature flags (x86 Linux), else the machine."""
  with contextlib.suppress(OSError):
    with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
      for line in f:
        if line.startswith(("flags", "Features")):
          return line.split(":", 1)[1].strip()
  return platform.machine()


def _compiler_version(cxx: str) -> str:
  try:
    out = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=60,
                         check=False)
  except (OSError, subprocess.TimeoutExpired) as e:
    raise KernelUnavailable(f"C++ compiler {cxx!r} does not run ({e})") from None
  return out.stdout.splitlines()[0] if out.stdout else ""


def library_path() -> str:
  """The built kernel library, compiled first if this machine has none for this version."""
  import jax.ffi  # pylint: disable=import-outside-toplevel
  import jaxlib  # pylint: disable=import-outside-toplevel

  cxx = compiler()
  if cxx is None:
    raise KernelUnavailable("no C++ compiler found (set $CXX, or install g++)")
  with open(SOURCE, "rb") as f:
    source = f.read()
  key = hashlib.sha256(b"\0".join([
      source, jaxlib.__version__.encode(), _compiler_version(cxx).encode(),
      _cpu_flags().encode(), " ".join(FLAGS).encode()])).hexdigest()[:16]
  directory = cache_dir()
  path = os.path.join(directory, f"word2vec-{key}.so")
  if os.path.exists(path):
    return path
  try:
    os.makedirs(directory, exist_ok=True)
    with open(path + ".lock", "a+") as lock:
      fcntl.flock(lock, fcntl.LOCK_EX)  # Another process may be building the same library.
      if not os.path.exists(path):
        _build(cxx, jax.ffi.include_dir(), path)
  except OSError as e:
    raise KernelUnavailable(f"cannot write the kernel cache {directory}: {e.strerror or e}") from None
  return path


def _build(cxx: str, include: str, path: str) -> None:
  fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".so.tmp")
  os.close(fd)
  command = [cxx, *FLAGS, "-I", include, SOURCE, "-o", tmp]
  try:
    out = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
                         check=False)
    if out.returncode != 0:
      first = next((line for line in out.stderr.splitlines() if "error" in line),
                   out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "")
      raise KernelUnavailable(f"building the kernel failed ({' '.join(command[:2])} ...): "
                              f"{first.strip()}")
    os.replace(tmp, path)
  except subprocess.TimeoutExpired:
    raise KernelUnavailable(f"building the kernel took over {BUILD_TIMEOUT_S} s") from None
  finally:
    with contextlib.suppress(FileNotFoundError):
      os.unlink(tmp)


@functools.cache
def _load() -> tuple[str | None, str]:
  """(target name, "") once registered, or (None, why not); tried once per process."""
  import jax  # pylint: disable=import-outside-toplevel

  try:
    path = library_path()
    library = ctypes.cdll.LoadLibrary(path)
    jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(getattr(library, SYMBOL)),
                                platform="cpu")
  except KernelUnavailable as e:
    return None, str(e)
  except (OSError, AttributeError) as e:
    return None, f"cannot load the kernel library: {e}"
  return TARGET, ""


def load() -> str:
  """Registers the kernel with XLA (CPU) once per process; its FFI target name.

  Raises KernelUnavailable (one line: why) where it cannot be built or loaded.
  """
  target, why = _load()
  if target is None:
    raise KernelUnavailable(why)
  return target
