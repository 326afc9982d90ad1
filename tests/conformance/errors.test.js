// Every error code with its HTTP status and the SDK's APIResponseError.code: real ones (sharing,
// tokens, validation, URLs, JSON, rate limits) and the rest through injected faults.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { APIErrorCode, Client, LogLevel, UnknownHTTPResponseError } from "@notionhq/client";
import { CONNECTION_TOKEN, OWNER_TOKEN, V_NEW, expectApiError, startEmulator, text } from "./lib/harness.js";

let emu;
let owner;
let conn;
let noRetry;
const ids = {};

before(async () => {
    emu = await startEmulator();
    owner = emu.client(OWNER_TOKEN);
    conn = emu.client(CONNECTION_TOKEN);
    noRetry = emu.client(CONNECTION_TOKEN, { retry: false });
    const shared = await owner.pages.create({ parent: { workspace: true }, properties: { title: { title: text("Shared") } } });
    const secret = await owner.pages.create({
        parent: { workspace: true },
        properties: { title: { title: text("Secret") } },
        children: [{ paragraph: { rich_text: text("hidden") } }],
    });
    const db = await owner.databases.create({
        parent: { page_id: secret.id },
        title: text("Secret DB"),
        initial_data_source: { properties: { Name: { title: {} } } },
    });
    const block = (await owner.blocks.children.list({ block_id: secret.id })).results[0];
    Object.assign(ids, { shared: shared.id, secret: secret.id, secretDb: db.id, secretDs: db.data_sources[0].id, secretBlock: block.id });
    await emu.control("share", { token: CONNECTION_TOKEN, object_id: ids.shared });
});

after(async () => {
    await emu?.stop();
});

describe("401 unauthorized", () => {
    it("an unknown token gets 401 unauthorized on every endpoint", async () => {
        const stranger = emu.client("not-a-token");
        const calls = [
            () => stranger.users.me({}),
            () => stranger.users.list({}),
            () => stranger.search({}),
            () => stranger.pages.retrieve({ page_id: ids.shared }),
            () => stranger.blocks.children.list({ block_id: ids.shared }),
            () => stranger.dataSources.query({ data_source_id: ids.secretDs }),
            () => stranger.pages.create({ parent: { page_id: ids.shared }, properties: {} }),
        ];
        for (const call of calls) {
            await expectApiError(call(), { status: 401, code: APIErrorCode.Unauthorized, message: /API token is invalid/ });
        }
    });

    it("a missing Authorization header is 401 too (raw fetch)", async () => {
        const res = await fetch(`${emu.baseUrl}/v1/users/me`, { headers: { "Notion-Version": V_NEW } });
        assert.equal(res.status, 401);
        assert.equal((await res.json()).code, "unauthorized");
    });
});

