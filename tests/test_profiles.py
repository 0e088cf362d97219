import pytest

from metareweight.profiles import META_SETTINGS, PROFILES, ParameterError, resolve


def test_profiles_define_the_same_parameters():
    assert set(PROFILES["paper"]) == set(PROFILES["quick"])


def test_paper_profile_has_the_papers_settings():
    cfg = resolve("paper")
    assert (cfg.n_splits, cfg.epochs, cfg.batch_size, cfg.lr) == (8, 100, 100, 1e-4)
    assert (cfg.ridge_lambda, cfg.target_low, cfg.target_high, cfg.weight_hidden) == (5e-3, 14, 21, 20)
    assert cfg.meta_lr == META_SETTINGS[cfg.meta_settings]["meta_lr"]


def test_profile_from_environment(monkeypatch):
    monkeypatch.setenv("METAREWEIGHT_PROFILE", "quick")
    assert resolve(None).profile == "quick"
    monkeypatch.delenv("METAREWEIGHT_PROFILE")
    assert resolve(None).profile == "paper"


def test_explicit_parameter_overrides_profile():
    cfg = resolve("quick", epochs=7, lr=1, target_low=None)
    assert cfg.epochs == 7 and cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert cfg.target_low == PROFILES["quick"]["target_low"]


def test_code_meta_settings_by_name():
    cfg = resolve("paper", meta_settings="code")
    assert (cfg.meta_lr, cfg.meta_steps, cfg.meta_clip) == (5e-3, 2000, 1e-4)
    assert resolve("paper", meta_settings="code", meta_steps=5).meta_steps == 5


@pytest.mark.parametrize("kwargs,match", [
    ({"epochz": 3}, "unknown parameter 'epochz'"),
    ({"epochs": "3"}, "'epochs' must be of type int"),
    ({"epochs": 2.5}, "'epochs' must be of type int"),
    ({"force_cpu": 1}, "'force_cpu' must be of type bool"),
    ({"meta_settings": "fast"}, "unknown meta_settings 'fast'"),
    ({"target_low": 30, "target_high": 20}, "target range is empty"),
    ({"n_splits": 0}, "'n_splits' must be at least 1"),
    ({"pixel_ablation_splits": 0}, "'pixel_ablation_splits' must be at least 1"),
])
def test_bad_parameters_are_named(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        resolve("quick", **kwargs)


def test_unknown_profile(monkeypatch):
    with pytest.raises(ParameterError, match="unknown profile 'fast'"):
        resolve("fast")
    monkeypatch.setenv("METAREWEIGHT_PROFILE", "slow")
    with pytest.raises(ParameterError, match="METAREWEIGHT_PROFILE"):
        resolve(None)
