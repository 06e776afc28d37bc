"""Bearer tokens: hashed at rest, scoped to agents (404 outside) and verbs, 401 without one."""

from __future__ import annotations

import hashlib
import json
import time

import httpx
import pytest
from convlog_client import ConvlogApiError
from sqlalchemy import text

from tests.fixtures.builders import event_dict
from tests.fixtures.http import ApiServer
from workers.cli.main import main


def test_a_token_never_sees_another_agents_sessions(api: ApiServer) -> None:
    # Given a session of agent "main" and one of agent "other", and a token for each
    main = api.client(api.token("main-gw", agents=["main"]))
    other = api.client(api.token("other-gw", agents=["other"]))
    mine = main.turn(event_dict(agent="main"))
    theirs = other.turn(event_dict(agent="other", chat="2000"))

    # When the main token lists sessions, reads the other session, its context, or leases it
    # (listed after the turns' positions: a turn may be answered before it is folded)
    after = max(mine["position"], theirs["position"])
    listed = [s["session_id"] for s in main.iter_sessions(limit=1, after=after)]
    filtered = main.sessions(agent="other", after=after)
    errors = []
    for call in (lambda: main.session(theirs["session_id"]),
                 lambda: main.context(theirs["session_id"]),
                 lambda: main.context(theirs["context"]["key"]),
                 lambda: main.lease(theirs["session_id"])):
        with pytest.raises(ConvlogApiError) as caught:
            call()
        errors.append(caught.value)

    # Then it sees only its own agent's session; the other's is "not found", exactly as a
    # session that does not exist, so the token cannot learn that it does
    assert listed == [mine["session_id"]]
    assert filtered["sessions"] == []
    assert [(e.status, e.code) for e in errors] == [(404, "UNKNOWN_SESSION")] * 4
    with pytest.raises(ConvlogApiError) as missing:
        main.session("00000000-0000-0000-0000-000000000000")
    assert str(missing.value).replace("00000000-0000-0000-0000-000000000000", "X") == \
        str(errors[0]).replace(theirs["session_id"], "X")


def test_a_token_cannot_write_for_another_agent(api: ApiServer) -> None:
    # Given a token for agent "main"
    main = api.client(api.token("main-gw", agents=["main"]))
    # When it appends a batch with one event of another agent, and sends a turn for it
    result = main.append([event_dict(agent="main"), event_dict(agent="other")])
    with pytest.raises(ConvlogApiError) as turn:
        main.turn(event_dict(agent="other"))
    # Then that line alone is refused with a code; the turn is refused; nothing of "other" landed
    assert [r["status"] for r in result["results"]] == ["appended", "rejected"]
    assert result["results"][1]["code"] == "AGENT_NOT_IN_SCOPE"
    assert (turn.value.status, turn.value.code) == (403, "AGENT_NOT_IN_SCOPE")
    with api.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events WHERE agent = 'other'")).scalar() == 0


def test_requests_without_a_valid_token_get_401_with_a_clear_message(api: ApiServer) -> None:
    # Given no token, a wrong token, and a revoked one
    secret = api.token("gw")
    with api.engine.begin() as conn:
        conn.execute(text("UPDATE api_tokens SET revoked_at = now() WHERE name = 'gw'"))
    answers = {}
    for label, headers in (("none", {}), ("wrong", {"Authorization": "Bearer clg_nope"}),
                           ("revoked", {"Authorization": f"Bearer {secret}"}),
                           ("not bearer", {"Authorization": "Basic dXNlcjpwdw=="})):
        # When each calls the API
        answers[label] = httpx.get(f"{api.url}/v1/sessions", headers=headers)
    # Then each is a 401 in the one error shape, saying what to send, with no trace
    for label, response in answers.items():
        body = response.json()
        assert response.status_code == 401, label
        assert response.headers["www-authenticate"] == "Bearer"
        assert body["code"] == "UNAUTHORIZED"
        assert "bearer" in body["message"].lower() and "convlog token create" in body["hint"]
        assert "Traceback" not in response.text


