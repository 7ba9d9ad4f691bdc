"""`pollinate serve --demo` prints a sign-in for a demo Party, provider and secretariat: new at every start."""

from __future__ import annotations

from matcher.access import people
from matcher.records.seed import demo_keys, demo_sign_ins, seed_demo
from models.db import Database


def test_demo_sign_ins_work_and_the_previous_passwords_stop(sqlite_db: Database) -> None:
    seed_demo(sqlite_db)
    first = demo_sign_ins(sqlite_db, demo_keys(sqlite_db))
    assert [s.role for s in first] == ["party", "provider", "secretariat"]
    assert all(people.password_problem(s.password) is None for s in first)
    with sqlite_db.transaction() as session:
        for s in first:
            user = people.authenticate(session, s.email, s.password)
            assert user is not None and user.role == s.role
    second = demo_sign_ins(sqlite_db, demo_keys(sqlite_db))
    with sqlite_db.transaction() as session:
        for old, new in zip(first, second, strict=True):
            assert old.email == new.email and old.password != new.password
            assert people.authenticate(session, old.email, old.password) is None
            assert people.authenticate(session, new.email, new.password) is not None
