"""A bad messages setting stops start-up, naming the setting (and never echoing a secret)."""

from __future__ import annotations

import pytest

from server.outbox import addresses
from server.outbox.backoff import retry_delay
from server.settings import SettingsError, load_settings
from tests.receivers import API_KEY

TEMPLATE = "f33517ff-2a88-4f6e-b855-c550268ce08a"


@pytest.mark.parametrize(("env", "named"), [
    ({"RAPPORT_EMAIL_CHANNEL": "pigeon"}, "RAPPORT_EMAIL_CHANNEL"),
    ({"RAPPORT_SMS_CHANNEL": "smtp"}, "RAPPORT_SMS_CHANNEL"),
    ({"RAPPORT_EMAIL_CHANNEL": "smtp"}, "RAPPORT_SMTP_HOST"),
    ({"RAPPORT_EMAIL_FROM": "nobody"}, "RAPPORT_EMAIL_FROM"),
    ({"RAPPORT_SMTP_SECURITY": "ssl3"}, "RAPPORT_SMTP_SECURITY"),
    ({"RAPPORT_SMS_CHANNEL": "notify", "RAPPORT_NOTIFY_API_KEY": "secret-but-wrong"},
     "RAPPORT_NOTIFY_API_KEY"),
    ({"RAPPORT_SMS_CHANNEL": "notify", "RAPPORT_NOTIFY_API_KEY": API_KEY},
     "RAPPORT_NOTIFY_SMS_TEMPLATE_ID"),
    ({"RAPPORT_EMAIL_CHANNEL": "notify", "RAPPORT_NOTIFY_API_KEY": API_KEY},
     "RAPPORT_NOTIFY_EMAIL_TEMPLATE_ID"),
    ({"RAPPORT_OUTBOX_MAX_ATTEMPTS": "0"}, "RAPPORT_OUTBOX_MAX_ATTEMPTS"),
    ({"RAPPORT_WEBHOOK_TIMEOUT_SECONDS": "0"}, "RAPPORT_WEBHOOK_TIMEOUT_SECONDS"),
])
def test_a_bad_message_setting_is_named(env, named):
    with pytest.raises(SettingsError, match=named) as caught:
        load_settings(env)
    assert "secret-but-wrong" not in str(caught.value)


def test_good_channel_settings_load():
    settings = load_settings({
        "RAPPORT_EMAIL_CHANNEL": "smtp", "RAPPORT_SMTP_HOST": "smtp.example.test",
        "RAPPORT_SMS_CHANNEL": "notify", "RAPPORT_NOTIFY_API_KEY": API_KEY,
        "RAPPORT_NOTIFY_SMS_TEMPLATE_ID": TEMPLATE})
    assert (settings.email_channel, settings.sms_channel) == ("smtp", "notify")


@pytest.mark.parametrize(("raw", "stored"), [
    ("07700 900123", "+447700900123"), ("+44 7700 900123", "+447700900123"),
    ("0044 (7700) 900-123", "+447700900123"), ("+33 6 12 34 56 78", "+33612345678"),
])
def test_phone_numbers_are_stored_in_one_form(raw, stored):
    assert addresses.phone(raw) == stored


@pytest.mark.parametrize(("attempt", "seconds"), [(1, 30), (2, 60), (3, 120), (8, 3600),
                                                  (40, 3600)])
def test_backoff_doubles_up_to_an_hour(attempt, seconds):
    assert retry_delay(attempt, 30).total_seconds() == seconds
