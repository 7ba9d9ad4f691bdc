"""`pollinate users`: keys are printed once, stored hashed, verified, and refused once revoked."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from matcher.access.accounts import KeyVerifier
from matcher.cli.main import app
from matcher.errors import AuthenticationError
from matcher.records.seed import seed_demo
from matcher.settings import Settings
from models import migrate
from models.repositories import UserRepository

runner = CliRunner()


def authenticate(settings: Settings, key: str) -> str:
    db = settings.open_database()
    try:
        with db.transaction(read_only=True) as session:
            principal = KeyVerifier().authenticate(session, key)
            return f"{principal.role}:{principal.country or principal.organisation_id or '-'}"
    finally:
        db.dispose()


def test_create_prints_a_working_key_once_and_stores_only_a_hash(settings: Settings) -> None:
    result = runner.invoke(app, ["users", "create", "--name", "Kenya NFP", "--role", "party", "--country", "ken"])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("pk_") and "shown once" in result.output
    assert authenticate(settings, key) == "party:KEN"
    db = settings.open_database()
    with db.transaction(read_only=True) as session:
        stored = UserRepository(session).keys(1)[0]
        assert stored.secret_hash.startswith("$argon2id$") and key not in stored.secret_hash
    db.dispose()


def test_revoked_keys_are_refused_and_other_keys_keep_working(settings: Settings) -> None:
    first = runner.invoke(app, ["users", "create", "--name", "sec", "--role", "secretariat", "--quiet"])
    key_one = first.output.strip()
    key_two = runner.invoke(app, ["users", "add-key", "sec", "--quiet"]).output.strip()
    assert authenticate(settings, key_one) == authenticate(settings, key_two) == "secretariat:-"
    key_id = key_one.split("_")[1]
    revoked = runner.invoke(app, ["users", "revoke", key_id])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    with pytest.raises(AuthenticationError):
        authenticate(settings, key_one)
    assert authenticate(settings, key_two) == "secretariat:-"
    listing = runner.invoke(app, ["users", "list"]).output
    assert key_id in listing and key_two.split("_")[1] in listing


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "party"], "acts for a country"),
        (["--role", "party", "--country", "Kenyaa"], "did you mean"),
        (["--role", "provider"], "acts for an organisation"),
        (["--role", "king"], "unknown role"),
        (["--role", "secretariat", "--country", "KEN"], "does not act for a country"),
    ],
)
def test_bad_user_definitions_are_refused_with_a_reason(settings: Settings, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["users", "create", "--name", "x", *args])
    assert result.exit_code == 1
    assert message in result.output


def test_a_provider_acts_for_an_organisation_named_or_by_id(settings: Settings) -> None:
    db = settings.open_database()
    migrate.upgrade(db)
    seed_demo(db)
    db.dispose()
    create = ["users", "create", "--role", "provider", "--organisation"]
    by_name = runner.invoke(app, [*create, "Southern Isles Restoration Trust", "--name", "p"])
    assert by_name.exit_code == 0, by_name.output
    assert authenticate(settings, by_name.output.strip().splitlines()[-1]).startswith("provider:")
    missing = runner.invoke(app, [*create, "Nobody", "--name", "q"])
    assert missing.exit_code != 0 and "no organisation named 'Nobody'" in missing.output
