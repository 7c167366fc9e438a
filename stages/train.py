"""Train one model of the pipeline on the train split, keeping the weights that do best on validation.

Reads `device` and the model's own params section (e.g. `vae:`); writes models/<model>/:
model.pt (the checkpoint), train.json (best epoch and validation loss) and, for models
trained by gradient steps, live/ (DVCLive curves of the train and validation loss).
Nothing is saved if the loss becomes NaN or infinite; a model that cannot model the data
(the GAN on a table of values, say) stops with one line naming the model and the data.
With `distributed.nproc_per_node` x `distributed.nnodes` > 1 a model trained by gradient steps
trains in that many processes under torchrun (genlab.training.distributed); rank 0 writes the outputs.
"""

from genlab import cli, paths, runtime
from genlab.config.params import load_params
from genlab.data.prepare import load_prepared
from genlab.errors import GenlabError, TooShort
from genlab.evaluation import features
from genlab.io import atomic_dir, write_json
from genlab.models import registry
from genlab.training import distributed, resume
from genlab.training.loop import fresh_training_data, train_model


def main(args) -> None:
    params = load_params(args.params, models=[args.model])
    model_params = params.model_params(args.model)
    seed = getattr(model_params, "seed", 0)
    device = runtime.setup(params.device, seed, params.precision)
    data = load_prepared(paths.PREPARED, splits=("train", "val"))
    model = registry.build(args.model, model_params, data.meta)
    if distributed.wanted(params.distributed) and model.trains_by_gradient and not distributed.in_worker():
        return distributed.launch(params.distributed, "stages.train", ["--model", args.model, "--params", args.params])
    device = distributed.init(device)
    model = model.to(device)
    space = None
    if model.needs_features:  # e.g. the GAN: checkpoints chosen by validation FID
        space = features.space(params.evaluate.features, data.meta)
        if space is None:
            raise GenlabError(f"{args.model}: selects checkpoints in image features; the data are {data.modality.name}")
        model.attach_features(features.load(space))
    fresh = fresh_training_data(data, labels=model.conditional)  # dynamic binarization, dequantization
    out_dir = paths.model_dir(args.model)
    checkpoint = None
    if model.trains_by_gradient and distributed.is_main():  # a killed run resumes (genlab.training.resume)
        settings = {"stage": f"train@{args.model}", "params": model_params.model_dump(), "device": params.device,
                    "precision": params.precision}
        checkpoint = resume.for_stage(out_dir, settings, [paths.PREPARED] + ([features.output(space)] if space else []),
                                      params.checkpoint_every)

    def fit(live_dir) -> dict:
        try:
            summary = train_model(model, model.inputs(data.train), model.inputs(data.val), live_dir=live_dir, fresh=fresh,
                                  checkpoint=checkpoint)
        except TooShort as exc:  # name the user's file
            raise GenlabError(f"{data.meta.get('path', paths.PREPARED)}: {exc}") from None
        return {**summary, "world_size": distributed.world()[1]}

    if not distributed.is_main():  # another rank of a distributed run: it trains and writes nothing
        fit(None)
        return distributed.finish()
    with atomic_dir(out_dir) as out:
        summary = fit(out / "live")
        registry.save(model.cpu(), args.model, data.meta, out / paths.CHECKPOINT_FILE)
        write_json(out / "train.json", summary)
    if checkpoint is not None:
        checkpoint.clear()  # the outputs are in place: nothing left to resume
    distributed.finish()
    print(f"train {args.model}: " + (", ".join(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}" for k, v in summary.items()) or "fitted"))


if __name__ == "__main__":
    cli.run(main, cli.parser(__doc__, model_arg=True).parse_args())
