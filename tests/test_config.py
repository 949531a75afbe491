from pathlib import Path

import pytest

from repotag import ConfigError, Settings


def test_defaults_are_valid():
    settings = Settings()
    assert settings.max_tags == 3 and settings.model is None and settings.api_key is None


def test_from_env_reads_prefixed_variables_and_overrides_win():
    env = {"REPOTAG_MAX_TAGS": "5", "REPOTAG_MODEL": "/m", "REPOTAG_API_KEY": "k", "OTHER": "x"}
    settings = Settings.from_env(env, max_tags=2)
    assert settings.max_tags == 2 and settings.model == Path("/m") and settings.api_key == "k"


@pytest.mark.parametrize(
    "values, message",
    [({"max_tags": 0}, "max_tags must be at least 1"), ({"threads": -1}, "threads must be 0 (automatic) or more"),
     ({"max_body_bytes": 10}, "max_body_bytes must be at least 1024"), ({"api_key": ""}, "api_key must not be empty")],
)
def test_validated_on_construction(values, message):
    with pytest.raises(ConfigError) as info:
        Settings(**values)
    assert str(info.value) == message


def test_bad_env_value_is_one_clear_error():
    with pytest.raises(ConfigError, match="REPOTAG_MAX_TAGS='many' is not a valid value"):
        Settings.from_env({"REPOTAG_MAX_TAGS": "many"})


def test_encoder_spinning_from_env():
    assert Settings().encoder_spinning is False
    assert Settings.from_env({"REPOTAG_ENCODER_SPINNING": "0"}).encoder_spinning is False
    assert Settings.from_env({"REPOTAG_ENCODER_SPINNING": "True"}).encoder_spinning is True
    with pytest.raises(ConfigError, match="REPOTAG_ENCODER_SPINNING='maybe' is not a valid value"):
        Settings.from_env({"REPOTAG_ENCODER_SPINNING": "maybe"})


def test_llm_settings_from_env_and_validated():
    env = {"REPOTAG_LLM_BASE_URL": "http://h/v1", "REPOTAG_LLM_MODEL": "m", "REPOTAG_LLM_USE_CACHE": "0",
           "REPOTAG_LLM_CACHE": "/tmp/c.sqlite3", "REPOTAG_LLM_BELOW": "0.7", "REPOTAG_LLM_RATE": "2.5"}
    settings = Settings.from_env(env)
    assert (settings.llm_base_url, settings.llm_model, settings.llm_use_cache, settings.llm_cache, settings.llm_below,
            settings.llm_rate) == ("http://h/v1", "m", False, Path("/tmp/c.sqlite3"), 0.7, 2.5)
    for values, message in [({"llm_below": 1.5}, "llm_below must be between 0 and 1"),
                            ({"llm_format": "xml"}, "llm_format must be one of auto, json_schema, json_object, text"),
                            ({"llm_concurrency": 0}, "llm_concurrency must be between 1 and 256"),
                            ({"llm_timeout_s": 0}, "llm_timeout_s must be positive")]:
        with pytest.raises(ConfigError, match=f"^{message}$"):
            Settings(**values)


def test_secrets_are_not_in_the_repr():
    settings = Settings(api_key="service-secret", llm_api_key="llm-secret")
    assert "secret" not in repr(settings)
