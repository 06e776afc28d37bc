/**
 * A small TypeScript gateway against a real `convlog serve`: appends, turns, a leased and
 * fenced reply, contexts, and rejections handled by their codes.
 *
 * Needs CONVLOG_TEST_DATABASE_URL (a PostgreSQL server; the test makes and drops a scratch
 * database there) and `convlog` on PATH or in CONVLOG_BIN. Without the URL it is skipped,
 * except under CI, where that fails.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ConvlogApiError, ConvlogClient, type ContextResponse, type Event, type EventOf } from "../src/index.js";
import { startConvlog, type Convlog } from "./harness.js";

const databaseUrl = process.env.CONVLOG_TEST_DATABASE_URL;
const skip =
  databaseUrl || process.env.CI
    ? false
    : "CONVLOG_TEST_DATABASE_URL is not set: it names a PostgreSQL server on which the test creates a scratch database";

// Each event a second later than the last, from 2026-03-01T12:00:00Z.
let clock = 0;
function nextTime(): string {
  clock += 1;
  return new Date(Date.UTC(2026, 2, 1, 12, 0, clock)).toISOString();
}

const where = { agent: "main", platform: "discord", space: "1234567890", chat: "1000000001", chat_type: "channel" } as const;

function received(fields: Partial<EventOf<"message.received">> = {}): EventOf<"message.received"> {
  const time = nextTime();
  return {
    type: "message.received",
    ...where,
    sender: "111",
    sender_name: "alice",
    message_id: `in-${clock}`,
    text: `message at ${time}`,
    occurred_at: time,
    ...fields,
  };
}

function sent(replyTo: string, text: string): EventOf<"message.sent"> {
  return { type: "message.sent", ...where, reply_to: replyTo, message_id: `out-${replyTo}`, text, occurred_at: nextTime() };
}

/** The gateway: an inbound message in, the agent's reply appended under the session's lease. */
async function handleInbound(api: ConvlogClient, inbound: Event, agent: (context: ContextResponse) => string) {
  const turn = await api.turn(inbound, { budget: 8000 });
  const lease = await api.lease(turn.session_id, { ttlSeconds: 30, waitSeconds: 5 });
  try {
    const reply = sent(inbound.message_id ?? "", agent(turn.context));
    const appended = await api.append([reply], { fencingToken: lease.fencing_token });
    return { turn, lease, reply, appended };
  } finally {
    await api.release(lease.lease_id);
  }
}

/** An assert.rejects check: a ConvlogApiError with this status and code. */
function apiError(status: number, code: string) {
  return (err: unknown) => {
    assert.ok(err instanceof ConvlogApiError, `expected a ConvlogApiError, got ${String(err)}`);
    assert.equal(err.status, status, err.message);
    assert.equal(err.code, code, err.message);
    assert.ok(err.message.length > 0);
    return true;
  };
}

