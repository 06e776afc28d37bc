/**
 * A small client for convlog's HTTP API. Types come from the repository's openapi.json
 * (src/schema.d.ts, `npm run generate`); requests go through openapi-fetch.
 *
 *   const api = new ConvlogClient("http://127.0.0.1:8080", token);
 *   const turn = await api.turn(event, { budget: 8000 });   // append + its context
 *   const lease = await api.lease(turn.session_id, { ttlSeconds: 60, waitSeconds: 10 });
 *   try { await api.append([reply], { fencingToken: lease.fencing_token }); }
 *   finally { await api.release(lease.lease_id); }
 *
 * Appends are idempotent, so every call but `lease` is retried (a bounded number of
 * times, after Retry-After) on a 503 or a dropped connection, as the Python client does.
 */
import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./schema.js";

export type { components, paths };
type Schemas = components["schemas"];
export type Event = Schemas["Event"];
/** One event type's shape, e.g. `EventOf<"message.received">`: its required fields. */
export type EventOf<T extends Event["type"]> = Extract<Event, { type: T }>;
export type AppendResponse = Schemas["AppendResponse"];
export type TurnResponse = Schemas["TurnResponse"];
export type ContextResponse = Schemas["ContextResponse"];
export type ContextMessage = Schemas["ContextMessage"];
export type Session = Schemas["SessionModel"];
export type SessionPage = Schemas["SessionPage"];
export type Lease = Schemas["LeaseResponse"];
export type ErrorBody = Schemas["ErrorBody"];

const RETRY_PAUSE_CAP_MS = 5_000;

/** An error answer: `code` as the server (and the CLI) names it, with its `hint`. */
export class ConvlogApiError extends Error {
  override readonly name = "ConvlogApiError";
  readonly status: number;
  readonly code: string;
  readonly hint: string | null;
  /** per-problem findings (invalid fields, policy diagnostics), when the server gives them */
  readonly details: ErrorBody["details"];
  /** seconds, from the Retry-After header */
  readonly retryAfter: number | null;

  constructor(init: {
    status: number;
    code: string;
    message: string;
    hint?: string | null;
    details?: ErrorBody["details"];
    retryAfter?: number | null;
  }) {
    super(init.message);
    this.status = init.status;
    this.code = init.code;
    this.hint = init.hint ?? null;
    this.details = init.details ?? null;
    this.retryAfter = init.retryAfter ?? null;
  }
}

export interface ClientOptions {
  /** extra attempts after a 503 or a dropped connection (default 2; `lease` never retries) */
  retries?: number;
  /** per attempt, in milliseconds (default 30 000; a lease adds its `waitSeconds`) */
  timeoutMs?: number;
  /** a fetch to use instead of the global one (tests, proxies) */
  fetch?: (request: Request) => Promise<Response>;
}

export interface TurnOptions {
  /** tokens */
  budget: number;
  /** for a message.sent: the lease's fencing token */
  fencingToken?: number;
  /** count tokens in this encoding (cl100k_base, o200k_base); default: the projection's */
  encoding?: string;
  tagSenders?: boolean;
}

export interface ContextOptions {
  budget: number;
  /** a position an append returned: the context then holds every event up to it */
  after?: number;
  asOf?: number;
  tagSenders?: boolean;
  projection?: string;
  encoding?: string;
}

export interface SessionFilters {
  agent?: string;
  keyPrefix?: string;
  participant?: string;
  needsSummary?: boolean;
  cursor?: string;
  limit?: number;
  projection?: string;
  /** a position an append returned: the page then reflects every event up to it */
  after?: number;
}

/** What an openapi-fetch call resolves to, loosely. */
interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

export class ConvlogClient {
  /** the typed openapi-fetch client, for the calls this wrapper does not cover */
  readonly http: Client<paths>;
  private readonly retries: number;
  private readonly timeoutMs: number;

  constructor(baseUrl: string, token: string, options: ClientOptions = {}) {
    this.retries = options.retries ?? 2;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.http = createClient<paths>({
      baseUrl,
      headers: { Authorization: `Bearer ${token}` },
      fetch: options.fetch, // undefined: the global fetch
    });
  }

  // -- the gateway's three calls ---------------------------------------------------------

  /** Appends events (a JSON array); each line's result says appended, duplicate or rejected. */
  append(events: readonly Event[], options: { fencingToken?: number } = {}): Promise<AppendResponse> {
    return this.call((signal) =>
      this.http.POST("/v1/events", {
        params: { query: { fencing_token: options.fencingToken } },
        body: [...events],
        signal,
      }),
    );
  }

  /** Appends NDJSON as it is (one event per line), e.g. lines a gateway kept on disk. */
  appendNdjson(ndjson: string, options: { fencingToken?: number } = {}): Promise<AppendResponse> {
    return this.call((signal) =>
      this.http.POST("/v1/events", {
        params: { query: { fencing_token: options.fencingToken } },
        body: ndjson,
        bodySerializer: (body) => body,
        headers: { "Content-Type": "application/x-ndjson" },
        signal,
      }),
    );
  }

  /** Appends one message and answers its session's context, which holds it. */
  turn(event: Event, options: TurnOptions): Promise<TurnResponse> {
    return this.call((signal) =>
      this.http.POST("/v1/turns", {
        body: {
          event,
          budget: options.budget,
          tag_senders: options.tagSenders,
          fencing_token: options.fencingToken,
          encoding: options.encoding,
        },
        signal,
      }),
    );
  }

