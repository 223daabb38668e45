"""Which optional install (``pip install 'thyromics[EXTRA]'``) a feature needs."""

from __future__ import annotations

from importlib.util import find_spec

from thyromics.errors import InputError

__all__ = ["require", "EXTRAS"]

#: The modules of each extra of pyproject.toml.
EXTRAS: dict[str, tuple[str, ...]] = {"deep": ("torch", "monai"), "dask": ("distributed",)}


def require(extra: str, what: str) -> None:
    """Raise :class:`InputError` naming the extra to install when its modules are missing."""
    missing = [m for m in EXTRAS[extra] if find_spec(m) is None]
    if missing:
        raise InputError(f"{what} needs {', '.join(missing)}, which this installation lacks: "
                         f"install the '{extra}' extra, pip install 'thyromics[{extra}]' "
                         "-c constraints.txt (or '.[all]' from a checkout).")
