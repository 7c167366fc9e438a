"""The pipeline's stage scripts: run each as ``python -m stages.<name>`` from the repository root."""
