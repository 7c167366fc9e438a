"""Training by gradient steps: the one loop, a killed run resumed, several processes (torchrun)."""
