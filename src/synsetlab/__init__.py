"""synsetlab: ImageNet-style datasets on WordNet, ILSVRC-style challenges, and training on them."""

__version__ = "0.1.0"

__all__ = ["__version__"]