describe("404 object_not_found for unshared objects", () => {
    it("pages, databases, data sources and blocks not shared are invisible", async () => {
        const shareHint = /Make sure the relevant pages and databases are shared with your integration/;
        const e = await expectApiError(conn.pages.retrieve({ page_id: ids.secret }), { status: 404, code: "object_not_found", message: shareHint });
        assert.match(e.message, new RegExp(ids.secret));
        await expectApiError(conn.databases.retrieve({ database_id: ids.secretDb }), { status: 404, code: "object_not_found", message: shareHint });
        await expectApiError(conn.dataSources.retrieve({ data_source_id: ids.secretDs }), { status: 404, code: "object_not_found" });
        await expectApiError(conn.dataSources.query({ data_source_id: ids.secretDs }), { status: 404, code: "object_not_found" });
        await expectApiError(conn.blocks.retrieve({ block_id: ids.secretBlock }), { status: 404, code: "object_not_found" });
        await expectApiError(conn.blocks.children.list({ block_id: ids.secret }), { status: 404, code: "object_not_found" });
        await expectApiError(conn.pages.properties.retrieve({ page_id: ids.secret, property_id: "title" }), { status: 404, code: "object_not_found" });
        await expectApiError(conn.pages.update({ page_id: ids.secret, in_trash: true }), { status: 404, code: "object_not_found" });
        await expectApiError(conn.blocks.delete({ block_id: ids.secretBlock }), { status: 404, code: "object_not_found" });
        await expectApiError(conn.pages.create({ parent: { page_id: ids.secret }, properties: { title: { title: text("x") } } }), {
            status: 404,
            code: "object_not_found",
        });
        const search = await conn.search({ query: "Secret" });
        assert.equal(search.results.length, 0);
        // the owner sees it all
        assert.equal((await owner.pages.retrieve({ page_id: ids.secret })).id, ids.secret);
    });

    it("a well-formed id that never existed is 404 as well", async () => {
        await expectApiError(owner.pages.retrieve({ page_id: "11111111-2222-4333-8444-555555555555" }), { status: 404, code: "object_not_found" });
        await expectApiError(owner.blocks.retrieve({ block_id: "111111112222433384445555555555aa" }), { status: 404, code: "object_not_found" });
    });

    it("sharing and unsharing switch visibility (descendants included)", async () => {
        await emu.control("share", { token: "connection-1", object_id: ids.secret });
        assert.equal((await conn.dataSources.retrieve({ data_source_id: ids.secretDs })).id, ids.secretDs);
        assert.equal((await conn.blocks.retrieve({ block_id: ids.secretBlock })).id, ids.secretBlock);
        await emu.control("unshare", { token: CONNECTION_TOKEN, object_id: ids.secret });
        await expectApiError(conn.dataSources.retrieve({ data_source_id: ids.secretDs }), { status: 404, code: "object_not_found" });
    });
});

describe("400 errors", () => {
    it("validation_error: bad ids, bad sizes, bad values (message names the field)", async () => {
        await expectApiError(conn.pages.retrieve({ page_id: "not-a-uuid" }), { status: 400, code: APIErrorCode.ValidationError, message: /page_id/ });
        await expectApiError(conn.users.list({ page_size: 0 }), { status: 400, code: "validation_error", message: /page_size/ });
        await expectApiError(conn.search({ page_size: 500 }), { status: 400, code: "validation_error", message: /page_size/ });
        await expectApiError(conn.search({ filter: { property: "object", value: "block" } }), { status: 400, code: "validation_error" });
        await expectApiError(conn.pages.create({ parent: { page_id: ids.shared }, properties: { title: { title: text("x".repeat(2001)) } } }), {
            status: 400,
            code: "validation_error",
            message: /2000/,
        });
        await expectApiError(conn.pages.create({ properties: {} }), { status: 400, code: "validation_error", message: /parent/ });
        // bodies over 500 KB (raw fetch: a single rich text item that large is refused anyway)
        const body = JSON.stringify({ children: [{ paragraph: { rich_text: text("z".repeat(600 * 1024)) } }] });
        const res = await fetch(`${emu.baseUrl}/v1/blocks/${ids.shared}/children`, {
            method: "PATCH",
            headers: { authorization: `Bearer ${CONNECTION_TOKEN}`, "Notion-Version": V_NEW, "content-type": "application/json" },
            body,
        });
        assert.equal(res.status, 400);
        assert.equal((await res.json()).code, "validation_error");
    });

    it("invalid_json: a body that is not JSON (raw fetch)", async () => {
        const res = await fetch(`${emu.baseUrl}/v1/search`, {
            method: "POST",
            headers: { authorization: `Bearer ${CONNECTION_TOKEN}`, "Notion-Version": V_NEW, "content-type": "application/json" },
            body: "{not json",
        });
        assert.equal(res.status, 400);
        const body = await res.json();
        assert.deepEqual([body.object, body.status, body.code, body.message], ["error", 400, "invalid_json", "Error parsing JSON body."]);
        // the same through the SDK, whose request body is corrupted on the way by a custom fetch
        const corrupting = new Client({
            auth: CONNECTION_TOKEN,
            baseUrl: emu.baseUrl,
            notionVersion: V_NEW,
            logLevel: LogLevel.ERROR,
            retry: false,
            fetch: (url, init) => fetch(url, { ...init, body: "{not json" }),
        });
        await expectApiError(corrupting.search({ query: "x" }), { status: 400, code: APIErrorCode.InvalidJSON, message: /Error parsing JSON body/ });
    });

    it("invalid_request_url: unknown paths and methods", async () => {
        await expectApiError(conn.request({ path: "nope", method: "get" }), { status: 400, code: APIErrorCode.InvalidRequestURL, message: /Invalid request URL/ });
        await expectApiError(conn.request({ path: `pages/${ids.shared}`, method: "delete" }), { status: 400, code: "invalid_request_url" });
        await expectApiError(conn.request({ path: "comments", method: "get", query: { block_id: ids.shared } }), { status: 400, code: "invalid_request_url" });
    });
});

