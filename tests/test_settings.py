"""Settings from the environment and a TOML file; every error names the setting at fault."""

from __future__ import annotations

import pytest

from server.settings import Settings, SettingsError, load_settings


def test_defaults_are_the_embedded_set_up():
    settings = load_settings(environ={})
    assert settings == Settings()
    assert settings.is_sqlite and not settings.secure_cookies


def test_environment_overrides_file(tmp_path):
    config = tmp_path / "rapport.toml"
    config.write_text('[rapport]\nport = 9000\nhost = "0.0.0.0"\nlog_json = false\n')
    settings = load_settings(environ={"RAPPORT_PORT": "9100"}, config_file=config)
    assert (settings.port, settings.host, settings.log_json) == (9100, "0.0.0.0", False)


def test_config_file_from_environment(tmp_path):
    config = tmp_path / "r.toml"
    config.write_text('languages = ["en", "cy"]\nbase_url = "https://rapport.example"\n')
    settings = load_settings(environ={"RAPPORT_CONFIG": str(config)})
    assert settings.languages == ("en", "cy")
    assert settings.secure_cookies


def test_unrelated_prefixed_variables_are_ignored():
    assert load_settings(environ={"RAPPORT_TEST_DATABASE_URL": "x"}) == Settings()


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        # wrong types
        ({"RAPPORT_PORT": "eighty"}, "RAPPORT_PORT"),
        ({"RAPPORT_LOG_JSON": "perhaps"}, "RAPPORT_LOG_JSON"),
        # out of range
        ({"RAPPORT_PORT": "70000"}, "RAPPORT_PORT"),
        ({"RAPPORT_SESSION_IDLE_MINUTES": "0"}, "RAPPORT_SESSION_IDLE_MINUTES"),
        ({"RAPPORT_API_TOKEN_MAX_DAYS": "1000"}, "RAPPORT_API_TOKEN_MAX_DAYS"),
        ({"RAPPORT_MAX_BODY_BYTES": "10"}, "RAPPORT_MAX_BODY_BYTES"),
        ({"RAPPORT_LOG_LEVEL": "LOUD"}, "RAPPORT_LOG_LEVEL"),
        ({"RAPPORT_TIMEZONE": "Mars/Olympus"}, "RAPPORT_TIMEZONE"),
        ({"RAPPORT_SIGNAL_BURST": "0"}, "RAPPORT_SIGNAL_BURST"),
        ({"RAPPORT_SIGNAL_RATE": "0"}, "RAPPORT_SIGNAL_RATE"),
        ({"RAPPORT_SIGNAL_MAX_MESSAGE_BYTES": "2000000"}, "RAPPORT_SIGNAL_MAX_MESSAGE_BYTES"),
        ({"RAPPORT_SIGNAL_MAX_FRAME_BYTES": "10"}, "RAPPORT_SIGNAL_MAX_FRAME_BYTES"),
        # unsupported values
        ({"RAPPORT_DATABASE_URL": "mysql://x"}, "RAPPORT_DATABASE_URL"),
        ({"RAPPORT_BASE_URL": "rapport.example"}, "RAPPORT_BASE_URL"),
        ({"RAPPORT_CONFIG": "/nonexistent/rapport.toml"}, "RAPPORT_CONFIG"),
    ],
)
def test_bad_settings_name_the_setting(environ, names):
    with pytest.raises(SettingsError, match=names):
        load_settings(environ=environ)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("port = [", "not valid TOML"),
        ("colour = 'blue'", "unknown setting 'colour'"),
        ("port = 'x'", "port: expected a whole number"),
        ("log_json = 3", "log_json: expected true or false"),
    ],
)
def test_bad_file_names_the_problem(tmp_path, content, message):
    config = tmp_path / "bad.toml"
    config.write_text(content)
    with pytest.raises(SettingsError, match=message):
        load_settings(environ={}, config_file=config)


def test_links_follow_the_port_when_no_public_address_is_given():
    from server.settings import load_settings

    assert load_settings({"RAPPORT_PORT": "8091"}).base_url == "http://127.0.0.1:8091"
    assert load_settings({"RAPPORT_HOST": "0.0.0.0", "RAPPORT_PORT": "9000"}).base_url == \
        "http://127.0.0.1:9000"
    given = load_settings({"RAPPORT_PORT": "8091", "RAPPORT_BASE_URL": "https://r.example"})
    assert given.base_url == "https://r.example"


def test_signalling_limits_are_settings_with_the_documented_defaults():
    defaults = load_settings(environ={})
    assert (defaults.signal_burst, defaults.signal_rate) == (200, 50)
    assert (defaults.signal_max_message_bytes, defaults.signal_max_frame_bytes) == (
        64 * 1024, 1024 * 1024)
    lifted = load_settings(environ={"RAPPORT_SIGNAL_BURST": "5000",
                                    "RAPPORT_SIGNAL_RATE": "10000"})
    assert (lifted.signal_burst, lifted.signal_rate) == (5000, 10000)
