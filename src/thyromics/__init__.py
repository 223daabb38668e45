"""thyromics: thyroid-cancer imaging studies from images to publication-grade results."""

__version__ = "0.1.0"
__all__ = ["__version__"]
