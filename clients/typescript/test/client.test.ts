/** The wrapper's retries and errors, against a fake fetch (no server needed). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConvlogApiError, ConvlogClient } from "../src/index.js";

function fakeServer(answers: Array<() => Response>) {
  const seen: Request[] = [];
  const fetch = async (request: Request) => {
    seen.push(request);
    const answer = answers.shift();
    if (!answer) throw new Error("no more answers");
    return answer();
  };
  return { seen, client: new ConvlogClient("http://convlog.test", "secret", { fetch }) };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) => () =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });

test("a 503 is retried after Retry-After, with the token", async () => {
  const lagging = json(503, { code: "PROJECTION_LAGGING", message: "behind" }, { "Retry-After": "0" });
  const page = { projection: "default", sessions: [], next_cursor: null };
  const { seen, client } = fakeServer([lagging, json(200, page)]);
  assert.deepEqual(await client.sessions({ agent: "main", needsSummary: true }), page);
  assert.equal(seen.length, 2);
  assert.equal(seen[1]?.headers.get("authorization"), "Bearer secret");
  assert.equal(new URL(seen[1]?.url ?? "").search, "?agent=main&needs_summary=true");
});

test("a lease is never retried; its error carries the server's code, hint and Retry-After", async () => {
  const down = json(503, { code: "DATABASE", message: "down", hint: "retry" }, { "Retry-After": "0" });
  const { seen, client } = fakeServer([down, down]);
  await assert.rejects(client.lease("a/b=c", { ttlSeconds: 30 }), (err: unknown) => {
    assert.ok(err instanceof ConvlogApiError);
    assert.deepEqual([err.status, err.code, err.message, err.hint, err.retryAfter], [503, "DATABASE", "down", "retry", 0]);
    return true;
  });
  assert.equal(seen.length, 1);
  assert.equal(new URL(seen[0]?.url ?? "").pathname, "/v1/sessions/a%2Fb%3Dc/lease");
});

test("an error that is not the server's shape still becomes a ConvlogApiError", async () => {
  const { client } = fakeServer([() => new Response("<html>bad gateway</html>", { status: 502 })]);
  await assert.rejects(client.context("s", { budget: 10 }), (err: unknown) => {
    assert.ok(err instanceof ConvlogApiError);
    assert.deepEqual([err.status, err.code, err.message], [502, "HTTP_502", "<html>bad gateway</html>"]);
    return true;
  });
});
