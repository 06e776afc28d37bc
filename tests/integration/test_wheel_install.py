"""A wheel, installed into a fresh virtualenv away from the source tree, initialises a database
and runs the demo: the migrations and the sample data ship inside the package."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from eventlog.database import libpq_url, scratch_database

ROOT = Path(__file__).resolve().parents[2]


def run(command: list[str], *, cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 900) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, (
        f"{' '.join(command)} exited {done.returncode}\n{done.stdout[-3000:]}\n"
        f"{done.stderr[-3000:]}")
    return done


@pytest.mark.slow
def test_a_wheel_in_a_fresh_virtualenv_runs_init_and_the_demo(
        tmp_path: Path, admin_url: str) -> None:
    # Given a wheel built from this tree and installed into a new virtualenv
    wheels = tmp_path / "wheels"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        cwd=tmp_path)
    [wheel] = wheels.glob("convlog-*.whl")
    venv.create(tmp_path / "venv", with_pip=True)
    bin_dir = tmp_path / "venv" / "bin"
    run([str(bin_dir / "pip"), "install", "-q", str(wheel)], cwd=tmp_path)
    # (run from a folder with no source tree in it, so only the installed package is seen)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with scratch_database(admin_url, "convlog_wheel") as url:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("CONVLOG_", "PYTHON"))}
        env.update(CONVLOG_DATABASE_URL=libpq_url(url), CONVLOG_HOME=str(tmp_path / "home"))
        # When it initialises the database and runs the demo
        init = run([str(bin_dir / "convlog"), "init"], cwd=elsewhere, env=env)
        demo = run([str(bin_dir / "convlog"), "demo", "--events", "1500"], cwd=elsewhere,
                   env=env)
        # Then the schema is there with its default projection, and the demo told its story
        assert "schema" in init.stdout
        engine = create_engine(url)
        with engine.connect() as conn:
            active = conn.execute(text(
                "SELECT p.name FROM active_projection a JOIN projections p "
                "ON p.id = a.projection_id")).scalar_one()
        engine.dispose()
        assert active == "default"
        assert "guild-wide" in demo.stdout and "seed 002" in demo.stdout
        assert "rejected 0 " in demo.stdout  # the sample and the workload share no id
        # And the example policies ship in it: listed, and used by name
        listed = run([str(bin_dir / "convlog"), "policy", "examples", "--json"],
                     cwd=elsewhere, env=env)
        assert "example:guild-wide" in listed.stdout
        resolved = run([str(bin_dir / "convlog"), "resolve", '{"agent": "main", "platform": '
                        '"discord", "space": "1234567890", "chat": "1000000002", "chat_type": '
                        '"channel", "sender": "u1"}', "--policy", "example:guild-wide",
                        "--json"], cwd=elsewhere, env=env)
        assert "space=1234567890" in resolved.stdout
