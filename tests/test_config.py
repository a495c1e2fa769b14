"""The one configuration object: env vars with defaults, errors that name the variable."""

from pathlib import Path

import pytest

from config import Config


def test_defaults_and_env_values():
    config = Config.from_env(
        {"QA_EMBEDDER": "use-m3", "QA_PORT": "8000", "QA_ALLOWED_ORIGINS": "https://a.gov.cn/, https://b.gov.cn"}
    )
    assert config.embedder == "use-m3" and config.port == 8000
    assert config.allowed_origins == ("https://a.gov.cn", "https://b.gov.cn")
    assert Config.from_env({}).embedder == "embeddinggemma"


def test_none_override_keeps_the_environment_value():
    # `python -m ingest` passes its unset flags as None: QA_* must still apply.
    config = Config.from_env({"QA_INDEX_DIR": "/tmp/x"}, index_dir=None, embedder=None)
    assert config.index_dir == Path("/tmp/x")
    assert Config.from_env({"QA_INDEX_DIR": "/tmp/x"}, index_dir=Path("/tmp/y")).index_dir == Path("/tmp/y")


def test_unknown_variable_and_bad_value_are_named():
    with pytest.raises(ValueError, match="QA_EMBEDER"):
        Config.from_env({"QA_EMBEDER": "use-m3"})
    with pytest.raises(ValueError, match="QA_PORT"):
        Config.from_env({"QA_PORT": "eighty"})
    with pytest.raises(ValueError, match="QA_LLM_TIMEOUT"):
        Config.from_env({"QA_LLM_TIMEOUT": "-1"})
    for name, value in (("QA_TOP_K", "0"), ("QA_LLM_MAX_TOKENS", "-5")):
        with pytest.raises(ValueError, match=f"{name}.*positive"):
            Config.from_env({name: value})


def test_llm_answers_are_bounded_by_the_configured_max_tokens():
    from answering.llm import LLMAnswerer

    config = Config.from_env(
        {"QA_LLM_BASE_URL": "http://127.0.0.1:9/v1", "QA_LLM_MODEL": "m", "QA_LLM_MAX_TOKENS": "120"}
    )
    answerer = LLMAnswerer.from_config(config)
    assert answerer.max_tokens == 120 and answerer.chat.extra_body == {"max_tokens": 120}
    assert LLMAnswerer.from_config(config, max_tokens=50).max_tokens == 50


def test_api_key_not_in_repr():
    assert "sk-secret" not in repr(Config.from_env({"QA_LLM_API_KEY": "sk-secret"}))


def test_request_limits_and_the_answer_budget():
    config = Config.from_env({"QA_MAX_BODY_BYTES": "2000000", "QA_ANSWER_TIMEOUT": "12.5"})
    assert config.max_body_bytes == 2_000_000 and config.answer_timeout == 12.5
    assert Config.from_env({}).max_body_bytes == 1_000_000 and Config.from_env({}).answer_timeout == 20.0
    assert config.answer_budget(with_llm=False) == 12.5
    assert config.answer_budget(with_llm=True) == 12.5 + 2 * config.llm_timeout  # the LLM falls back on its own
    with pytest.raises(ValueError, match="QA_ANSWER_TIMEOUT.*positive"):
        Config.from_env({"QA_ANSWER_TIMEOUT": "0"})
    with pytest.raises(ValueError, match="QA_MAX_BODY_BYTES=.1.5. is not a valid int"):
        Config.from_env({"QA_MAX_BODY_BYTES": "1.5"})
    with pytest.raises(ValueError, match="QA_MAX_BODY_BYTES=1000 is too small"):
        Config.from_env({"QA_MAX_BODY_BYTES": "1000"})
