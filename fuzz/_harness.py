"""What every fuzz target shares: atheris when it is installed, a plain-Python `--smoke N` mode when not.

Theory of operation. A target module defines `one_input(data: bytes) -> None`, which feeds `data` to
the code under test and raises (AssertionError, or whatever escaped) when the codec breaks its
contract, and `seeds() -> list[bytes]`, valid inputs for the fuzzer to start from. `main()` then:

- `python -m fuzz.<target> [libFuzzer flags] [corpus dirs]`: atheris (coverage-guided libFuzzer).
  With no corpus directory given it uses `fuzz/corpora/<target>/` (seeded on first use) and writes
  findings to `fuzz/crashes/<target>/`;
- `python -m fuzz.<target> --smoke N [--seed S]`: no atheris; the seeds, then N inputs that are random
  bytes or mutated seeds. A finding is saved to `fuzz/crashes/<target>/` and re-raised;
- `python -m fuzz.<target> FILE...` without atheris: replays the files (e.g. a saved finding).

Each input gets at most `PER_INPUT_S` seconds in smoke mode (SIGALRM); under atheris pass libFuzzer's
`-timeout=` for the same (README.md). Imports of the code under test go inside `instrumented()` so
atheris sees its branches.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import random
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

HERE = Path(__file__).resolve().parent
PER_INPUT_S = 2.0
MAX_INPUT = 8192  # the longest input the smoke mode builds (libFuzzer: -max_len)
PROJECT = ("agent", "central", "checkpoint", "contract", "drivers")  # instrumented; libraries are not


def _smoke_requested() -> bool:
    return "--smoke" in sys.argv


def _use_atheris() -> bool:
    return not _smoke_requested() and importlib.util.find_spec("atheris") is not None


def instrumented() -> contextlib.AbstractContextManager[object]:
    """Wrap the imports of the code under test: atheris instruments them; a no-op otherwise."""
    if _use_atheris():
        import atheris

        return atheris.instrument_imports(include=list(PROJECT))  # type: ignore[no-any-return]
    return contextlib.nullcontext()


class Hang(Exception):
    """One input took longer than PER_INPUT_S: the codec's work per input is not bounded."""


def _on_alarm(_signum: int, _frame: FrameType | None) -> None:
    raise Hang(f"one input took more than {PER_INPUT_S} s")


@contextlib.contextmanager
def _time_limit() -> Iterator[None]:
    """SIGALRM after PER_INPUT_S; an alarm already set (pytest-timeout's) is put back afterwards."""
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    started = time.monotonic()
    outer, _ = signal.setitimer(signal.ITIMER_REAL, PER_INPUT_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 0.001))


_INTERESTING = [
    b"\x00", b"\xff", b"\x7f", b"\x80", b"\n", b"\r\n", b"{", b"}", b"[", b'"', b"\\u0000", b"\\ud800", b"-1",
    b"1e309", b"NaN", b"9" * 40, b"0001-01-01T00:00:00+01:00", b"9999-12-31T23:59:59-01:00",
    b"\xaa\xaa\xaa\x96\x69", b"\x5a\x5a", b"\xaa\xa5",
]


def mutate(rng: random.Random, seeds: list[bytes]) -> bytes:
    """One input: random bytes, or a seed with a few random edits (flip, insert, delete, splice, repeat)."""
    if not seeds or rng.random() < 0.2:
        return rng.randbytes(rng.randint(0, 300))
    data = bytearray(rng.choice(seeds))
    for _ in range(rng.randint(1, 6)):
        at = rng.randint(0, len(data))
        edit = rng.randrange(8)
        if edit == 0 and data:
            data[min(at, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif edit == 1:
            data[at:at] = rng.randbytes(rng.randint(1, 8))
        elif edit == 2:
            del data[at : at + rng.randint(1, 16)]
        elif edit == 3:
            other = rng.choice(seeds)
            data[at:] = other[rng.randint(0, len(other)) :]
        elif edit == 4:
            data[at:at] = data[at : at + rng.randint(1, 32)] * rng.randint(2, 8)
        elif edit == 5:
            data[at:at] = rng.choice(_INTERESTING)
        elif edit == 6:  # a long run of one byte: deep nesting, huge numbers, overlong fields
            data[at:at] = data[at : at + 1] * rng.choice([64, 1100, 5000])
        else:
            del data[at:]
    return bytes(data[:MAX_INPUT])


def save_finding(name: str, data: bytes) -> Path:
    folder = HERE / "crashes" / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"crash-{hashlib.sha1(data).hexdigest()}"
    path.write_bytes(data)
    return path


def smoke(name: str, one_input: Callable[[bytes], None], seeds: list[bytes], runs: int, seed: int = 0) -> int:
    """Feed the seeds and `runs` random or mutated inputs; save and re-raise the first finding."""
    rng = random.Random(seed)
    inputs = [*seeds, *(mutate(rng, seeds) for _ in range(runs))]
    for data in inputs:
        try:
            with _time_limit():
                one_input(data)
        except BaseException:
            path = save_finding(name, data)
            print(f"finding saved to {path}; replay: python -m fuzz.{name} {path}", file=sys.stderr)
            raise
    return len(inputs)


def _option(flag: str, default: int) -> int:
    if flag in sys.argv:
        return int(sys.argv[sys.argv.index(flag) + 1])
    return default


def main(name: str, one_input: Callable[[bytes], None], seeds: Callable[[], list[bytes]]) -> None:
    """The command line of a target (see the module docstring)."""
    if _smoke_requested():
        done = smoke(name, one_input, seeds(), _option("--smoke", 1000), _option("--seed", 0))
        print(f"{name}: {done} inputs, no finding")
        return
    if not _use_atheris():
        files = [Path(arg) for arg in sys.argv[1:] if not arg.startswith("-")]
        if not files:
            sys.exit("atheris is not installed: use --smoke N, or give files to replay (see fuzz/README.md)")
        for path in files:
            one_input(path.read_bytes())
        print(f"{name}: replayed {len(files)} file(s), no finding")
        return
    import atheris

    args = list(sys.argv)
    if not any(not a.startswith("-") for a in args[1:]):  # no corpus or file given: the default corpus
        corpus = HERE / "corpora" / name
        corpus.mkdir(parents=True, exist_ok=True)
        if not any(corpus.iterdir()):
            for data in seeds():
                (corpus / f"seed-{hashlib.sha1(data).hexdigest()}").write_bytes(data)
        args.append(str(corpus))
    if not any(a.startswith("-artifact_prefix=") for a in args):
        crashes = HERE / "crashes" / name
        crashes.mkdir(parents=True, exist_ok=True)
        args.append(f"-artifact_prefix={crashes}/")
    atheris.Setup(args, one_input)
    atheris.Fuzz()


def pieces(data: bytes) -> list[bytes]:
    """Cut an input into the chunks a serial port might deliver: the first byte picks the chunk size
    (below 0x80: one chunk; otherwise 1..64 bytes), so the fuzzer explores the cuts too."""
    if not data:
        return []
    head, rest = data[0], data[1:]
    if head < 0x80:
        return [rest]
    size = (head & 0x3F) + 1
    return [rest[i : i + size] for i in range(0, len(rest), size)]
