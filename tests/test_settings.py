"""Settings a user got wrong are a SettingsError (a UserError): named, located, never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from synsetlab.errors import UserError
from synsetlab.settings import ServerSettings, SettingsError, load_settings


def test_an_invalid_value_in_synsetlab_toml_names_the_setting_and_the_file(
    tmp_path: Path,
) -> None:
    (tmp_path / "synsetlab.toml").write_text(
        'ingest_batch_size = 0\n[server]\nsecret_key = 7\nenvironment = "production"\n'
    )
    with pytest.raises(SettingsError) as raised:
        load_settings(tmp_path)
    message = str(raised.value)
    assert isinstance(raised.value, UserError) and isinstance(raised.value, ValueError)
    assert "ingest_batch_size: Input should be greater than 0" in message
    assert "server.secret_key" in message
    assert str(tmp_path / "synsetlab.toml") in message


def test_a_rejected_value_is_not_echoed(tmp_path: Path) -> None:
    # pydantic's own message quotes the input; a mistyped secret must not reach a log.
    (tmp_path / "synsetlab.toml").write_text('[server]\nsecret_key = ["hunter2-hunter2"]\n')
    with pytest.raises(SettingsError) as raised:
        load_settings(tmp_path)
    assert "hunter2" not in str(raised.value)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("SYNSETLAB_MAX_IMAGE_PIXELS", "lots", "max_image_pixels"),
        ("SYNSETLAB_SERVER__TRUSTED_PROXIES", '["not-an-address"]', "trusted proxy"),
        ("SYNSETLAB_SERVER", "{not json", 'field "server"'),
    ],
)
def test_a_bad_environment_variable_is_a_settings_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match="SYNSETLAB_\\* environment") as raised:
        load_settings(tmp_path)
    assert expected in str(raised.value)


def test_a_missing_secret_key_outside_development_is_a_settings_error() -> None:
    server = ServerSettings(environment="production")
    with pytest.raises(SettingsError, match="SYNSETLAB_SERVER__SECRET_KEY"):
        server.checked_secret()
    with pytest.raises(SettingsError, match="at least 32 characters"):
        ServerSettings(environment="production", secret_key="k" * 20).checked_secret()
    assert ServerSettings(environment="production", secret_key="k" * 40).checked_secret()
