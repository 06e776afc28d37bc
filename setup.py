"""The one thing pyproject.toml cannot say: the top-level `alembic/` folder ships inside the
package as `workers/migrations`, so a wheel can initialise a database (no symlink)."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["eventlog*", "projections*", "workers*"]),
              "workers.migrations", "workers.migrations.versions"],
    package_dir={"workers.migrations": "alembic"},
)
