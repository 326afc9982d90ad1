// Shared helpers of the SDK conformance suite: start/stop notion-emulator, the control API,
// SDK clients and error assertions. Only test files (*.test.js) are run by `node --test`.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Client, LogLevel, APIResponseError } from "@notionhq/client";

const here = dirname(fileURLToPath(import.meta.url));

// Emulators still running when the test process exits (a crashed test file) are killed with it.
const running = new Set();
process.once("exit", () => {
    for (const child of running) child.kill("SIGKILL");
});

export const OWNER_TOKEN = "T";
export const CONNECTION_TOKEN = "T2";
export const V_NEW = "2026-03-11";
export const V_OLD = "2025-09-03";
export const V_LEGACY = "2022-06-28";

function emulatorBinary() {
    const fromEnv = process.env.NOTION_EMULATOR;
    if (fromEnv) return fromEnv;
    const dev = resolve(here, "../../../build/dev/emulator/notion-emulator");
    if (existsSync(dev)) return dev;
    throw new Error("Set NOTION_EMULATOR to the notion-emulator binary");
}

export function sampleFixture() {
    const fromEnv = process.env.SAMPLE_FIXTURE;
    if (fromEnv) return fromEnv;
    return resolve(here, "../../../emulator/fixtures/sample.json");
}

/**
 * Starts notion-emulator on a free port with the owner token T and connection token T2.
 * Returns { port, baseUrl, control, get, stop, client }.
 */
export async function startEmulator({ fixture, extraArgs = [] } = {}) {
    const args = [
        "--port", "0",
        "--owner-token", OWNER_TOKEN,
        "--connection-token", CONNECTION_TOKEN,
        ...(fixture ? ["--fixture", fixture] : []),
        ...extraArgs,
    ];
    const child = spawn(emulatorBinary(), args, { stdio: ["ignore", "pipe", "pipe"] });
    running.add(child);
    child.once("exit", () => running.delete(child));
    let stderr = "";
    child.stderr.on("data", chunk => {
        stderr += chunk;
    });
    const exited = new Promise(resolveExit => child.once("exit", (code, signal) => resolveExit({ code, signal })));
    const port = await new Promise((resolvePort, reject) => {
        const lines = createInterface({ input: child.stdout });
        const timer = setTimeout(() => reject(new Error(`emulator did not print its port: ${stderr}`)), 15000);
        lines.once("line", line => {
            clearTimeout(timer);
            try {
                resolvePort(JSON.parse(line).port);
            } catch (e) {
                reject(new Error(`unexpected first line from the emulator: ${line}`));
            }
        });
        child.once("error", reject);
        exited.then(({ code }) => reject(new Error(`emulator exited (${code}): ${stderr}`)));
    });
    assert.ok(Number.isInteger(port) && port > 0, "the emulator prints {\"port\":N}");
    const baseUrl = `http://127.0.0.1:${port}`;

    async function control(name, body) {
        const res = await fetch(`${baseUrl}/__emulator/${name}`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(body ?? {}),
        });
        const json = await res.json();
        if (!res.ok) throw new Error(`control ${name} failed: ${res.status} ${JSON.stringify(json)}`);
        return json;
    }
    async function get(name) {
        const res = await fetch(`${baseUrl}/__emulator/${name}`);
        assert.equal(res.status, 200);
        return res.json();
    }
    async function stop() {
        if (child.exitCode === null && child.signalCode === null) {
            child.kill("SIGTERM");
            const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
            await exited;
            clearTimeout(timer);
        }
    }
    function client(auth, options = {}) {
        return makeClient(baseUrl, auth, options);
    }
    return { port, baseUrl, control, get, stop, client, process: child };
}

/** An SDK client for the emulator: quiet logs, short timeout, fast retries. */
export function makeClient(baseUrl, auth, { version = V_NEW, retry, timeoutMs = 15000 } = {}) {
    return new Client({
        auth,
        baseUrl,
        notionVersion: version,
        timeoutMs,
        logLevel: LogLevel.ERROR,
        retry: retry ?? { maxRetries: 2, initialRetryDelayMs: 50, maxRetryDelayMs: 3000 },
    });
}

/** Awaits an SDK call that must fail with an APIResponseError of this status and code. */
export async function expectApiError(promise, { status, code, message }) {
    let error;
    try {
        await promise;
    } catch (e) {
        error = e;
    }
    assert.ok(error, `expected ${status} ${code}, but the call succeeded`);
    assert.ok(APIResponseError.isAPIResponseError(error), `expected an APIResponseError, got ${error?.name}: ${error?.message}`);
    assert.equal(error.code, code, error.message);
    assert.equal(error.status, status);
    if (message) assert.match(error.message, message);
    assert.equal(typeof error.request_id, "string", "errors carry request_id");
    return error;
}

/** Rich text request value. */
export const text = content => [{ type: "text", text: { content } }];
export const titleOf = page => {
    const prop = Object.values(page.properties).find(p => p.type === "title");
    return prop.title.map(t => t.plain_text).join("");
};

/** Collects every item of a paginated SDK list call. */
export async function collect(fn, args) {
    const out = [];
    let cursor;
    let calls = 0;
    do {
        const res = await fn({ ...args, start_cursor: cursor });
        out.push(...res.results);
        cursor = res.has_more ? res.next_cursor : undefined;
        if (res.has_more) assert.equal(typeof res.next_cursor, "string");
        else assert.equal(res.next_cursor, null);
        assert.ok(++calls < 1000);
    } while (cursor);
    return out;
}

/** Waits a fixed time: only for tests of time itself, where no condition can be observed. */
export const sleep = ms => new Promise(r => setTimeout(r, ms));

/**
 * Polls fn (sync or async) until it returns a truthy value and returns that value; throws when
 * timeoutMs passes first, naming `what` (the condition) in the error.
 */
export async function waitUntil(fn, { timeoutMs = 5000, intervalMs = 20, what = "the condition" } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const value = await fn();
        if (value) return value;
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
        await sleep(intervalMs);
    }
}
