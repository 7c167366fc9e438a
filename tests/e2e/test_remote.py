"""Shared storage: a DVC remote on S3 (dvc-s3) and experiments shared through a git remote.

The S3 server is moto's, started by the test itself on 127.0.0.1 (a free port) with fake
credentials, so nothing leaves the machine. One tiny pipeline (the `independent` model alone)
is reproduced once; then the outputs make a round trip through the bucket (push, lose the
cache and the outputs, pull: everything back, byte for byte), and an experiment travels with
`dvc exp push` to a bare git repository and back with `dvc exp pull` into a fresh clone.
"""

import json
import os
import shutil
import subprocess
import threading
import time

import pytest
import yaml

from helpers import TINY, copy_project, init_repo, set_params, sh

pytestmark = pytest.mark.slow

BUCKET = "genlab-test"
TIMEOUT = 300  # seconds: the most any one command may take (every network wait is bounded)
CACHED = {"data/prepared", "models/classifier", "models/self_supervised", "models/independent", "samples/independent"}
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",  # never ask 169.254.169.254 for anything
    "NO_PROXY": "127.0.0.1",
    "no_proxy": "127.0.0.1",
    "DVC_NO_ANALYTICS": "1",
    "DVC_STUDIO_OFFLINE": "1",
}


def run(cwd, env, *cmd, timeout=TIMEOUT):
    """`sh` with a time limit: for every command that talks to the S3 server or a git remote."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{' '.join(cmd)} took over {timeout} s:\n{e.stdout}\n{e.stderr}")
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def files(root, paths):
    """Every file under ``paths`` (relative to ``root``) with its bytes."""
    out = {}
    for p in paths:
        for f in sorted((root / p).rglob("*")):
            if f.is_file():
                out[f.relative_to(root).as_posix()] = f.read_bytes()
    return out


def cached_outs(repo):
    """The outputs in dvc.lock that DVC caches: those git does not track."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    outs = {o["path"] for stage in lock["stages"].values() for o in stage.get("outs", [])}
    tracked = set(sh(repo, None, "git", "ls-files", "-z").stdout.split("\0"))
    return {o for o in outs if o not in tracked}


def use_remote(repo, env, endpoint, *, add):
    """The S3 remote: its URL in .dvc/config (committed, as in a real project), and this
    machine's endpoint and timeouts in .dvc/config.local; credentials come from the environment."""
    if add:
        run(repo, env, "dvc", "remote", "add", "-d", "storage", f"s3://{BUCKET}/genlab")
    for key, value in (("endpointurl", endpoint), ("connect_timeout", "5"), ("read_timeout", "60")):
        run(repo, env, "dvc", "remote", "modify", "--local", "storage", key, value)


@pytest.fixture(scope="module")
def s3(env, tmp_path_factory):
    """A moto S3 server on 127.0.0.1 with an empty bucket; yields (endpoint, env for subprocesses,
    a boto3 client)."""
    import boto3
    from botocore.config import Config
    from moto.server import ThreadedMotoServer

    mp = pytest.MonkeyPatch()  # this process (boto3 here) sees what the subprocesses see
    for key in list(os.environ):
        if key.startswith("AWS_") or key.lower() in ("http_proxy", "https_proxy", "all_proxy"):
            mp.delenv(key)
    aws = tmp_path_factory.mktemp("aws")  # empty files: nobody's ~/.aws profile or endpoint applies
    (aws / "config").write_text("")
    (aws / "credentials").write_text("")
    s3_env = dict(S3_ENV, AWS_CONFIG_FILE=str(aws / "config"), AWS_SHARED_CREDENTIALS_FILE=str(aws / "credentials"))
    for key, value in s3_env.items():
        mp.setenv(key, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    try:
        starter = threading.Thread(target=server.start, daemon=True)  # start() itself waits unbounded
        starter.start()
        starter.join(30)
        assert not starter.is_alive(), "the moto server did not start within 30 s"
        host, port = server.get_host_and_port()  # port 0: the port the system gave it
        endpoint = f"http://{host}:{port}"
        client = boto3.client(
            "s3", endpoint_url=endpoint,
            config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}),
        )
        client.create_bucket(Bucket=BUCKET)
        drop = ("http_proxy", "https_proxy", "all_proxy", "dvc_studio_token")
        e = {k: v for k, v in env.items() if not k.startswith("AWS_") and k.lower() not in drop}
        e.update(s3_env)
        yield endpoint, e, client
    finally:
        server.stop()
        mp.undo()


@pytest.fixture(scope="module")
def repo(tmp_path_factory, s3):
    """The tiny pipeline with `models: [independent]`, reproduced, the S3 remote the default
    DVC remote, everything committed."""
    endpoint, e, _ = s3
    root = copy_project(tmp_path_factory.mktemp("remote"))
    set_params(root, **TINY)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["models"] = ["independent"]
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    init_repo(root, e)
    run(root, e, "dvc", "repro", timeout=600)
    use_remote(root, e, endpoint, add=True)
    sh(root, e, "git", "add", "-A")
    sh(root, e, "git", "commit", "-q", "-m", "results, the S3 remote")
    assert cached_outs(root) == CACHED
    return root


