/**
 * A real convlog server for the tests: a scratch database on the PostgreSQL server at
 * CONVLOG_TEST_DATABASE_URL (created with psql, dropped at the end), `convlog init`, a token,
 * and `convlog serve --workers 1` on a free port.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export interface Convlog {
  baseUrl: string;
  token: string;
  /** what the server printed so far (its last 20 000 characters) */
  output(): string;
  /** stops the server and drops the scratch database */
  stop(): Promise<void>;
}

export async function startConvlog(options: { adminUrl: string; bin: string }): Promise<Convlog> {
  const cleanups: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    cleanups.length = 0;
  };
  try {
    const database = await createScratchDatabase(options.adminUrl);
    cleanups.push(database.drop);
    const env = { ...process.env, CONVLOG_DATABASE_URL: database.url };
    await run("convlog init", options.bin, ["init"], env);
    const created: unknown = JSON.parse(
      await run("convlog token create", options.bin, ["token", "create", "gw", "--agents", "main", "--verbs", "ingest,read", "--json"], env),
    );
    const token = (created as { token?: unknown }).token;
    if (typeof token !== "string") throw new Error("`convlog token create --json` printed no token");
    const server = await startServer(options.bin, env);
    cleanups.push(server.stop);
    return { baseUrl: server.baseUrl, token, output: server.output, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function createScratchDatabase(adminUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  // psql takes a libpq URL; convlog also takes SQLAlchemy's `postgresql+driver://`.
  const libpqUrl = adminUrl.replace(/^postgres(ql)?\+\w+:/, "postgresql:");
  const name = `convlog_ts_${randomBytes(6).toString("hex")}`;
  await psql(libpqUrl, `CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => psql(libpqUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

async function psql(url: string, sql: string): Promise<void> {
  await run(sql, "psql", ["--no-psqlrc", "--quiet", "-v", "ON_ERROR_STOP=1", "--dbname", url, "-c", sql], process.env);
}

/** Runs a command; its error names `what` and quotes stderr (never the arguments). */
async function run(what: string, command: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  try {
    const { stdout } = await execFileAsync(command, args, { env, timeout: 120_000 });
    return stdout;
  } catch (err) {
    const { code, signal, stderr } = err as { code?: unknown; signal?: unknown; stderr?: string };
    const why = code === "ENOENT" ? `${command} is not on PATH` : stderr?.trim() || `exit ${String(code ?? signal)}`;
    throw new Error(`${what} failed: ${why}`);
  }
}

async function startServer(bin: string, env: NodeJS.ProcessEnv) {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  // Its own process group, so that stopping it stops its server and folder processes too.
  const child = spawn(
    bin,
    ["serve", "--host", "127.0.0.1", "--port", String(port), "--workers", "1", "--log-level", "warning"],
    { env, detached: true, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const spawned = new Promise<void>((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", (err) => reject(new Error(`cannot start ${bin} serve: ${err.message}`)));
  });
  await spawned;
  const server = { baseUrl, output: () => output, stop: () => stopGroup(child) };
  try {
    await waitReady(baseUrl, child, () => output);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}

async function waitReady(baseUrl: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`convlog serve exited (${child.exitCode ?? child.signalCode}):\n${output()}`);
    }
    try {
      const response = await fetch(`${baseUrl}/readyz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`convlog serve was not ready within 60 s:\n${output()}`);
}

async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  signalGroup(child.pid, "SIGTERM");
  const stopped = await Promise.race([exited.then(() => true), sleep(15_000, false, { ref: false })]);
  if (!stopped) {
    signalGroup(child.pid, "SIGKILL");
    await exited;
  }
  signalGroup(child.pid, "SIGKILL"); // any process of the group still left
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  if (address === null || typeof address === "string") throw new Error("no free port");
  return address.port;
}