def test_a_token_needs_the_verb_of_each_call(api: ApiServer) -> None:
    # Given a read-only token and an ingest-only one
    reader = api.client(api.token("reader", verbs=["read"]))
    writer = api.client(api.token("writer", verbs=["ingest"]))
    # When the reader appends, the writer reads, and either manages projections
    calls = [lambda: reader.append([event_dict()]), lambda: writer.sessions(),
             lambda: writer.projections(), lambda: reader.turn(event_dict())]
    codes = []
    for call in calls:
        with pytest.raises(ConvlogApiError) as caught:
            call()
        codes.append((caught.value.status, caught.value.code))
    # Then each is refused as 403 VERB_NOT_ALLOWED
    assert codes == [(403, "VERB_NOT_ALLOWED")] * 4


def test_token_cli_prints_the_token_once_and_stores_only_its_hash(
        cli_env: str, api: ApiServer, capsys: pytest.CaptureFixture[str]) -> None:
    # Given `convlog token create --json`
    assert main(["token", "create", "gateway", "--agents", "main,ops", "--verbs",
                 "read,ingest", "--json"]) == 0
    secret = json.loads(capsys.readouterr().out)["token"]
    # When the tokens are listed and the table is read
    assert main(["token", "list", "--json"]) == 0
    listed = capsys.readouterr().out
    with api.engine.connect() as conn:
        stored = conn.execute(text("SELECT * FROM api_tokens")).mappings().one()
    # Then the token works, is nowhere in the database or the listing, its hash is
    token_works = api.client(secret).sessions()
    assert token_works["sessions"] == []
    assert secret not in listed and secret not in json.dumps(dict(stored), default=str)
    assert bytes(stored["token_hash"]) == hashlib.sha256(secret.encode()).digest()
    assert json.loads(listed)[0]["agents"] == ["main", "ops"]
    # And once revoked it gets 401 (the server, which had verified it, forgets it when the
    # revocation's notice arrives, within moments); revoking again is a coded error
    assert main(["token", "revoke", "gateway"]) == 0
    deadline = time.monotonic() + 5
    while True:
        try:
            api.client(secret).sessions()
        except ConvlogApiError as revoked:
            assert revoked.status == 401
            break
        assert time.monotonic() < deadline, "the server still honours a revoked token"
        time.sleep(0.01)
    capsys.readouterr()
    assert main(["token", "revoke", "gateway"]) == 2
    assert "[UNKNOWN_TOKEN]" in capsys.readouterr().err


def test_token_create_refuses_unknown_verbs_and_bad_names(
        cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a verb that does not exist, and a name with a space
    bad_verb = main(["token", "create", "gw", "--agents", "main", "--verbs", "read,write"])
    bad_verb_err = capsys.readouterr().err
    bad_name = main(["token", "create", "my gw", "--agents", "main", "--verbs", "read"])
    # Then each is exit 2 with its code, and nothing is printed as a token
    assert (bad_verb, bad_name) == (2, 2)
    assert "[INVALID_TOKEN_SCOPE]" in bad_verb_err
    assert "[INVALID_TOKEN_NAME]" in capsys.readouterr().err


def test_a_token_with_an_expiry_is_refused_once_it_has_passed(
        api: ApiServer, cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a token that lasts a second and one that lasts a day, made by the CLI
    secrets = {}
    for name, lasts in (("brief", "1s"), ("daily", "1d")):
        capsys.readouterr()
        assert main(["token", "create", name, "--agents", "main", "--verbs", "read",
                     "--expires-in", lasts, "--json"]) == 0
        secrets[name] = json.loads(capsys.readouterr().out)["token"]
    brief, daily = (api.client(secrets[name]) for name in ("brief", "daily"))
    brief.request("GET", "/v1/sessions")
    # When the second has passed, the brief one is refused as a revoked one would be
    time.sleep(1.2)
    with pytest.raises(ConvlogApiError) as refused:
        brief.request("GET", "/v1/sessions")
    assert (refused.value.status, refused.value.code) == (401, "UNAUTHORIZED")
    daily.request("GET", "/v1/sessions")
    # and the list says when each expires; a duration without a unit is refused
    capsys.readouterr()
    assert main(["token", "list", "--json"]) == 0
    listed = {t["name"]: t["expires_at"] for t in json.loads(capsys.readouterr().out)}
    assert listed["brief"] is not None and listed["daily"] is not None
    assert main(["token", "create", "x", "--agents", "main", "--verbs", "read",
                 "--expires-in", "30"]) == 2
    assert "[INVALID_TOKEN_EXPIRY]" in capsys.readouterr().err