def test_outputs_make_a_round_trip_through_s3(repo, s3):
    endpoint, e, client = s3
    run(repo, e, "dvc", "push")
    keys = client.list_objects_v2(Bucket=BUCKET, Prefix="genlab/").get("KeyCount", 0)
    assert keys > 0, "nothing arrived in the bucket"
    assert "in sync" in run(repo, e, "dvc", "status", "--cloud").stdout
    metrics = files(repo, ["metrics"])
    outputs = files(repo, CACHED)
    assert len(metrics) >= 5 and len(outputs) >= 5

    shutil.rmtree(repo / ".dvc" / "cache")
    for out in CACHED:
        shutil.rmtree(repo / out)
    assert "deleted" in run(repo, e, "dvc", "status").stdout

    run(repo, e, "dvc", "pull")
    assert "Data and pipelines are up to date." in run(repo, e, "dvc", "status").stdout
    assert files(repo, CACHED) == outputs  # the outputs are back, byte for byte
    assert files(repo, ["metrics"]) == metrics
    assert sh(repo, e, "git", "status", "--porcelain").stdout == ""


def test_an_experiment_travels_through_a_git_remote_and_s3(repo, s3, tmp_path):
    endpoint, e, _ = s3
    origin = tmp_path / "origin.git"
    run(tmp_path, e, "git", "init", "-q", "--bare", "-b", "main", str(origin))
    sh(repo, e, "git", "remote", "add", "origin", str(origin))
    run(repo, e, "git", "push", "-q", "origin", "main")

    run(repo, e, "dvc", "exp", "run", "-n", "shared-exp", "-S", "independent.smoothing=1.0", timeout=600)
    metric = (repo / "metrics" / "models" / "independent.json").read_bytes()
    model = files(repo, ["models/independent", "samples/independent"])
    run(repo, e, "dvc", "exp", "push", "origin", "shared-exp")  # the git refs, and the outputs to S3

    clone = tmp_path / "clone"
    run(tmp_path, e, "git", "clone", "-q", "-b", "main", str(origin), str(clone))
    sh(clone, e, "git", "config", "user.name", "genlab test")
    sh(clone, e, "git", "config", "user.email", "test@genlab.invalid")
    assert "storage" in run(clone, e, "dvc", "remote", "list").stdout  # the committed remote
    use_remote(clone, e, endpoint, add=False)

    run(clone, e, "dvc", "exp", "pull", "origin", "shared-exp")
    exps = json.loads(run(clone, e, "dvc", "exp", "show", "--json").stdout)
    names = {r.get("name") for base in exps for exp in base.get("experiments") or [] for r in exp["revs"]}
    assert "shared-exp" in names, exps
    assert "shared-exp" in run(clone, e, "dvc", "exp", "list").stdout

    run(clone, e, "dvc", "exp", "apply", "shared-exp")  # checks the outputs out of the cache exp pull filled
    assert files(clone, ["models/independent", "samples/independent"]) == model
    assert "Everything is up to date." in run(clone, e, "dvc", "pull").stdout
    assert "Data and pipelines are up to date." in run(clone, e, "dvc", "status").stdout
    assert yaml.safe_load((clone / "params.yaml").read_text())["independent"]["smoothing"] == 1.0
    assert (clone / "metrics" / "models" / "independent.json").read_bytes() == metric
    assert (clone / "samples" / "independent" / "samples.png").is_file()


def test_a_queue_runs_two_experiments_side_by_side(repo, s3):
    """DVC's comma syntax queues one experiment per value; `dvc queue start -j 2` runs two at a
    time, each with one thread (GENLAB_THREADS), and `dvc exp show` lists both with their nll."""
    _, e, _ = s3
    e = dict(e, GENLAB_THREADS="1")
    run(repo, e, "dvc", "exp", "run", "--queue", "-S", "independent.smoothing=0.25,0.75")
    assert run(repo, e, "dvc", "queue", "status").stdout.count("Queued") == 2
    run(repo, e, "dvc", "queue", "start", "-j", "2")
    deadline = time.monotonic() + 400
    try:
        while True:
            status = run(repo, e, "dvc", "queue", "status").stdout
            if "Queued" not in status and "Running" not in status:
                break
            assert time.monotonic() < deadline, status
            time.sleep(3)
    finally:
        run(repo, e, "dvc", "queue", "stop")
    assert status.count("Success") == 2, status
    rows = json.loads(run(repo, e, "dvc", "exp", "show", "--json").stdout)
    found = {}
    for base in rows:
        for exp in base.get("experiments") or []:
            for rev in exp["revs"]:
                data = rev.get("data") or {}
                smoothing = data.get("params", {}).get("params.yaml", {}).get("data", {}).get("independent", {}).get("smoothing")
                nll = data.get("metrics", {}).get("metrics/models/independent.json", {}).get("data", {}).get("nll")
                if smoothing in (0.25, 0.75):
                    found[smoothing] = nll
    assert set(found) == {0.25, 0.75} and all(isinstance(v, float) for v in found.values()), found
    assert found[0.25] != found[0.75]
