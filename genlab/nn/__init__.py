"""Building blocks the models share: networks (nets, sequence), observation models, kernels, categorical draws, the optimiser."""
