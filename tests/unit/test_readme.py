"""The README's headline table is metrics/summary.csv as committed, each cell rounded as shown."""

import csv

from helpers import ROOT

# README column -> summary.csv column
COLUMNS = {"nll": "nll", "±": "nll_stderr", "bits/dim": "bits_per_dim", "fid": "fid", "kid": "kid",
           "precision": "precision", "recall": "recall", "density": "density", "coverage": "coverage",
           "IS": "inception_score", "classes": "classes_covered", "nn ratio": "nn_distance_ratio",
           "copies": "exact_copy_rate", "n": "n_samples"}


def readme_table() -> list[dict[str, str]]:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| model | nll |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, (c.strip() for c in line.strip("|").split("|")))))
    return rows


def test_the_readme_table_is_the_committed_summary():
    with open(ROOT / "metrics" / "summary.csv", newline="") as fh:
        summary = {row["model"]: row for row in csv.DictReader(fh)}
    rows = readme_table()
    assert [r["model"] for r in rows] == list(summary)
    for row in rows:
        for shown, column in COLUMNS.items():
            cell, value = row[shown].replace("−", "-"), summary[row["model"]][column]
            if not cell:
                assert value == "", (row["model"], shown)
                continue
            decimals = len(cell.split(".")[1]) if "." in cell else 0
            assert float(cell) == round(float(value), decimals), (row["model"], shown, cell, value)
