"""Files neurosim writes and reads.

* :mod:`neurosim.io.results` -- self-describing HDF5 results files
  (``docs/file-format.md``), written atomically; :func:`open_results` opens
  any neurosim results file (a run's or a sweep's).
"""
from .results import (FORMAT_NAME, FORMAT_VERSION, atomic_write, open_results, read_results,
                      write_results)

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "atomic_write", "open_results", "read_results",
           "write_results"]
