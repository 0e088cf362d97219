import pytest

from metareweight import runbook


@pytest.mark.parametrize("argv,match", [
    (["--profile", "fast"], "unknown profile 'fast'"),
    (["--profile", "quick", "-p", "epochz", "3"], "unknown parameter"),
    (["--profile", "quick", "-p", "epochs", "'three'"], "'epochs' must be of type int"),
    (["--profile", "quick", "-p", "epochs", "2.5"], "'epochs' must be of type int"),
    (["--profile", "quick", "--only", "no-such-chapter"], "not in _toc.yml"),
])
def test_bad_arguments_fail_before_running(argv, match, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(runbook.repo_root(runbook.Path(__file__).parent))
    assert runbook.main(argv) == 2
    assert match in capsys.readouterr().err


def test_every_toc_notebook_declares_profile():
    root = runbook.repo_root(runbook.Path(__file__).parent)
    names = runbook.toc_notebooks(root)
    assert "dataset-setup" in names and "age-prediction-accuracy" in names
    for name in names:
        assert "profile" in runbook.declared_parameters(root, name), name
