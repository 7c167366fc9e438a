"""genlab: train, sample and evaluate generative models as a DVC pipeline.

Outside the pipeline, ``genlab.load`` gives a trained model to sample from and score data with
(``genlab.trained``), and the ``genlab sample`` command writes samples into a folder.
"""

import importlib

__version__ = "0.1.0"


def load(model, device: str = "cpu"):
    """The trained model ``model`` names: a model's name (models/<name>/ under the current
    folder), a model folder or its model.pt. ``.sample(n, seed=0)`` returns the data in its own
    terms (uint8 images shaped like the data, strings, piano rolls, float rows); ``.log_prob(x)``
    (exact models) and ``.nll(x)`` (exact, or the model's bound) score data. See ``genlab.trained``."""
    # imported by name when called: every stage imports this package, and none calls load, so the
    # pipeline's stages do not depend on genlab/trained (dvc.yaml lists what they import)
    return importlib.import_module("genlab.trained").load(model, device)
