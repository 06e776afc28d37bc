"""What pyproject.toml cannot say: top-level folders that ship inside the packages, so a
wheel has them too (no symlink): `alembic/` as `workers.migrations` (a wheel can initialise a
database), `examples/` as `projections.policy.example_files` (`--policy example:NAME`), and the
Python client, a package of its own in `clients/python/`, as `convlog_client`."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["eventlog*", "projections*", "workers*"]),
              "workers.migrations", "workers.migrations.versions",
              "projections.policy.example_files", "convlog_client"],
    package_dir={"workers.migrations": "alembic", "projections.policy.example_files": "examples",
                 "convlog_client": "clients/python/convlog_client"},
)
