// The control API (/__emulator/…) as seen through the SDK: reset, connections, share/unshare,
// clock (time rounding), rate limits with the SDK's Retry-After handling, latency and timeouts,
// faults (status, reset_connection, truncate_body, delay_ms, commit_then_status), request
// counters, search lag and fixture loading.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { APIResponseError, RequestTimeoutError, isNotionClientError } from "@notionhq/client";
import { CONNECTION_TOKEN, OWNER_TOKEN, expectApiError, sleep, startEmulator, text, waitUntil } from "./lib/harness.js";

let emu;
let owner;
let conn;
let root;

async function freshWorkspace() {
    await emu.control("reset");
    root = await owner.pages.create({ parent: { workspace: true }, properties: { title: { title: text("Control root") } } });
    await emu.control("share", { token: CONNECTION_TOKEN, object_id: root.id });
}

async function requestsOf(connection) {
    const { requests } = await emu.get("requests");
    return requests.filter(r => r.connection === connection);
}

before(async () => {
    emu = await startEmulator();
    owner = emu.client(OWNER_TOKEN);
    conn = emu.client(CONNECTION_TOKEN);
});

after(async () => {
    await emu?.stop();
});

describe("reset, connections, share/unshare", () => {
    beforeEach(freshWorkspace);

    it("reset empties the workspace, drops runtime connections, keeps command-line tokens", async () => {
        const added = await emu.control("connections", { token: "T3", name: "integration-b" });
        const extra = emu.client("T3");
        assert.equal((await extra.users.me({})).id, added.bot_user_id);
        await emu.control("reset");
        await expectApiError(owner.pages.retrieve({ page_id: root.id }), { status: 404, code: "object_not_found" });
        await expectApiError(extra.users.me({}), { status: 401, code: "unauthorized" });
        assert.equal((await conn.users.me({})).name, "connection-1");
        assert.equal((await owner.search({})).results.length, 0);
        const { counters } = await emu.get("requests");
        assert.ok(counters.every(c => c.connection !== "integration-b"), "counters were cleared");
    });

    it("connections adds a bot user that sees only what is shared with it", async () => {
        const added = await emu.control("connections", { token: "T3", name: "integration-b" });
        assert.equal(added.name, "integration-b");
        const extra = emu.client("T3");
        const me = await extra.users.me({});
        assert.deepEqual([me.id, me.name, me.type], [added.bot_user_id, "integration-b", "bot"]);
        assert.ok((await conn.users.list({})).results.some(u => u.id === added.bot_user_id));
        assert.equal((await extra.search({})).results.length, 0);
        await expectApiError(extra.pages.retrieve({ page_id: root.id }), { status: 404, code: "object_not_found" });
        await emu.control("share", { token: "integration-b", object_id: root.id });
        assert.equal((await extra.pages.retrieve({ page_id: root.id })).id, root.id);
        assert.deepEqual((await extra.search({})).results.map(r => r.id), [root.id]);
        await emu.control("unshare", { token: "T3", object_id: root.id });
        await expectApiError(extra.pages.retrieve({ page_id: root.id }), { status: 404, code: "object_not_found" });
        // connection-1 is unaffected
        assert.equal((await conn.pages.retrieve({ page_id: root.id })).id, root.id);
    });
});

