"""make verify: deviations by tolerance class, outcomes compared exactly, and a git round trip."""

import json
import subprocess

import pytest

from metareweight import verify

RECORD = {"splits": [{"split": 0, "restricted": 3.85, "all": 107.2, "reweighted": 4.67}],
          "paired": {"scaled": {"reweighted_vs_restricted": {"mean_rel_improvement": -0.22, "holds": "no"}}},
          "cold_seconds": {"main": 1297.5}, "rows": [{"claim": "beats", "holds": "no", "ours": "4.67 > 3.85"}]}


def changed(**edits):
    rec = json.loads(json.dumps(RECORD))
    for path, value in edits.items():
        node = rec
        *head, last = path.split("/")
        for key in head:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(last) if last.isdigit() else last] = value
    return rec


def test_identical_records_agree():
    out = verify.compare(RECORD, RECORD)
    assert out["failures"] == [] and out["largest"] == (0.0, "") and out["numbers"] == 5


def test_deterministic_heads_are_exact_and_meta_numbers_have_room():
    assert verify.compare(changed(**{"splits/0/restricted": 3.85 * (1 + 1e-6)}), RECORD)["failures"]
    small = verify.compare(changed(**{"splits/0/reweighted": 4.67 * (1 + 1e-3)}), RECORD)
    assert small["failures"] == [] and small["largest"][1] == "splits/0/reweighted"
    assert small["largest"][0] == pytest.approx(1e-3 / (1 + 1e-3), rel=1e-9)
    assert verify.compare(changed(**{"splits/0/reweighted": 4.67 * 1.01}), RECORD)["failures"]


def test_outcomes_must_agree_and_timings_are_skipped():
    assert verify.compare(changed(**{"rows/0/holds": "yes"}), RECORD)["failures"] == ["rows/0/holds: 'yes' != 'no'"]
    assert verify.compare(changed(**{"rows/0/ours": "4.68 > 3.85"}), RECORD)["failures"] == []
    assert verify.compare(changed(**{"cold_seconds/main": 9.0}), RECORD)["failures"] == []
    missing = json.loads(json.dumps(RECORD))
    del missing["splits"][0]["all"]
    assert verify.compare(missing, RECORD)["missing"] == ["splits/0/all"]


def test_main_compares_the_working_tree_with_the_commit(tmp_path, monkeypatch, capsys):
    (tmp_path / "_toc.yml").write_text("root: x\n")
    folder = tmp_path / "results" / "paper"
    folder.mkdir(parents=True)
    (folder / "table1.json").write_text(json.dumps(RECORD))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "records"], check=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("METAREWEIGHT_ROOT", raising=False)
    assert verify.main([]) == 0
    (folder / "table1.json").write_text(json.dumps(changed(**{"splits/0/all": 108.0})))
    assert verify.main([]) == 1
    assert "splits/0/all: 108 vs 107.2" in capsys.readouterr().out
