"""The library side of the classifier, generate, evaluate and summary stages."""
