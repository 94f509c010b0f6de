"""facetui: sort a photo library by the people in it, from the terminal."""

__version__ = "0.1.0"
