"""Every path the pipeline writes, written once: relative to the repository root, where DVC runs
the stages. ``dvc.yaml`` declares the same paths as each stage's deps and outs (DVC reads only its
own file); tests/unit/test_dvc_yaml.py checks that each path here is an output of exactly one stage
there, that every output there is a path here, and that each path a stage script uses is among
its stages' deps or outputs, so the two cannot drift.

Per-model paths are functions of the model's name; names ending in ``_FILE`` are a file's name
in its folder (what a stage writes into the temporary folder it fills).
"""

from __future__ import annotations

PREPARED = "data/prepared"  # preprocess: train.npz, val.npz, test.npz, meta.json

CLASSIFIER_DIR = "models/classifier"  # classifier: classifier.pt, train.json, live/
CLASSIFIER_FILE = "classifier.pt"  # the classifier, in its folder
CLASSIFIER = f"{CLASSIFIER_DIR}/{CLASSIFIER_FILE}"
CLASSIFIER_METRICS = "metrics/classifier.json"

SELF_SUPERVISED_DIR = "models/self_supervised"  # self_supervised: network.pt, train.json, live/
SELF_SUPERVISED_FILE = "network.pt"  # the self-supervised feature network, in its folder
SELF_SUPERVISED = f"{SELF_SUPERVISED_DIR}/{SELF_SUPERVISED_FILE}"
SELF_SUPERVISED_METRICS = "metrics/self_supervised.json"

CHECKPOINT_FILE = "model.pt"  # a model's checkpoint, in its folder
SAMPLES = "samples"  # generate@<model>: one folder per model
SAMPLES_FILE = "samples.npz"  # a model's samples, in its samples folder
SAMPLES_TEXT_FILE = "samples.txt"  # text: the samples, readable, in the samples folder
MODEL_METRICS = "metrics/models"  # evaluate@<model>: one file per model
REAL_METRICS = "metrics/real.json"  # real: the reference row
SUMMARY_CSV = "metrics/summary.csv"  # summary: the comparison table
SUMMARY_MD = "metrics/summary.md"
HEADLINE_METRICS = "metrics/headline.json"  # summary: each row's headline metrics, for `dvc exp show`


def model_dir(model: str) -> str:
    """train@<model>: model.pt, train.json and, for models trained by gradient steps, live/."""
    return f"models/{model}"


def checkpoint(model: str) -> str:
    return f"{model_dir(model)}/{CHECKPOINT_FILE}"


def samples_dir(model: str) -> str:
    return f"{SAMPLES}/{model}"


def samples_file(model: str) -> str:
    return f"{samples_dir(model)}/{SAMPLES_FILE}"


def samples_text(model: str) -> str:
    return f"{samples_dir(model)}/{SAMPLES_TEXT_FILE}"


def model_metrics(model: str) -> str:
    return f"{MODEL_METRICS}/{model}.json"


def model_card(model: str) -> str:
    """evaluate@<model>: the model's card (genlab.evaluation.card), beside its metrics."""
    return f"{MODEL_METRICS}/{model}.md"
