"""Score a trained model, or the real reference row, and write its metrics file.

Reads `device` and `evaluate:`. Likelihood on the test split (nats per example; for the VAE
the importance-weighted bound with `evaluate.iw_samples` samples, the negative ELBO and
its terms). Sample metrics of the model's samples against the test split in a frozen
network's features, the space `evaluate.features` chooses (genlab.evaluation.features: the
classifier's or the self-supervised network's; `features` names it in every file): fid,
fid_stderr, kid, precision, recall, density, coverage and, in the classifier's,
inception_score and classes_covered; memorisation against the train split in pixel space
(nn_distance_ratio, exact_copy_rate); completions of the test images under `completion.masks`
(genlab.evaluation.completion: complete_nll_<mask> where the model has it, complete_accuracy_<mask>
on labelled images); for continuous values, two-sample tests instead.
For text: exact nats per character over the whole test text (nll, bits_per_char,
perplexity, n_test, oov_rate) and the text sample metrics (novelty_char8, novelty_char16,
novelty_word3, longest_copy, distinct_2). For music: exact nats per frame over every test
frame, the first of each piece included (nll, nll_stderr, bits_per_frame, n_test frames,
n_test_pieces, unseen_rate) and the music sample metrics (polyphony, pitch_class_tv,
pitch_range, scale_consistency, chord_copy_rate, oa_pitch_count, oa_pitch_class_hist); its
real row is the validation pieces scored as if they were samples. Writes metrics/models/<model>.json, or with --real
metrics/real.json: the validation split scored as if it were samples (text: as many test
windows as samples, of the same length), the reference every model is read against; for
images also fid_shuffled, the known-bad reference (the same images, pixels shuffled) that the
features must tell from real ones.
Beside the quality, what the model costs (genlab.metrics.cost): n_parameters, checkpoint_bytes,
train_steps, train_flop (the whole training run), sample_flop (one sample; text and music: of
`generate.length` symbols or frames) and nll_flop (one test image, row, character or frame);
and the model's card, metrics/models/<model>.md (genlab.evaluation.card).
"""

import json
import sys
from pathlib import Path

from genlab import cli, paths, runtime
from genlab.config.params import load_params
from genlab.data.prepare import load_prepared
from genlab.errors import GenlabError
from genlab.evaluation import features
from genlab.evaluation.card import model_card
from genlab.evaluation.evaluate import Setting, load_samples, score_model, score_real
from genlab.evaluation.summary import feature_check
from genlab.io import atomic_file, write_json
from genlab.models import registry


def read_train_summary(model: str) -> dict:
    """The train stage's summary of the model's training (models/<model>/train.json)."""
    path = Path(paths.model_dir(model)) / "train.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        raise GenlabError(f"{path}: missing or not JSON; run the train stage") from None


def training_cost(model: str, trained: dict) -> dict:
    """What training the model cost and what it weighs, from the train stage's outputs (``trained``: its train.json)."""
    return {"train_steps": int(trained.get("steps", 0)), "train_flop": int(trained.get("train_flop", 0)),
            "checkpoint_bytes": Path(paths.checkpoint(model)).stat().st_size}


def main(args) -> None:
    params = load_params(args.params, models=[args.model] if args.model else [])
    device = runtime.setup(params.device, params.evaluate.seed, params.precision)
    data = load_prepared(paths.PREPARED)
    space = features.space(params.evaluate.features, data.meta)
    network = None if space is None else features.load(space, device="cpu")
    classifier = None if space is None else features.classifier(space, network, data.meta)
    if args.real:
        path = paths.REAL_METRICS
        metrics = score_real(data, Setting(params, network, space, classifier=classifier))
    else:
        path = paths.model_metrics(args.model)
        _, model = registry.load(paths.checkpoint(args.model), device)
        samples = load_samples(paths.samples_file(args.model))
        setting = Setting(params, network, space, runtime.generator(params.evaluate.seed, device), classifier)
        trained = read_train_summary(args.model)
        metrics = score_model(model, data, samples, setting)
        metrics.update(training_cost(args.model, trained))
    write_json(path, metrics)
    if not args.real:
        card = model_card(args.model, model, data.meta, metrics, trained, paths.PREPARED)
        with atomic_file(paths.model_card(args.model)) as tmp:
            tmp.write_text(card, encoding="utf-8")
    if args.real and "fid_shuffled" in metrics:
        warning = feature_check(metrics)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    name = "real" if args.real else args.model
    print(f"evaluate {name}: " + ", ".join(f"{k} {v:.6g}" for k, v in metrics.items() if isinstance(v, (int, float))))


if __name__ == "__main__":
    parser = cli.parser(__doc__)
    which = parser.add_mutually_exclusive_group(required=True)
    cli.add_model_arg(which, required=False)
    which.add_argument("--real", action="store_true", help="score the reference row: the validation split (text: test windows)")
    cli.run(main, parser.parse_args())
