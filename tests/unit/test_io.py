import json

import pytest

from genlab.io import atomic_dir, atomic_file, write_json


def test_failed_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "m.json"
    write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_file(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_failed_dir_leaves_the_old_dir(tmp_path):
    target = tmp_path / "out"
    with atomic_dir(target) as d:
        (d / "x").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as d:
            (d / "x").write_text("2")
            raise RuntimeError("boom")
    assert (target / "x").read_text() == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_json_is_rounded_and_finite(tmp_path):
    write_json(tmp_path / "m.json", {"a": 1 / 3, "b": float("nan"), "n": 3})
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": 0.333333, "b": None, "n": 3}


def test_leftovers_of_a_killed_run_are_deleted_by_the_next(tmp_path):
    (tmp_path / ".out.abc123.tmp").mkdir()  # what a SIGKILL inside atomic_dir leaves
    (tmp_path / ".out.abc123.tmp" / "half").write_text("x")
    (tmp_path / ".out.old-42").mkdir()
    (tmp_path / ".m.json.xyz.tmp").write_text("half")
    (tmp_path / ".other.1.tmp").mkdir()  # another output's leftovers are not this run's business
    with atomic_dir(tmp_path / "out") as d:
        (d / "x").write_text("1")
    write_json(tmp_path / "m.json", {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.1.tmp", "m.json", "out"]


def test_tidy_deletes_what_killed_runs_left_beside_outputs_in_place(tmp_path, capsys):
    """After `dvc repro` restores a killed stage from its run-cache, its output is in place and
    what the killed run left beside it is stale; beside an output that is not in place (a killed
    training waiting to resume: DVC deletes a stage's outputs before running it) nothing is touched."""
    from genlab.io import leftover_of, tidy
    from genlab.training.resume import state_path

    models, metrics = tmp_path / "models", tmp_path / "metrics" / "models"
    for out in (models / "vae", models / "gan"):
        out.mkdir(parents=True)
        (out / "model.pt").write_bytes(b"weights")
    metrics.mkdir(parents=True)
    (metrics / "vae.json").write_text("{}")
    stale = [
        state_path(models / "vae"),  # .vae.resume.pt
        models / ".vae.k2x_9abc.tmp",  # a folder being built
        models / "..vae.resume.pt.q1w2e3r4.tmp",  # a state being saved
        models / ".gan.old-4242",  # a previous output being replaced
        metrics / ".vae.json.a1b2c3d4.tmp",
    ]
    waiting = [state_path(models / "markov"), models / ".markov.zz99yy88.tmp", metrics / ".gan.json.abcdefgh.tmp"]
    folders = {models / ".vae.k2x_9abc.tmp", models / ".gan.old-4242", models / ".markov.zz99yy88.tmp"}
    for path in stale + waiting:
        if path in folders:
            path.mkdir()
            (path / "half").write_bytes(b"x")
        else:
            path.write_bytes(b"state")
    (models / ".gitignore").write_text("/vae\n")  # not a leftover
    assert [leftover_of(p) for p in stale] == [models / "vae"] * 3 + [models / "gan", metrics / "vae.json"]
    assert leftover_of(models / ".gitignore") is None and leftover_of(models / "vae") is None

    removed = tidy(tmp_path, ["data", "models", "metrics/models"])  # data/ does not exist: skipped
    assert sorted(removed) == sorted(stale)
    assert not any(p.exists() for p in stale) and all(p.exists() for p in waiting)
    assert (models / "vae" / "model.pt").exists() and (models / ".gitignore").exists()
    said = capsys.readouterr().err.splitlines()
    assert len(said) == len(stale) and all(line.startswith("removed ") and "killed run" in line for line in said)
    assert tidy(tmp_path, ["models", "metrics/models"]) == []  # nothing left to do


def test_every_stage_tidies_the_output_folders_first(tmp_path, monkeypatch):
    """cli.run tidies the pipeline's output folders (relative to the working directory, where
    DVC runs the stages) before the stage's own work, and marks the run in progress with an
    empty file that it deletes at the end (a killed run leaves it, for DVC to see); neither in
    torchrun's workers."""
    import os

    from genlab import cli

    monkeypatch.chdir(tmp_path)
    assert set(cli.OUTPUT_FOLDERS) == {"data", "models", "samples", "metrics", "metrics/models"}
    (tmp_path / "data" / "prepared").mkdir(parents=True)
    (tmp_path / "samples" / "vae").mkdir(parents=True)
    (tmp_path / "data" / ".prepared.abcd1234.tmp").mkdir()
    (tmp_path / "data" / ".running-1.tmp").touch()  # a killed run's marker
    (tmp_path / "samples" / ".vae.old-7").mkdir()
    seen = []
    data = lambda args: seen.append(sorted(p.name for p in (tmp_path / "data").iterdir()))
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    cli.run(data, None)
    monkeypatch.delenv("LOCAL_RANK")
    cli.run(data, None)
    assert seen == [[".prepared.abcd1234.tmp", ".running-1.tmp", "prepared"], [f".running-{os.getpid()}.tmp", "prepared"]]
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["prepared"]
    assert [p.name for p in (tmp_path / "samples").iterdir()] == ["vae"]
    with pytest.raises(SystemExit):
        cli.run(lambda args: cli.fail("boom"), None)
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["prepared"]
