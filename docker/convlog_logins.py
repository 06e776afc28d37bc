#!/usr/bin/env python3
"""convlog-logins: log-in roles for convlog's least-privilege roles, passwords from the environment.

The image's companion of `convlog init`; docker-compose.yml's `init` service runs
`convlog init && convlog-logins` as the PostgreSQL superuser. `convlog init` creates the
NOLOGIN roles (docs/roles.md, docs/http-api.md); this gives each part of the deployment a
login that is a member of the one role it needs, as those pages advise:

  login        member of          password from               connects for
  gateway_api  convlog_api        CONVLOG_API_PASSWORD        convlog serve (appends, reads, leases)
  projector    convlog_worker     CONVLOG_WORKER_PASSWORD     convlog worker
  token_admin  convlog_operator   CONVLOG_OPERATOR_PASSWORD   convlog token / erase / retention
  analyst      convlog_reader     CONVLOG_READER_PASSWORD     psql, BI tools (optional)

Safe to repeat: an existing login gets its password, attributes and membership set again,
so a changed password in the environment takes effect on the next run. An optional login
whose password is unset or empty is made NOLOGIN. The passwords are hashed by the client
(the server's password_encryption, SCRAM by default), so no statement or server log holds
one in clear. CONVLOG_DATABASE_URL is the superuser's URL; its password may come from
PGPASSWORD. Exit 0 done, 2 a missing setting or a database error (one line).
"""

from __future__ import annotations

import os
import sys

import psycopg
from psycopg import sql

from eventlog.database import libpq_url
from eventlog.errors import ConvlogError

# (login, the role it is a member of, the variable holding its password, required)
LOGINS = (
    ("gateway_api", "convlog_api", "CONVLOG_API_PASSWORD", True),
    ("projector", "convlog_worker", "CONVLOG_WORKER_PASSWORD", True),
    ("token_admin", "convlog_operator", "CONVLOG_OPERATOR_PASSWORD", True),
    ("analyst", "convlog_reader", "CONVLOG_READER_PASSWORD", False),
)
# Whatever the role had before: a login of the application holds no power but its role's.
ATTRIBUTES = "LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"


def fail(message: str) -> int:
    print(f"convlog-logins: error: {message}", file=sys.stderr)
    return 2


def set_up(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    me = conn.execute("SELECT current_user").fetchone()
    for login, role, variable, _required in LOGINS:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
            raise LookupError(f"the role {role} does not exist; run `convlog init` first")
        if me is not None and me[0] == login:
            raise LookupError(f"connected as {login}: run this as the superuser, not as a login "
                              "it manages")
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                              (login,)).fetchone() is not None
        password = os.environ.get(variable, "")
        if not password:
            if exists:
                conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(login)))
                print(f"{login}: {variable} is not set; login disabled")
            else:
                print(f"{login}: {variable} is not set; no login made")
            continue
        verifier = conn.pgconn.encrypt_password(password.encode(), login.encode()).decode()
        statement = sql.SQL("{} ROLE {} WITH {} PASSWORD {}").format(
            sql.SQL("ALTER" if exists else "CREATE"), sql.Identifier(login), sql.SQL(ATTRIBUTES),
            sql.Literal(verifier))
        conn.execute(statement)
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(role),
                                                      sql.Identifier(login)))
        print(f"{login}: {'updated' if exists else 'created'}, a member of {role}")


def main() -> int:
    url = os.environ.get("CONVLOG_DATABASE_URL", "")
    if not url:
        return fail("CONVLOG_DATABASE_URL is not set (the superuser's URL)")
    missing = [variable for _, _, variable, required in LOGINS
               if required and not os.environ.get(variable)]
    if missing:
        return fail(f"{', '.join(missing)} not set; every required login needs a password")
    try:
        # One transaction: every login is set, or none is.
        with psycopg.connect(libpq_url(url)) as conn:
            set_up(conn)
    except (LookupError, ConvlogError) as error:
        return fail(str(error))
    except psycopg.Error as error:
        return fail(" ".join(str(error).split()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
