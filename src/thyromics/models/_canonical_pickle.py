"""Model files whose bytes depend on the model only, not on how the run went.

Two things make a plain ``joblib.dump`` of the same fitted model differ between runs
(``--jobs 1`` against ``--jobs N``, a fit loaded from the cache against a fresh one):

- pickle's memo records object identities: two equal strings or dtypes are written once
  when they are one object and twice when they are two, which depends on where the
  objects came from (an unpickled copy, an interned literal);
- scikit-learn's tree node arrays are structured arrays with padding bytes that are never
  initialised, so they hold whatever the allocator left there.

:func:`canonical_dump` writes without the memo (pickle's "fast" mode: every object in
full) and with padding bytes zeroed. The file is an ordinary pickle, read by
``joblib.load`` or ``pickle.load``. An object graph with a cycle cannot be written
without the memo; it is then written with it (still with zeroed padding).
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["canonical_dumps", "canonical_dump"]

PROTOCOL = 4


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any):
        if isinstance(obj, np.ndarray) and _has_padding(obj.dtype):
            return _zero_padded(obj).__reduce_ex__(PROTOCOL)
        return NotImplemented


def _has_padding(dtype: np.dtype) -> bool:
    if dtype.fields is None:
        return False
    return dtype.itemsize > sum(f[0].itemsize for f in dtype.fields.values())


def _zero_padded(a: np.ndarray) -> np.ndarray:
    out = np.zeros(a.shape, dtype=a.dtype)
    for name in a.dtype.names:
        out[name] = a[name]
    return out


def canonical_dumps(obj: Any) -> bytes:
    """The pickle of ``obj`` as :mod:`this module <thyromics.models._canonical_pickle>` writes it."""
    for fast in (True, False):
        buf = io.BytesIO()
        pickler = _Pickler(buf, protocol=PROTOCOL)
        pickler.fast = fast
        try:
            pickler.dump(obj)
        except (ValueError, RecursionError):  # a cycle: only the memo can write it
            if not fast:
                raise
            continue
        return buf.getvalue()
    raise AssertionError("unreachable")


def canonical_dump(obj: Any, path: Path) -> None:
    """Write :func:`canonical_dumps` of ``obj`` to ``path``."""
    Path(path).write_bytes(canonical_dumps(obj))
