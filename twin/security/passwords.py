"""Password hashing (argon2id) and the password policy (after ANSSI's 2021 guidance on passwords).

ANSSI asks for long passwords from several character classes, or longer passphrases, never derived from
the account name, checked against lists of known passwords; we apply that at every password change.
"""

from __future__ import annotations

import re
import secrets
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from twin.errors import InvalidInput

MIN_LENGTH = 12
PASSPHRASE_LENGTH = 16  # from this length, a passphrase needs no character-class mix
MAX_LENGTH = 128
# The most used passwords of public leak lists, and French favourites; tests and the policy share it.
COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "azertyuiop12",
        "motdepasse123",
        "password1234",
        "qwertyuiop12",
        "administrateur",
        "administrator",
        "bonjour123456",
        "soleil123456",
        "hyperviseur123",
        "azertyazerty",
        "changeme1234",
        "welcome12345",
        "iloveyou1234",
        "0000000000000",
    }
)

# OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): ~25 ms here, costly for an attacker's GPU.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def policy_problems(password: str, *, username: str = "") -> list[str]:
    """Everything wrong with ``password``, in words a user can act on; empty when it is acceptable.

    Examples
    --------
    >>> policy_problems("Tr0mbone-Rouge-42")
    []
    >>> policy_problems("short")[0]
    'at least 12 characters (got 5)'
    """
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"at least {MIN_LENGTH} characters (got {len(password)})")
    if len(password) > MAX_LENGTH:
        problems.append(f"at most {MAX_LENGTH} characters")
    classes = sum(
        any(c in chars for c in password)
        for chars in (string.ascii_lowercase, string.ascii_uppercase, string.digits)
    ) + any(not c.isalnum() for c in password)
    if len(password) < PASSPHRASE_LENGTH and classes < 3:
        problems.append(
            "at least 3 kinds of characters among lower case, upper case, digits and symbols "
            f"(or a passphrase of {PASSPHRASE_LENGTH}+ characters)"
        )
    if username and username.lower() in password.lower():
        problems.append("must not contain the account name")
    if password.lower() in COMMON_PASSWORDS:
        problems.append("is a well-known password")
    if re.search(r"(.)\1{3,}", password):
        problems.append("must not repeat a character 4 times in a row")
    return problems


def check_policy(password: str, *, username: str = "") -> None:
    problems = policy_problems(password, username=username)
    if problems:
        raise InvalidInput("password refused: " + "; ".join(problems))


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-time check; a missing or malformed hash never matches."""
    if not password_hash:
        # Spend the same time as a real check so that unknown accounts cannot be told apart.
        _HASHER.hash(password)
        return False
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def generate_password(*, username: str = "") -> str:
    """A random password that passes the policy (bootstrap admin, resets), for the account ``username``.

    The account name matters: a short one ("ab") turns up inside ~1.4 % of random passwords, which the
    policy refuses.

    Examples
    --------
    >>> policy_problems(generate_password(username="ab"), username="ab")
    []
    """
    alphabet = string.ascii_letters + string.digits
    while True:
        core = "".join(secrets.choice(alphabet) for _ in range(18))
        candidate = f"{core[:6]}-{core[6:12]}-{core[12:]}"
        if not policy_problems(candidate, username=username):
            return candidate