  /** A session's context (by id or key); with `after`, read-your-writes. */
  context(session: string, options: ContextOptions): Promise<ContextResponse> {
    return this.call((signal) =>
      this.http.GET("/v1/sessions/{session}/context", {
        params: {
          path: { session },
          query: {
            budget: options.budget,
            after: options.after,
            as_of: options.asOf,
            tag_senders: options.tagSenders,
            projection: options.projection,
            encoding: options.encoding,
          },
        },
        signal,
      }),
    );
  }

  // -- sessions --------------------------------------------------------------------------

  /** One page of the sessions this token may see; `next_cursor` leads to the next. */
  sessions(filters: SessionFilters = {}): Promise<SessionPage> {
    return this.call((signal) =>
      this.http.GET("/v1/sessions", {
        params: {
          query: {
            agent: filters.agent,
            key_prefix: filters.keyPrefix,
            participant: filters.participant,
            needs_summary: filters.needsSummary,
            cursor: filters.cursor,
            limit: filters.limit,
            projection: filters.projection,
            after: filters.after,
          },
        },
        signal,
      }),
    );
  }

  /** Every session matching the filters, page after page. */
  async *iterSessions(filters: SessionFilters = {}): AsyncGenerator<Session> {
    let cursor = filters.cursor;
    do {
      const page = await this.sessions({ ...filters, cursor });
      yield* page.sessions;
      cursor = page.next_cursor ?? undefined;
    } while (cursor !== undefined);
  }

  session(session: string, options: { projection?: string } = {}): Promise<Session> {
    return this.call((signal) =>
      this.http.GET("/v1/sessions/{session}", {
        params: { path: { session }, query: { projection: options.projection } },
        signal,
      }),
    );
  }

  // -- leases ----------------------------------------------------------------------------

  /** Holds a session; 409 LEASE_HELD after `waitSeconds`. Never retried. */
  lease(session: string, options: { ttlSeconds: number; waitSeconds?: number }): Promise<Lease> {
    const waitSeconds = options.waitSeconds ?? 0;
    return this.call(
      (signal) =>
        this.http.POST("/v1/sessions/{session}/lease", {
          params: { path: { session } },
          body: { ttl_seconds: options.ttlSeconds, wait_seconds: waitSeconds },
          signal,
        }),
      { retry: false, extraMs: waitSeconds * 1000 },
    );
  }

  renew(leaseId: string, options: { ttlSeconds: number }): Promise<Lease> {
    return this.call((signal) =>
      this.http.POST("/v1/leases/{lease_id}/renew", {
        params: { path: { lease_id: leaseId } },
        body: { ttl_seconds: options.ttlSeconds },
        signal,
      }),
    );
  }

  /** Lets the session go; releasing twice is fine. */
  async release(leaseId: string): Promise<void> {
    await this.call((signal) =>
      this.http.DELETE("/v1/leases/{lease_id}", { params: { path: { lease_id: leaseId } }, signal }),
    );
  }

  // -- one call, its retries and its error ------------------------------------------------

  private async call<T>(
    send: (signal: AbortSignal) => Promise<Answer<T>>,
    { retry = true, extraMs = 0 } = {},
  ): Promise<T> {
    const attempts = retry ? this.retries + 1 : 1;
    for (let attempt = 1; ; attempt++) {
      let answer: Answer<T>;
      try {
        answer = await send(AbortSignal.timeout(this.timeoutMs + extraMs));
      } catch (err) {
        if (attempt >= attempts || !isTransportError(err)) throw err;
        await sleep(Math.min(2 ** attempt * 100, RETRY_PAUSE_CAP_MS));
        continue;
      }
      const { data, error, response } = answer;
      if (response.ok) return data as T;
      if (response.status === 503 && attempt < attempts) {
        await sleep(Math.min((retryAfter(response) ?? 1) * 1000, RETRY_PAUSE_CAP_MS));
        continue;
      }
      throw toApiError(response, error);
    }
  }
}

function toApiError(response: Response, body: unknown): ConvlogApiError {
  const status = response.status;
  if (isErrorBody(body)) {
    return new ConvlogApiError({ status, ...body, retryAfter: retryAfter(response) });
  }
  // Not the server's shape (a proxy's page, say): keep the start of what came.
  const text = typeof body === "string" ? body : JSON.stringify(body ?? "");
  return new ConvlogApiError({
    status,
    code: `HTTP_${status}`,
    message: text.slice(0, 300) || response.statusText,
    retryAfter: retryAfter(response),
  });
}

function isErrorBody(body: unknown): body is ErrorBody {
  return (
    typeof body === "object" &&
    body !== null &&
    typeof (body as { code?: unknown }).code === "string" &&
    typeof (body as { message?: unknown }).message === "string"
  );
}

function retryAfter(response: Response): number | null {
  const value = response.headers.get("retry-after");
  return value !== null && /^\d+$/.test(value) ? Number(value) : null;
}

/** A dropped connection (fetch's TypeError) or an attempt's timeout. */
function isTransportError(err: unknown): boolean {
  return err instanceof TypeError || (err as { name?: unknown } | null)?.name === "TimeoutError";
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
