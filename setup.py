"""What pyproject.toml cannot say: top-level folders that ship inside the packages, so a
wheel has them too (no symlink): `alembic/` as `workers.migrations` (a wheel can initialise a
database) and `examples/` as `projections.policy.examples` (`--policy example:NAME`)."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["eventlog*", "projections*", "workers*"]),
              "workers.migrations", "workers.migrations.versions",
              "projections.policy.examples"],
    package_dir={"workers.migrations": "alembic", "projections.policy.examples": "examples"},
)
