"""Files neurosim writes and reads.

* :mod:`neurosim.io.results` -- self-describing HDF5 results files
  (``docs/file-format.md``), written atomically.
"""
from .results import FORMAT_NAME, FORMAT_VERSION, atomic_write, read_results, write_results

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "atomic_write", "read_results", "write_results"]
