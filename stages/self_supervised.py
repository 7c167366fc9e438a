"""Train the self-supervised feature network on the train split, without labels; freeze it.

Reads `device`, `precision`, `evaluate.features` and `self_supervised:`. Where the sample
metrics' feature space is the self-supervised one (`evaluate.features: self_supervised`, or
`auto` on unlabelled images), trains it (SimCLR's contrastive loss, genlab.evaluation.
self_supervised) by the shared loop and writes models/self_supervised/ (network.pt,
train.json, live/ curves) and metrics/self_supervised.json (val_loss, feature_dim, steps);
otherwise (the classifier's space, or text, music and values) it writes a note and nothing
trains. It trains in one process, even under `distributed`.
"""

from genlab import cli, paths, runtime
from genlab.config.params import load_params
from genlab.data.prepare import load_prepared
from genlab.evaluation import features
from genlab.evaluation.self_supervised import SelfSupervised
from genlab.io import atomic_dir, write_json
from genlab.training import resume
from genlab.training.loop import train_model


def main(args) -> None:
    params = load_params(args.params)
    p = params.self_supervised
    device = runtime.setup(params.device, p.seed, params.precision)
    data = load_prepared(paths.PREPARED)
    space = features.space(params.evaluate.features, data.meta)
    with atomic_dir(paths.SELF_SUPERVISED_DIR) as out:
        if space != "self_supervised":
            why = f"not used: the sample metrics are in the {space}'s features" if space else f"{data.modality.name} data: no features"
            write_json(out / "train.json", {"note": why})
            metrics = {"note": why}
        else:
            model = SelfSupervised(p, data.meta["shape"], data.meta["n_levels"]).to(device)
            settings = {"stage": "self_supervised", "params": p.model_dump(), "device": params.device, "precision": params.precision}
            checkpoint = resume.for_stage(paths.SELF_SUPERVISED_DIR, settings, [paths.PREPARED], params.checkpoint_every)
            summary = train_model(model, (data.train.x,), (data.val.x,), live_dir=out / "live", checkpoint=checkpoint)
            model.cpu().save(out / paths.SELF_SUPERVISED_FILE, data.meta)
            write_json(out / "train.json", summary)
            metrics = {"val_loss": summary["best_val_loss"], "steps": summary["steps"], "feature_dim": p.feature_dim}
    resume.state_path(paths.SELF_SUPERVISED_DIR).unlink(missing_ok=True)  # the outputs are in place
    write_json(paths.SELF_SUPERVISED_METRICS, metrics)
    print("self_supervised: " + ", ".join(f"{k} {v}" for k, v in metrics.items()))


if __name__ == "__main__":
    cli.run(main, cli.parser(__doc__).parse_args())
