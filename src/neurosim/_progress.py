"""Pluggable progress reporting: none, text, tqdm, or a callback.

Library functions take ``progress=None`` (silent) by default; the command
line chooses text. Nothing here is global: each call makes its own
reporter.
"""
from __future__ import annotations

import sys
import time

from .errors import NeurosimValueError

__all__ = ["make_progress", "Progress", "PROGRESS_CHOICES"]

#: Values accepted by ``progress=`` (besides a callable).
PROGRESS_CHOICES = ("none", "text", "tqdm")


class Progress:
    """A silent reporter; subclasses say something.

    Parameters
    ----------
    total : int
        Units of work (e.g. patients).
    desc : str
        What is being done.
    """

    #: False for the silent reporter: callers may then do work in one piece.
    shows = False

    def __init__(self, total: int, desc: str = ""):
        self.total = int(total)
        self.desc = desc
        self.done = 0

    def update(self, n: int = 1) -> None:
        self.done += int(n)
        self._show()

    def _show(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _clock(seconds: float) -> str:
    """A duration as ``1:02:03`` or ``2:03``."""
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class _Text(Progress):
    """Plain lines on stderr, at most every ``every`` seconds and at the end.

    Each line gives the work done, the elapsed time, the rate and (before
    the end) the estimated time left.
    """

    shows = True

    def __init__(self, total, desc="", stream=None, unit="", every=2.0):
        super().__init__(total, desc)
        self.stream = sys.stderr if stream is None else stream
        self.unit = unit
        self.every = float(every)
        self._last = -1.0
        self._t0 = time.perf_counter()

    def _show(self):
        now = time.perf_counter()
        if self.done < self.total and now - self._last < self.every:
            return
        self._last = now
        pct = 100.0 * self.done / self.total if self.total else 100.0
        elapsed = now - self._t0
        text = f"{self.desc}: {self.done}/{self.total} ({pct:.0f} %, {elapsed:.1f} s"
        if self.done > 0 and elapsed > 0:
            rate = self.done / elapsed
            text += f", {rate:.3g} {self.unit + ' ' if self.unit else ''}per s"
            if self.done < self.total:
                text += f", {_clock((self.total - self.done) / rate)} left"
        print(text + ")", file=self.stream, flush=True)


class _Tqdm(Progress):
    shows = True

    def __init__(self, total, desc="", unit="", leave=False):
        super().__init__(total, desc)
        try:
            from tqdm.auto import tqdm
        except ImportError:
            raise NeurosimValueError("progress='tqdm' needs the tqdm package; install it with "
                                     "'pip install neurosim[progress]' or use progress='text'."
                                     ) from None
        self._bar = tqdm(total=self.total, desc=desc, leave=leave, unit=f" {unit}" if unit
                         else "it", dynamic_ncols=True)

    def update(self, n=1):
        self.done += int(n)
        self._bar.update(int(n))

    def close(self):
        self._bar.close()


class _Callback(Progress):
    shows = True

    def __init__(self, total, desc, func):
        super().__init__(total, desc)
        self._func = func

    def _show(self):
        self._func(self.done, self.total, self.desc)


def make_progress(spec, total: int, desc: str = "", *, unit: str = "",
                  leave: bool = False) -> Progress:
    """A progress reporter.

    Parameters
    ----------
    spec : None, bool, str or callable
        ``None``/``False``/``"none"``: silent; ``True``/``"text"``: lines on
        stderr (done, elapsed, rate, time left); ``"tqdm"``: a tqdm bar; a
        callable ``f(done, total, desc)`` called after each unit of work.
    total : int
        Units of work.
    desc : str
        Label.
    unit : str, optional
        Name of a unit of work in rates (``"patients"``).
    leave : bool, optional
        Keep a tqdm bar on screen when it closes.
    """
    if spec is None or spec is False or spec == "none":
        return Progress(total, desc)
    if spec is True or spec == "text":
        return _Text(total, desc, unit=unit)
    if spec == "tqdm":
        return _Tqdm(total, desc, unit=unit, leave=leave)
    if callable(spec):
        return _Callback(total, desc, spec)
    from .errors import did_you_mean

    raise NeurosimValueError(f"progress must be None, 'text', 'tqdm' or a callable f(done, "
                             f"total, desc); got {spec!r}." + did_you_mean(str(spec),
                                                                          PROGRESS_CHOICES))
