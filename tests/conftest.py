"""Test-wide plugins: the database fixtures live in tests/fixtures/."""

pytest_plugins = ["tests.fixtures.database", "tests.fixtures.services", "tests.fixtures.http"]