describe("clock and time rounding", () => {
    beforeEach(freshWorkspace);

    it("set + freeze, advance, and minute-rounded created/last_edited times", async () => {
        const set = await emu.control("clock", { set: "2026-05-01T08:15:59.999Z", freeze: true });
        assert.equal(set.now, "2026-05-01T08:15:59.999Z");
        // standing still can only be shown by letting real time pass: there is no event to wait for
        await sleep(30);
        assert.equal((await emu.get("clock")).now, "2026-05-01T08:15:59.999Z", "a frozen clock stands still");
        const page = await conn.pages.create({ parent: { page_id: root.id }, properties: { title: { title: text("Timed") } } });
        assert.equal(page.created_time, "2026-05-01T08:15:00.000Z");
        assert.equal(page.last_edited_time, "2026-05-01T08:15:00.000Z");
        const advanced = await emu.control("clock", { advance_ms: 125000 });
        assert.equal(advanced.now, "2026-05-01T08:18:04.999Z");
        const edited = await conn.pages.update({ page_id: page.id, properties: { title: { title: text("Timed 2") } } });
        assert.equal(edited.created_time, "2026-05-01T08:15:00.000Z");
        assert.equal(edited.last_edited_time, "2026-05-01T08:18:00.000Z");
        // a second edit within the same minute leaves last_edited_time as it was
        await emu.control("clock", { advance_ms: 40000 });
        const again = await conn.pages.update({ page_id: page.id, icon: { type: "emoji", emoji: "⏱️" } });
        assert.equal(again.last_edited_time, "2026-05-01T08:18:00.000Z");
        const block = (await conn.blocks.children.append({ block_id: page.id, children: [{ paragraph: { rich_text: text("b") } }] })).results[0];
        assert.equal(block.created_time, "2026-05-01T08:18:00.000Z");
    });

    it("a set clock keeps running unless frozen", async () => {
        const set = Date.parse("2030-01-01T00:00:00.000Z");
        await emu.control("clock", { set: "2030-01-01T00:00:00.000Z" });
        const now = await waitUntil(async () => {
            const t = Date.parse((await emu.get("clock")).now);
            return t > set && t;
        }, { what: "the set clock to move on" });
        assert.ok(now < Date.parse("2030-01-01T00:01:00.000Z"));
        const page = await conn.pages.create({ parent: { page_id: root.id }, properties: { title: { title: text("Future") } } });
        assert.equal(page.created_time, "2030-01-01T00:00:00.000Z");
    });
});

describe("rate limits and the SDK's retries", () => {
    beforeEach(freshWorkspace);

    it("a 429 from the budget is retried by the SDK after Retry-After and then succeeds", async () => {
        await emu.control("rate_limit", { requests: 1, window_ms: 1000 });
        try {
            const client = emu.client(CONNECTION_TOKEN, { retry: { maxRetries: 3, initialRetryDelayMs: 50, maxRetryDelayMs: 3000 } });
            await client.users.me({});
            const started = Date.now();
            const me = await client.users.me({});
            assert.equal(me.type, "bot");
            assert.ok(Date.now() - started >= 900, "the SDK waited for Retry-After: 1");
            const statuses = (await requestsOf("connection-1")).filter(r => r.path === "/v1/users/me").map(r => r.status);
            assert.deepEqual(statuses, [200, 429, 200]);
            const { counters } = await emu.get("requests");
            assert.ok(counters.some(c => c.connection === "connection-1" && c.route === "/v1/users/me" && c.status === 429 && c.count === 1));
        } finally {
            await emu.control("rate_limit", { requests: 0, window_ms: 60000 });
        }
    });

    it("an injected 429 with retry_after 1 is retried for a POST too", async () => {
        await emu.control("faults", { match: { method: "POST", path_prefix: "/v1/pages", token: "connection-1" }, count: 1, fault: { status: 429, code: "rate_limited", retry_after: 1 } });
        const started = Date.now();
        const page = await conn.pages.create({ parent: { page_id: root.id }, properties: { title: { title: text("After 429") } } });
        assert.ok(Date.now() - started >= 900);
        assert.equal(page.object, "page");
        const posts = (await requestsOf("connection-1")).filter(r => r.method === "POST" && r.path === "/v1/pages");
        assert.deepEqual(posts.map(r => r.status), [429, 200]);
        const rejected = emu.client(CONNECTION_TOKEN, { retry: false });
        await emu.control("faults", { match: { path_prefix: "/v1/users" }, count: 1, fault: { status: 429, code: "rate_limited", retry_after: 7, rate_limit_reason: "public_api_request_blocked" } });
        const e = await expectApiError(rejected.users.me({}), { status: 429, code: "rate_limited" });
        assert.equal(e.headers.get("retry-after"), "7");
        assert.equal(e.additional_data.retry_after, "7");
        assert.equal(e.additional_data.rate_limit_reason, "public_api_request_blocked");
    });

    it("500 is retried for GET but not for POST; 529 is retried for POST", async () => {
        await emu.control("faults", { match: { method: "GET", path_prefix: "/v1/pages/" }, count: 1, fault: { status: 500, code: "internal_server_error" } });
        assert.equal((await conn.pages.retrieve({ page_id: root.id })).id, root.id);
        await emu.control("faults", { match: { method: "POST", path_prefix: "/v1/search" }, count: 1, fault: { status: 500, code: "internal_server_error" } });
        await expectApiError(conn.search({}), { status: 500, code: "internal_server_error" });
        await emu.control("faults", { match: { method: "POST", path_prefix: "/v1/search" }, count: 1, fault: { status: 529, code: "service_overload" } });
        assert.equal((await conn.search({})).object, "list");
        const mine = await requestsOf("connection-1");
        assert.deepEqual(mine.filter(r => r.path === `/v1/pages/${root.id}`).map(r => r.status), [500, 200]);
        assert.deepEqual(mine.filter(r => r.path === "/v1/search").map(r => r.status), [500, 529, 200]);
    });
});

