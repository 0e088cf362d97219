import pytest

from metareweight import runbook, settings


@pytest.mark.parametrize("argv,match", [
    (["--profile", "fast"], "unknown profile 'fast'"),
    (["--profile", "quick", "-p", "epochz", "3"], "unknown parameter"),
    (["--profile", "quick", "-p", "epochs", "'three'"], "'epochs' must be of type int"),
    (["--profile", "quick", "-p", "epochs", "2.5"], "'epochs' must be of type int"),
    (["--profile", "quick", "--only", "no-such-chapter"], "not in _toc.yml"),
])
def test_bad_arguments_fail_before_running(argv, match, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(settings.repo_root(runbook.Path(__file__).parent))
    assert runbook.main(argv) == 2
    assert match in capsys.readouterr().err


def test_every_toc_notebook_declares_profile():
    root = settings.repo_root(runbook.Path(__file__).parent)
    names = runbook.toc_notebooks(root)
    assert "dataset-setup" in names and "age-prediction-accuracy" in names
    for name in names:
        assert "profile" in runbook.declared_parameters(root, name), name


def test_banner_is_written_only_for_the_standin(tmp_path, monkeypatch):
    root = settings.repo_root(runbook.Path(__file__).parent)
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "standin_banner.md").write_text((root / "book" / "standin_banner.md").read_text())
    monkeypatch.delenv("UTKFACE", raising=False)
    assert runbook.write_banner(tmp_path) is True
    text = (tmp_path / "book" / "_generated" / "data_banner.md").read_text()
    assert "Stand-in data" in text and "not comparable with the paper" in text
    monkeypatch.setenv("UTKFACE", "/some/crop_part1.tar.gz")
    assert runbook.write_banner(tmp_path) is False
    assert "Stand-in" not in (tmp_path / "book" / "_generated" / "data_banner.md").read_text()


def test_every_data_chapter_includes_the_shared_banner():
    root = settings.repo_root(runbook.Path(__file__).parent)
    for name in runbook.toc_notebooks(root):
        text = (root / "notebooks" / f"{name}.md").read_text()
        if "load_dataset(" in text:
            assert "{include} /book/_generated/data_banner.md" in text, name


def test_kernels_find_the_repository_from_any_run_dir(tmp_path, monkeypatch):
    root = settings.repo_root(runbook.Path(__file__).parent)
    monkeypatch.chdir(tmp_path)  # a --run-dir outside the repository, where the kernels run
    monkeypatch.delenv(settings.ROOT_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match="no _toc.yml"):
        settings.repo_root()
    monkeypatch.setenv(settings.ROOT_ENV, str(root))
    assert settings.repo_root() == root
