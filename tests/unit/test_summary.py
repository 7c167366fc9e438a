import json

from genlab.evaluation.summary import summary_table, write_summary


def test_summary_sorted_by_nll_with_real_last(tmp_path):
    rows = {
        "a": {"nll": 99.0, "fid": 8.0, "n_samples": 180},
        "b": {"nll": 91.0, "fid": 3.0, "n_samples": 180},
        "real": {"fid": 1.0, "n_samples": 180},
    }
    for name, row in rows.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(row))
    table = summary_table(tmp_path, ["a", "b"], real=tmp_path / "real.json")
    assert list(table.index) == ["b", "a", "real"]
    md = write_summary(table, tmp_path / "s.csv", tmp_path / "s.md")
    assert "nan" not in md and md.splitlines()[0].split("|")[1].strip() == "model"
    assert (tmp_path / "s.csv").read_text().splitlines()[0] == "model,nll,fid,n_samples"
