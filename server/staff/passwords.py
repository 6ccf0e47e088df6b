"""Password hashing (argon2id, off the event loop) and the password rules of OWASP ASVS 5.0 V6.2."""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

# OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MIN_LENGTH = 12  # ASVS 2.1.1
MAX_LENGTH = 128  # ASVS 2.1.2 allows at least 64; longer only costs hashing time
# Context-specific words (ASVS 5.0 6.1.2, 6.2.11): the product's and the service's own words,
# which an attacker aiming at a probation service tries first. A password built on one of them
# (the word and fewer than 8 other characters, "Probation2026!") is refused, and zxcvbn counts
# each as a dictionary word wherever it appears.
SERVICE_WORDS = ("rapport", "probation", "supervision", "practitioner", "offender",
                 "interpreter", "password")
_OTHER_CHARACTERS = 8


@functools.cache
def _common() -> frozenset[str]:
    """The 30,000 most common passwords of the leaked-password corpora zxcvbn is built on
    (ASVS 5.0 6.2.4 asks for at least the top 3,000)."""
    return frozenset(p.lower() for p in FREQUENCY_LISTS["passwords"])


def password_problems(password: str, *, email: str = "", name: str = "") -> list[str]:
    """Why this password may not be used (empty when it is acceptable)."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        problems.append(f"Use at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    if lowered in _common() or lowered.rstrip("0123456789!") in _common():
        problems.append("This password is too common. Choose one that others would not guess.")
    elif _guessable(password, email, name):
        problems.append("This password is too easy to guess (a keyboard row, a repeated or "
                        "common word with digits). Try three or four unrelated words.")
    local = email.split("@", 1)[0].lower()
    if local and len(local) >= 4 and local in lowered:
        problems.append("Do not use your email address in your password.")
    if any(len(part) >= 4 and part.lower() in lowered for part in name.split()):
        problems.append("Do not use your name in your password.")
    if any(word in lowered and len(lowered) - len(word) < _OTHER_CHARACTERS
           for word in SERVICE_WORDS):
        problems.append("Do not build your password on the name of the service or of your work.")
    if len(set(password)) < 4:
        problems.append("Use more different characters.")
    return problems


def _guessable(password: str, email: str, name: str) -> bool:
    """zxcvbn's estimate: keyboard walks ("qwertyuiopas"), dates, l33t words and the like
    that a list cannot hold. Score 3 is "safely unguessable" against an online attack."""
    inputs = [part for part in (email, *email.split("@"), *name.split()) if part]
    inputs += SERVICE_WORDS
    return int(zxcvbn(password[:_ZXCVBN_CHARS], user_inputs=inputs)["score"]) < 3


# zxcvbn's time grows with length; a long password that is weak is weak in its first 100.
_ZXCVBN_CHARS = 100


def hash_password_sync(password: str) -> str:
    return _HASHER.hash(password)


def verify_password_sync(stored_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# Hashing takes tens of milliseconds: never on the event loop.
async def hash_password(password: str) -> str:
    """Hash a password with argon2id in a worker thread."""
    return await asyncio.to_thread(hash_password_sync, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """Check a password in a worker thread; an unknown user costs the same time."""
    return await asyncio.to_thread(verify_password_sync, stored_hash or _DUMMY_HASH, password)


_DUMMY_HASH = hash_password_sync("not a real password, only here to spend the same time")