describe("latency, timeouts and connection-level faults", () => {
    beforeEach(freshWorkspace);

    it("latency delays every answer; the SDK's timeoutMs gives up first", async () => {
        await emu.control("latency", { fixed_ms: 250, jitter_ms: 20 });
        try {
            const started = Date.now();
            await conn.users.me({});
            const took = Date.now() - started;
            assert.ok(took >= 240, `took ${took} ms`);
            const impatient = emu.client(CONNECTION_TOKEN, { timeoutMs: 80, retry: false });
            let error;
            await impatient.users.me({}).catch(e => (error = e));
            assert.ok(RequestTimeoutError.isRequestTimeoutError(error), String(error));
            assert.equal(error.code, "notionhq_client_request_timeout");
        } finally {
            await emu.control("latency", { fixed_ms: 0, jitter_ms: 0 });
        }
        const started = Date.now();
        await conn.users.me({});
        assert.ok(Date.now() - started < 245, "latency is off again");
    });

    it("delay_ms delays only the matching request", async () => {
        await emu.control("faults", { match: { path_prefix: "/v1/users/me" }, count: 1, fault: { delay_ms: 300 } });
        const impatient = emu.client(CONNECTION_TOKEN, { timeoutMs: 100, retry: false });
        await assert.rejects(impatient.users.me({}), e => RequestTimeoutError.isRequestTimeoutError(e));
        assert.equal((await impatient.users.me({})).type, "bot");
    });

    it("reset_connection and truncate_body fail the call without an API error; the next call works", async () => {
        for (const fault of [{ reset_connection: true }, { truncate_body: true }]) {
            await emu.control("faults", { match: { method: "GET", path_prefix: "/v1/users/me" }, count: 1, fault });
            const client = emu.client(CONNECTION_TOKEN, { retry: false });
            let error;
            await client.users.me({}).catch(e => (error = e));
            assert.ok(error, `${JSON.stringify(fault)} must fail the call`);
            assert.ok(!APIResponseError.isAPIResponseError(error), `${JSON.stringify(fault)}: not an API error (${error})`);
            assert.ok(!isNotionClientError(error) || error.name !== "APIResponseError");
            assert.equal((await client.users.me({})).type, "bot");
        }
        const log = (await requestsOf("connection-1")).filter(r => r.path === "/v1/users/me");
        assert.equal(log.length, 4, "both faulted requests were received and logged");
    });

    it("commit_then_status 503: the write is applied, the answer names committed_resource_id", async () => {
        await emu.control("faults", { match: { method: "POST", path_prefix: "/v1/pages" }, count: 1, fault: { commit_then_status: 503 } });
        const e = await expectApiError(
            conn.pages.create({ parent: { page_id: root.id }, properties: { title: { title: text("Committed") } } }),
            { status: 503, code: "service_unavailable" },
        );
        const id = e.additional_data.committed_resource_id;
        assert.match(id, /^[0-9a-f-]{36}$/);
        assert.ok(Array.isArray(e.additional_data.retry_guidance));
        const page = await conn.pages.retrieve({ page_id: id });
        assert.equal(page.properties.title.title[0].plain_text, "Committed");
        const posts = (await requestsOf("connection-1")).filter(r => r.method === "POST" && r.path === "/v1/pages");
        assert.deepEqual(posts.map(r => r.status), [503], "the SDK does not repeat a POST after 503");
        // an append: committed_resource_id is the parent block
        await emu.control("faults", { match: { method: "PATCH", path_prefix: "/v1/blocks/" }, count: 1, fault: { commit_then_status: 503 } });
        const e2 = await expectApiError(conn.blocks.children.append({ block_id: id, children: [{ paragraph: { rich_text: text("once") } }] }), {
            status: 503,
            code: "service_unavailable",
        });
        assert.equal(e2.additional_data.committed_resource_id, id);
        assert.equal((await conn.blocks.children.list({ block_id: id })).results.length, 1);
    });

    it("faults match on token and count down", async () => {
        await emu.control("faults", { match: { token: "connection-1" }, count: 2, fault: { status: 409, code: "conflict_error" } });
        assert.equal((await owner.users.me({})).type, "person", "other tokens are not matched");
        const client = emu.client(CONNECTION_TOKEN, { retry: false });
        await expectApiError(client.users.me({}), { status: 409, code: "conflict_error" });
        await expectApiError(client.search({}), { status: 409, code: "conflict_error" });
        assert.equal((await client.users.me({})).type, "bot");
    });
});

