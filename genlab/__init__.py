"""genlab: train, sample and evaluate generative models as a DVC pipeline."""

__version__ = "0.1.0"
