"""Train the feature classifier on the train split; freeze it for every sample metric.

Reads `device` and `classifier:`; writes models/classifier/ (classifier.pt, train.json,
live/ curves) and metrics/classifier.json (val_accuracy, test_accuracy). Its penultimate
features are the space in which FID, KID, precision/recall and density/coverage are measured.
With `distributed.nproc_per_node` x `distributed.nnodes` > 1 it trains in that many processes
under torchrun (genlab.training.distributed); rank 0 writes the outputs.
"""

from genlab import cli, paths, runtime
from genlab.config.params import load_params
from genlab.data import modality
from genlab.data.prepare import load_prepared
from genlab.evaluation.classifier import Classifier
from genlab.io import atomic_dir, write_json
from genlab.training import distributed, resume
from genlab.training.loop import train_model


def main(args) -> None:
    params = load_params(args.params)
    p = params.classifier
    device = runtime.setup(params.device, p.seed, params.precision)
    data = load_prepared(paths.PREPARED)
    trains = modality.has_classifier(data.meta)
    if trains and distributed.wanted(params.distributed) and not distributed.in_worker():
        return distributed.launch(params.distributed, "stages.classifier", ["--params", args.params])
    device = distributed.init(device)
    if not distributed.is_main():  # another rank of a distributed run: it trains and writes nothing
        model = Classifier(p, data.meta["shape"], data.meta["n_levels"], data.meta["n_classes"]).to(device)
        train_model(model, (data.train.x, data.train.y), (data.val.x, data.val.y), live_dir=None)
        return distributed.finish()
    with atomic_dir(paths.CLASSIFIER_DIR) as out:
        if not trains:
            kind = data.modality
            if kind.uses_features:
                why = "unlabelled images (fewer than two classes): no classifier; the sample metrics use the self-supervised features"
            else:
                why = f"{kind.name} data: no classifier, it does not apply"
            write_json(out / "train.json", {"note": why})
            metrics = {"note": why}
        else:
            model = Classifier(p, data.meta["shape"], data.meta["n_levels"], data.meta["n_classes"]).to(device)
            settings = {"stage": "classifier", "params": p.model_dump(), "device": params.device, "precision": params.precision}
            checkpoint = resume.for_stage(paths.CLASSIFIER_DIR, settings, [paths.PREPARED], params.checkpoint_every)
            summary = train_model(model, (data.train.x, data.train.y), (data.val.x, data.val.y), live_dir=out / "live",
                                  checkpoint=checkpoint)
            summary["world_size"] = distributed.world()[1]
            model.cpu().save(out / paths.CLASSIFIER_FILE, data.meta)
            write_json(out / "train.json", summary)
            model.eval()
            metrics = {
                "val_accuracy": model.accuracy(data.val.x, data.val.y),
                "test_accuracy": model.accuracy(data.test.x, data.test.y),
                "n_test": len(data.test.x),
                "feature_dim": p.feature_dim,
            }
    resume.state_path(paths.CLASSIFIER_DIR).unlink(missing_ok=True)  # the outputs are in place
    distributed.finish()
    write_json(paths.CLASSIFIER_METRICS, metrics)
    print("classifier: " + ", ".join(f"{k} {v}" for k, v in metrics.items()))


if __name__ == "__main__":
    cli.run(main, cli.parser(__doc__).parse_args())
