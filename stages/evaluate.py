"""Score a trained model on the test split and write metrics/<model>.json.

Reads `device` and `evaluate:`. For the VAE: the importance-weighted bound with
`evaluate.iw_samples` samples (`nll`, nats per image) and its standard error, the negative
ELBO with its reconstruction and KL terms, and bits per dimension. The test split is read
here and nowhere else.
"""

from genlab import cli, registry, runtime
from genlab.data import load_prepared
from genlab.evaluate import evaluate_model
from genlab.io import write_json
from genlab.params import load_params


def main(args) -> None:
    params = load_params(args.params)
    device = runtime.setup(params.device, params.evaluate.seed)
    _, model = registry.load(f"models/{args.model}/{registry.CHECKPOINT}", device)
    data = load_prepared("data/prepared", splits=("test",))
    metrics = evaluate_model(model, data.test.x.to(device), params.evaluate, runtime.generator(params.evaluate.seed, device))
    write_json(f"metrics/{args.model}.json", metrics)
    print(f"evaluate {args.model}: " + ", ".join(f"{k} {v:.6g}" for k, v in metrics.items()))


if __name__ == "__main__":
    cli.run(main, cli.parser(__doc__, model_arg=True).parse_args())