describe("a TypeScript gateway against convlog serve", { timeout: 180_000 }, () => {
  let convlog: Convlog | undefined;
  let api: ConvlogClient;
  let sessionId = "";

  before(async () => {
    if (skip) return;
    if (!databaseUrl) throw new Error("CI is set but CONVLOG_TEST_DATABASE_URL is not: the gateway test needs PostgreSQL");
    convlog = await startConvlog({ adminUrl: databaseUrl, bin: process.env.CONVLOG_BIN ?? "convlog" });
    api = new ConvlogClient(convlog.baseUrl, convlog.token);
  });

  after(async () => {
    await convlog?.stop();
  });

  test("append: a batch is appended, and its retry is a duplicate", { skip }, async () => {
    const batch = [received({ text: "hello" }), received({ text: "I am alice" })];
    const first = await api.append(batch);
    assert.equal(first.appended, 2);
    assert.equal(first.rejected, 0);
    assert.deepEqual(first.results.map((r) => r.status), ["appended", "appended"]);
    assert.equal(first.last_position, first.results[1]?.position);

    const retry = await api.append(batch);
    assert.equal(retry.duplicates, 2);
    assert.deepEqual(retry.results.map((r) => r.position), first.results.map((r) => r.position));
  });

  test("turn: the context holds the message just sent", { skip }, async () => {
    const inbound = received({ text: "what did I just say?" });
    const turn = await api.turn(inbound, { budget: 8000 });
    assert.equal(turn.status, "appended");
    assert.ok(turn.context.checkpoint >= turn.position);
    const contents = turn.context.messages.map((m) => m.content);
    assert.equal(contents.at(-1), "what did I just say?");
    assert.ok(contents.includes("hello"), `an earlier message is in the context: ${contents.join(" | ")}`);
    assert.equal(turn.context.messages.at(-1)?.role, "user");
    sessionId = turn.session_id;
  });

  test("gateway: a leased turn with a fenced reply; a second holder and a stale token are refused", { skip }, async () => {
    const inbound = received({ text: "please answer" });
    const { turn, lease, reply, appended } = await handleInbound(api, inbound, (context) => {
      return `I have ${context.messages.length} messages in mind`;
    });
    assert.equal(turn.session_id, sessionId);
    assert.equal(appended.results[0]?.status, "appended");

    // The reply is in the context once its position is: read-your-writes with `after`.
    const context = await api.context(sessionId, { budget: 8000, after: appended.last_position ?? 0 });
    assert.deepEqual(
      { role: context.messages.at(-1)?.role, content: context.messages.at(-1)?.content },
      { role: "assistant", content: reply.text },
    );

    // A second holder is refused while the lease is held; renewing keeps the token.
    const held = await api.lease(sessionId, { ttlSeconds: 30, waitSeconds: 0 });
    assert.ok(held.fencing_token > lease.fencing_token);
    await assert.rejects(api.lease(sessionId, { ttlSeconds: 30, waitSeconds: 0 }), apiError(409, "LEASE_HELD"));
    const renewed = await api.renew(held.lease_id, { ttlSeconds: 60 });
    assert.equal(renewed.fencing_token, held.fencing_token);

    // A reply fenced with the old lease's token comes too late: per line in a batch, 409 in a turn.
    const late = await api.append([sent(inbound.message_id ?? "", "too late")], { fencingToken: lease.fencing_token });
    assert.equal(late.results[0]?.status, "rejected");
    assert.equal(late.results[0]?.code, "FENCING_TOKEN_STALE");
    await assert.rejects(
      api.turn(sent(inbound.message_id ?? "", "too late, again"), { budget: 8000, fencingToken: lease.fencing_token }),
      apiError(409, "FENCING_TOKEN_STALE"),
    );

    await api.release(held.lease_id);
    await api.release(held.lease_id); // twice is fine
  });

  test("context and sessions: by id and by key, page after page", { skip }, async () => {
    const byId = await api.context(sessionId, { budget: 8000 });
    const byKey = await api.context(byId.key, { budget: 8000 });
    assert.equal(byKey.session_id, sessionId);
    assert.equal(byKey.messages.length, byId.messages.length);

    const small = await api.context(sessionId, { budget: 5 });
    assert.ok(small.left_out.messages > 0, "a small budget leaves messages out");

    const page = await api.sessions({ agent: "main" });
    assert.ok(page.sessions.some((s) => s.session_id === sessionId));
    const all = [];
    for await (const session of api.iterSessions({ limit: 1 })) all.push(session.session_id);
    assert.deepEqual(all.sort(), page.sessions.map((s) => s.session_id).sort());
    assert.equal((await api.session(byId.key)).session_id, sessionId);
  });

  test("rejections: handled by their codes", { skip }, async () => {
    // In a batch, each refused line says why; the good lines around it are kept.
    const batch = await api.append([received({ occurred_at: "0001-01-01T00:00:00Z" }), received()]);
    assert.deepEqual(batch.results.map((r) => [r.status, r.code ?? null]), [
      ["rejected", "TIME_OUT_OF_RANGE"],
      ["appended", null],
    ]);
    assert.match(batch.results[0]?.reason ?? "", /occurred_at/);

    const ndjson = await api.appendNdjson(`${JSON.stringify(received())}\nnot json\n`);
    assert.deepEqual(ndjson.results.map((r) => r.code ?? r.status), ["appended", "MALFORMED_JSON"]);

    // A turn is one event: refused whole, as an error with the code.
    await assert.rejects(
      api.turn(received({ occurred_at: "0001-01-01T00:00:00Z" }), { budget: 8000 }),
      apiError(422, "TIME_OUT_OF_RANGE"),
    );
    await assert.rejects(api.turn(received({ agent: "support" }), { budget: 8000 }), apiError(403, "AGENT_NOT_IN_SCOPE"));

    // A session the token cannot see, and a token the server does not know.
    await assert.rejects(api.context("no-such-session", { budget: 8000 }), (err: unknown) => {
      assert.ok(apiError(404, "UNKNOWN_SESSION")(err));
      assert.match((err as ConvlogApiError).hint ?? "", /GET \/v1\/sessions/);
      return true;
    });
    const stranger = new ConvlogClient(convlog?.baseUrl ?? "", "not-a-token");
    await assert.rejects(stranger.sessions(), apiError(401, "UNAUTHORIZED"));
  });
});
