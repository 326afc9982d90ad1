// A notion-emulator and a notion-syncd `run` for the console tests: a workspace with one data
// source of tasks shared with the connection, a sqlite target (two-way when asked) and a jsonl
// target, the control server on a free loopback port. Paths of the binaries come from ctest
// (NOTION_SYNCD, NOTION_EMULATOR).
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export const ownerToken = "test-owner-token";
export const connectionToken = "test-connection-token";

export function binaries() {
  const syncd = process.env.NOTION_SYNCD;
  const emulator = process.env.NOTION_EMULATOR;
  if (!syncd || !emulator) throw new Error("NOTION_SYNCD and NOTION_EMULATOR must name the built binaries");
  return { syncd, emulator };
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

function firstLine(child) {
  return new Promise((resolve, reject) => {
    let buffer = "";
    const onData = (chunk) => {
      buffer += chunk;
      const newline = buffer.indexOf("\n");
      if (newline >= 0) {
        child.stdout.off("data", onData);
        resolve(buffer.slice(0, newline));
      }
    };
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", onData);
    child.on("exit", (code) => reject(new Error(`exited with ${code} before printing a line`)));
  });
}

export async function waitUntil(what, check, timeoutMs = 20000) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e;
    }
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}${last ? ": " + last.message : ""}`);
}

export class Harness {
  constructor({ tasks = 5, twoWay = false, authToken = null, maxDeleteRatio = null, historyStepMs = 1000 } = {}) {
    this.options = { tasks, twoWay, authToken, maxDeleteRatio, historyStepMs };
    this.dir = mkdtempSync(join(tmpdir(), "syncd-console-"));
    this.children = [];
    this.pages = [];
  }

  async emulatorApi(method, path, body) {
    const response = await fetch(`${this.emulatorUrl}${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${ownerToken}`,
        "Notion-Version": "2026-03-11",
        "Content-Type": "application/json",
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await response.json();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
    return json;
  }

  async start() {
    const { syncd, emulator } = binaries();
    const emu = spawn(emulator, ["--port", "0", "--owner-token", ownerToken, "--connection-token", connectionToken],
                      { stdio: ["ignore", "pipe", "inherit"] });
    this.children.push(emu);
    this.emulatorUrl = `http://127.0.0.1:${JSON.parse(await firstLine(emu)).port}`;
    await fetch(`${this.emulatorUrl}/__emulator/rate_limit`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ requests: 0, window_ms: 60000 }),
    });
    const home = await this.emulatorApi("POST", "/v1/pages", {
      parent: { workspace: true }, properties: { title: { title: [{ text: { content: "Home" } }] } },
    });
    const db = await this.emulatorApi("POST", "/v1/databases", {
      parent: { page_id: home.id }, title: [{ text: { content: "Tasks" } }],
      initial_data_source: { properties: {
        Name: { title: {} },
        Status: { select: { options: [{ name: "Todo" }, { name: "Doing" }, { name: "Done" }] } },
        Estimate: { number: {} },
      } },
    });
    this.dataSource = db.data_sources[0].id;
    for (let i = 0; i < this.options.tasks; ++i) {
      const page = await this.emulatorApi("POST", "/v1/pages", {
        parent: { data_source_id: this.dataSource },
        properties: { Name: { title: [{ text: { content: `Task ${i}` } }] }, Status: { select: { name: "Todo" } },
                      Estimate: { number: i + 1 } },
      });
      this.pages.push(page.id);
    }
    await fetch(`${this.emulatorUrl}/__emulator/share`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: "connection-1", object_id: home.id }),
    });

    this.port = await freePort();
    let control = `control:\n  listen: 127.0.0.1:${this.port}\n`;
    if (this.options.authToken) {
      const tokenFile = join(this.dir, "control.token");
      writeFileSync(tokenFile, this.options.authToken + "\n", { mode: 0o600 });
      control += `  auth_token_file: ${tokenFile}\n`;
    }
    const twoWay = this.options.twoWay
      ? "        two_way:\n          settle: 0s\n          every: 1s\n          policy: manual\n          max_write_ratio: 1\n"
      : "";
    const brake = this.options.maxDeleteRatio === null ? "" : `    max_delete_ratio: ${this.options.maxDeleteRatio}\n`;
    const config =
      `notion:\n  token: ${connectionToken}\n  base_url: ${this.emulatorUrl}\n` +
      `state:\n  dir: ${join(this.dir, "state")}\n` + control +
      `connectors:\n  db:\n    type: sqlite\n    path: ${join(this.dir, "tasks.sqlite")}\n` +
      `  log:\n    type: jsonl\n    path: ${join(this.dir, "events.jsonl")}\n` +
      `syncs:\n  - name: tasks\n    source: { data_source: ${this.dataSource} }\n    every: 2s\n` +
      `    reconcile_every: 2s\n` + brake +
      `    targets:\n      - connector: db\n        table: tasks\n` + twoWay + `      - connector: log\n`;
    this.configPath = join(this.dir, "config.yaml");
    writeFileSync(this.configPath, config);
    chmodSync(this.configPath, 0o600);
    this.logPath = join(this.dir, "syncd.log");
    const daemon = spawn(syncd, ["-c", this.configPath, "run"], {
      stdio: ["ignore", "ignore", "pipe"],
      // A history sample per step instead of per minute, so charts have points (a test hook).
      env: { ...process.env, NOTION_SYNCD_HISTORY_STEP_MS: String(this.options.historyStepMs) },
    });
    daemon.stderr.setEncoding("utf8");
    daemon.stderr.on("data", (chunk) => writeFileSync(this.logPath, chunk, { flag: "a" }));
    this.children.push(daemon);
    this.url = `http://127.0.0.1:${this.port}`;
    await waitUntil("the first poll", async () => {
      const r = await fetch(`${this.url}/readyz`, { headers: this.authHeaders() });
      return r.status === 200;
    });
  }

  authHeaders() {
    return this.options.authToken ? { Authorization: `Bearer ${this.options.authToken}` } : {};
  }

  async status() {
    const r = await fetch(`${this.url}/v1/status`, { headers: this.authHeaders() });
    return r.json();
  }

  // The sqlite target, through the sqlite3 command-line tool.
  sql(statement) {
    return execFileSync("sqlite3", [join(this.dir, "tasks.sqlite"), statement], { encoding: "utf8" }).trim();
  }

  sqlValue(query) {
    try {
      const out = this.sql(query);
      return out === "" ? null : Number(out);
    } catch {
      return null;
    }
  }

  rows(table) {
    return this.sqlValue(`SELECT count(*) FROM ${table}`);
  }

  log() {
    return existsSync(this.logPath) ? readFileSync(this.logPath, "utf8") : "";
  }

  async stop() {
    for (const child of this.children.reverse()) {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await Promise.race([new Promise((r) => child.on("exit", r)), sleep(5000)]);
        if (child.exitCode === null) child.kill("SIGKILL");
      }
    }
    if (!process.env.KEEP_TEST_DIRS) rmSync(this.dir, { recursive: true, force: true });
  }
}
