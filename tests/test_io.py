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