describe("injected faults map onto the SDK's error codes", () => {
    const cases = [
        [403, "restricted_resource", APIErrorCode.RestrictedResource],
        [409, "conflict_error", APIErrorCode.ConflictError],
        [429, "rate_limited", APIErrorCode.RateLimited],
        [500, "internal_server_error", APIErrorCode.InternalServerError],
        [503, "service_unavailable", APIErrorCode.ServiceUnavailable],
        [504, "gateway_timeout", APIErrorCode.GatewayTimeout],
        [529, "service_overload", APIErrorCode.ServiceOverload],
    ];
    for (const [status, code, sdkCode] of cases) {
        it(`${status} ${code}`, async () => {
            await emu.control("faults", { match: { path_prefix: "/v1/users/me" }, count: 1, fault: { status, code } });
            const e = await expectApiError(noRetry.users.me({}), { status, code: sdkCode });
            assert.ok(e.body.includes(code));
            assert.equal((await noRetry.users.me({})).type, "bot", "the fault is used up");
        });
    }

    it("codes the SDK does not know (502 bad_gateway, 503 database_connection_unavailable) are UnknownHTTPResponseError", async () => {
        for (const [status, code] of [[502, "bad_gateway"], [503, "database_connection_unavailable"]]) {
            await emu.control("faults", { match: { method: "GET", path_prefix: "/v1/users" }, count: 1, fault: { status, code } });
            let error;
            await noRetry.users.list({}).catch(e => (error = e));
            assert.ok(UnknownHTTPResponseError.isUnknownHTTPResponseError(error), `${code}: ${error}`);
            assert.equal(error.status, status);
            assert.equal(JSON.parse(error.body).code, code);
        }
    });

    it("429 rate_limited from the real budget carries Retry-After and additional_data", async () => {
        await emu.control("rate_limit", { requests: 2, window_ms: 60000 });
        try {
            await noRetry.users.me({});
            await noRetry.users.me({});
            const e = await expectApiError(noRetry.users.me({}), { status: 429, code: "rate_limited" });
            const retryAfter = Number(e.headers.get("retry-after"));
            assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
            assert.equal(e.additional_data.rate_limit_reason, "public_api_request_rate_limit");
            assert.equal(e.additional_data.retry_after, String(retryAfter));
            // rejected requests do not count, other connections have their own budget
            await expectApiError(noRetry.users.me({}), { status: 429, code: "rate_limited" });
            assert.equal((await owner.users.me({})).type, "person");
            // the workspace pool
            await emu.control("rate_limit", { requests: 0, window_ms: 60000, workspace_requests: 1 });
            await owner.users.me({});
            const space = await expectApiError(noRetry.users.me({}), { status: 429, code: "rate_limited" });
            assert.equal(space.additional_data.rate_limit_reason, "public_api_space_request_rate_limit");
        } finally {
            await emu.control("rate_limit", { requests: 0, window_ms: 60000, workspace_requests: 0 });
        }
    });
});

