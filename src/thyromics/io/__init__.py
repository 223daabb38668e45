"""Readers for images, masks and the case manifest."""

from thyromics.io.image import Image

__all__ = ["Image"]