describe("request log, search lag and fixtures", () => {
    beforeEach(freshWorkspace);

    it("requests counts per connection, method, route template and status", async () => {
        await conn.pages.retrieve({ page_id: root.id });
        await conn.pages.retrieve({ page_id: root.id });
        await expectApiError(conn.pages.retrieve({ page_id: "00000000-0000-4000-8000-000000000000" }), { status: 404, code: "object_not_found" });
        await emu.client("bogus").users.me({}).catch(() => {});
        const { counters, requests } = await emu.get("requests");
        const count = (connection, method, route, status) =>
            counters.find(c => c.connection === connection && c.method === method && c.route === route && c.status === status)?.count;
        assert.equal(count("connection-1", "GET", "/v1/pages/{id}", 200), 2);
        assert.equal(count("connection-1", "GET", "/v1/pages/{id}", 404), 1);
        assert.equal(count("owner", "POST", "/v1/pages", 200), 1);
        assert.equal(count("unknown", "GET", "/v1/users/me", 401), 1);
        const last = requests.filter(r => r.connection === "connection-1").at(-1);
        assert.equal(last.path, "/v1/pages/00000000-0000-4000-8000-000000000000");
        assert.equal(last.status, 404);
        assert.ok(!Number.isNaN(Date.parse(last.at)));
    });

    it("search_lag keeps new objects out of search for a while", async () => {
        // A lag long enough that the search right after the create is within it even on a loaded
        // machine (the emulator's lag runs on the real clock, which the test cannot freeze).
        await emu.control("search_lag", { delay_ms: 2000 });
        try {
            const page = await conn.pages.create({ parent: { page_id: root.id }, properties: { title: { title: text("Laggy") } } });
            assert.equal((await conn.search({ query: "Laggy" })).results.length, 0);
            assert.equal((await conn.pages.retrieve({ page_id: page.id })).id, page.id, "retrieve sees it at once");
            await waitUntil(async () => (await conn.search({ query: "Laggy" })).results.length === 1, {
                timeoutMs: 10000,
                intervalMs: 50,
                what: "search to find the page once the lag has passed",
            });
        } finally {
            await emu.control("search_lag", { delay_ms: 0 });
        }
    });

    it("fixture loads objects into the running workspace with their shares", async () => {
        const fixture = {
            users: [{ id: "aaaaaaaa-0000-4000-8000-000000000001", name: "Grace Hopper", email: "grace@example.com" }],
            objects: [
                {
                    object: "page",
                    id: "aaaaaaaa-0000-4000-8000-000000000010",
                    parent: { type: "workspace", workspace: true },
                    created_time: "2025-12-24T18:30:00.000Z",
                    properties: { title: { title: [{ text: { content: "From fixture" } }] } },
                    children: [{ paragraph: { rich_text: [{ text: { content: "fixture body" } }] } }],
                },
            ],
            shares: { "connection-1": ["aaaaaaaa-0000-4000-8000-000000000010"] },
        };
        await emu.control("fixture", fixture);
        const page = await conn.pages.retrieve({ page_id: "aaaaaaaa-0000-4000-8000-000000000010" });
        assert.equal(page.created_time, "2025-12-24T18:30:00.000Z");
        const kids = await conn.blocks.children.list({ block_id: page.id });
        assert.equal(kids.results[0].paragraph.rich_text[0].plain_text, "fixture body");
        assert.equal((await conn.users.retrieve({ user_id: "aaaaaaaa-0000-4000-8000-000000000001" })).name, "Grace Hopper");
    });
});