describe("relations across the sharing boundary", () => {
    const rel = {};
    before(async () => {
        // A shared data source whose relation points into a data source under the unshared page.
        const secretRow = await owner.pages.create({ parent: { data_source_id: ids.secretDs }, properties: { Name: { title: text("secret row") } } });
        const db = await owner.databases.create({
            parent: { page_id: ids.shared },
            title: text("Links"),
            initial_data_source: {
                properties: { Name: { title: {} }, Secret: { relation: { data_source_id: ids.secretDs, type: "single_property", single_property: {} } } },
            },
        });
        const row = await owner.pages.create({
            parent: { data_source_id: db.data_sources[0].id },
            properties: { Name: { title: text("linked") }, Secret: { relation: [{ id: secretRow.id }] } },
        });
        // And a visible pair of data sources with a dual relation.
        const targets = await owner.databases.create({ parent: { page_id: ids.shared }, title: text("Targets"), initial_data_source: { properties: { Name: { title: {} } } } });
        const target = await owner.pages.create({ parent: { data_source_id: targets.data_sources[0].id }, properties: { Name: { title: text("target") } } });
        const sources = await owner.databases.create({
            parent: { page_id: ids.shared },
            title: text("Sources"),
            initial_data_source: {
                properties: { Name: { title: {} }, To: { relation: { data_source_id: targets.data_sources[0].id, type: "dual_property", dual_property: {} } } },
            },
        });
        Object.assign(rel, { secretRow: secretRow.id, ds: db.data_sources[0].id, row: row.id, target: target.id, sourcesDs: sources.data_sources[0].id });
    });

    it("omits a relation into an unshared data source from the schema", async () => {
        const ds = await conn.dataSources.retrieve({ data_source_id: rel.ds });
        assert.deepEqual(Object.keys(ds.properties), ["Name"]);
        const ownerView = await owner.dataSources.retrieve({ data_source_id: rel.ds });
        assert.equal(ownerView.properties.Secret.type, "relation");
    });

    // FINDINGS.md #5: page objects and property items still show the unshared pages' ids.
    it.todo("returns no values of a relation into an unshared data source (FINDINGS.md #5)", async () => {
        const page = await conn.pages.retrieve({ page_id: rel.row });
        const values = page.properties.Secret?.relation ?? [];
        assert.deepEqual(values, []);
        const query = await conn.dataSources.query({ data_source_id: rel.ds });
        assert.deepEqual(query.results[0].properties.Secret?.relation ?? [], []);
    });

    // FINDINGS.md #4: relation values are only checked for existence.
    it.todo("refuses relation values the connection cannot see or outside the related data source (FINDINGS.md #4)", async () => {
        let error;
        await conn.pages
            .create({ parent: { data_source_id: rel.sourcesDs }, properties: { Name: { title: text("bad link") }, To: { relation: [{ id: rel.secretRow }] } } })
            .catch(e => (error = e));
        assert.ok(error && [400, 404].includes(error.status), "a page the connection cannot see, from another data source, is refused");
    });

    // FINDINGS.md #3: a page create that fails validation still writes the dual relation's back-link.
    it.todo("leaves no trace of a page create that failed (FINDINGS.md #3)", async () => {
        await expectApiError(
            conn.pages.create({
                parent: { data_source_id: rel.sourcesDs },
                properties: { Name: { title: text("doomed") }, To: { relation: [{ id: rel.target }] } },
                children: [{ type: "not_a_block", not_a_block: {} }],
            }),
            { status: 400, code: "validation_error" },
        );
        const target = await conn.pages.retrieve({ page_id: rel.target });
        const back = Object.values(target.properties).find(p => p.type === "relation");
        assert.deepEqual(back.relation, []);
    });
});
