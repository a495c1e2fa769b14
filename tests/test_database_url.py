"""QA_DATABASE_URL: a malformed URL is a configuration error naming the variable; the password never
shows in the Config's repr, in that error, or in a log line."""

from __future__ import annotations

import logging

import pytest

from config import Config
from server.database_url import database_url_problem, hide_passwords, redact_url

SECRET = "s3cr3t-Pw"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://govdoc:{SECRET}@db.example.gov.cn:5432/govdoc",
        f"postgres://govdoc:{SECRET}@10.0.0.5/govdoc?sslmode=require&connect_timeout=5",
        f"postgresql://govdoc:{SECRET}@pg1:5432,pg2:5432/govdoc?target_session_attrs=read-write",
        "postgresql://govdoc@[::1]:5432/govdoc",
        "postgresql:///govdoc?host=/var/run/postgresql",
        "postgresql://govdoc:p%40ss%2Fw%3Ard@localhost/govdoc",  # @ / : percent-encoded
    ],
)
def test_well_formed_urls_are_accepted(url):
    assert Config.from_env({"QA_DATABASE_URL": url}).database_url == url


@pytest.mark.parametrize(
    "url, problem",
    [
        (f"mysql://govdoc:{SECRET}@db/govdoc", "must start with postgresql://"),
        (f"db.example.gov.cn:5432/govdoc?password={SECRET}", "must start with postgresql://"),
        (f"postgresql://govdoc:{SECRET}@db:54x2/govdoc", "port '54x2'"),
        (f"postgresql://govdoc:{SECRET}@db:70000/govdoc", "port '70000'"),
        (f"postgresql://govdoc:{SECRET}@db@example/govdoc", "'@' in the user name or password"),
        (f"postgresql://govdoc:{SECRET}/x@db/govdoc", "'/' in the user name or password"),
        (f"postgresql://govdoc:{SECRET}%zz@db/govdoc", "percent-encoded byte"),
        (f"postgresql://govdoc:{SECRET}@db/gov/doc", "single database name"),
        (f"postgresql://govdoc:{SECRET}@db/govdoc?sslmode", "query option 'sslmode' has no value"),
        (f"postgresql://govdoc:{SECRET} @db/govdoc", "spaces"),
        (f"postgresql://govdoc:{SECRET}@:5432/govdoc", "host in the host list is empty"),
        (f"postgresql://govdoc:{SECRET}@[::1/govdoc", "IPv6"),
    ],
)
def test_a_malformed_url_is_an_error_naming_the_variable_without_the_password(url, problem):
    with pytest.raises(ValueError) as caught:
        Config.from_env({"QA_DATABASE_URL": url})
    message = str(caught.value)
    assert message.startswith("QA_DATABASE_URL=") and problem in message
    assert SECRET not in message


def test_the_password_is_not_in_the_config_repr_or_a_log_line(caplog):
    config = Config.from_env({"QA_DATABASE_URL": f"postgresql://govdoc:{SECRET}@db:5432/govdoc?password={SECRET}"})
    shown = repr(config)
    assert SECRET not in shown
    assert "database_url='postgresql://govdoc:***@db:5432/govdoc?password=***'" in shown
    with caplog.at_level(logging.INFO):
        logging.getLogger("govdoc_qa.server").info("starting with %r", config)
    assert SECRET not in caplog.text and "***" in caplog.text


def test_empty_means_sqlite():
    config = Config.from_env({})
    assert config.database_url == "" and "database_url=''" in repr(config)


@pytest.mark.parametrize(
    "url, shown",
    [
        ("postgresql://u:pw@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgresql://h/db?sslmode=require&password=pw", "postgresql://h/db?sslmode=require&password=***"),
        ("postgresql://u:p@w/d@h/db", "postgresql://u:***@h/db"),  # malformed: still hidden whole
        ("postgresql://u:p?w@h/db", "postgresql://u:***@h/db"),
    ],
)
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_a_driver_message_loses_the_password_raw_and_decoded():
    url = "postgresql://u:p%40ss-word@h/db"
    message = 'connection to "h" failed for p@ss-word / p%40ss-word'
    assert hide_passwords(message, url) == 'connection to "h" failed for *** / ***'
    assert database_url_problem(url) is None
