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

    // FINDINGS.md #5 (fixed): notion-api.md §1.3, "relation property values come back empty".
    it("returns no values of a relation into an unshared data source (FINDINGS.md #5)", async () => {
        const page = await conn.pages.retrieve({ page_id: rel.row });
        assert.deepEqual(page.properties.Secret.relation, []);
        assert.equal(page.properties.Secret.has_more, false);
        const query = await conn.dataSources.query({ data_source_id: rel.ds });
        assert.deepEqual(query.results[0].properties.Secret, page.properties.Secret);
        const secretId = page.properties.Secret.id;
        const items = await conn.pages.properties.retrieve({ page_id: rel.row, property_id: secretId });
        assert.deepEqual([items.results, items.has_more, items.next_cursor], [[], false, null]);
        // a filter sees the same empty value
        const linked = await conn.dataSources.query({ data_source_id: rel.ds, filter: { property: "Secret", relation: { contains: rel.secretRow } } });
        assert.equal(linked.results.length, 0);
        const empty = await conn.dataSources.query({ data_source_id: rel.ds, filter: { property: "Secret", relation: { is_empty: true } } });
        assert.deepEqual(empty.results.map(r => r.id), [rel.row]);
        // the owner still sees the link
        assert.deepEqual((await owner.pages.retrieve({ page_id: rel.row })).properties.Secret.relation, [{ id: rel.secretRow }]);
    });

    it("counts only the visible relation values: has_more, property items, rollups (FINDINGS.md #5)", async () => {
        const hidden = [];
        for (let i = 0; i < 28; i++) {
            hidden.push((await owner.pages.create({ parent: { data_source_id: ids.secretDs }, properties: { Name: { title: text(`hidden ${i}`) } } })).id);
        }
        const db = await owner.databases.create({
            parent: { page_id: ids.shared },
            title: text("Many links"),
            initial_data_source: {
                properties: {
                    Name: { title: {} },
                    Secret: { relation: { data_source_id: ids.secretDs, type: "single_property", single_property: {} } },
                    Count: { rollup: { relation_property_name: "Secret", rollup_property_name: "Name", function: "count" } },
                },
            },
        });
        const row = await owner.pages.create({
            parent: { data_source_id: db.data_sources[0].id },
            properties: { Name: { title: text("many") }, Secret: { relation: hidden.map(id => ({ id })) } },
        });
        const ownerView = (await owner.pages.retrieve({ page_id: row.id })).properties;
        assert.equal(ownerView.Secret.relation.length, 25);
        assert.equal(ownerView.Secret.has_more, true);
        assert.equal(ownerView.Count.rollup.number, 25);
        // two of the hidden rows are shared on their own: the connection sees those two only
        await emu.control("share", { token: "connection-1", object_id: hidden[5] });
        await emu.control("share", { token: "connection-1", object_id: hidden[26] });
        try {
            const seen = (await conn.pages.retrieve({ page_id: row.id })).properties;
            assert.deepEqual(seen.Secret.relation, [{ id: hidden[5] }, { id: hidden[26] }]);
            assert.equal(seen.Secret.has_more, false);
            assert.equal(seen.Count.rollup.number, 2);
            const items = await conn.pages.properties.retrieve({ page_id: row.id, property_id: seen.Secret.id, page_size: 1 });
            assert.equal(items.results.length, 1);
            assert.equal(items.has_more, true);
            const rest = await conn.pages.properties.retrieve({ page_id: row.id, property_id: seen.Secret.id, start_cursor: items.next_cursor });
            assert.deepEqual([...items.results, ...rest.results].map(r => r.relation.id), [hidden[5], hidden[26]]);
            assert.equal(rest.has_more, false);
            // a write replaces what the connection sees and keeps what it cannot see
            await conn.pages.update({ page_id: row.id, properties: { Secret: { relation: [{ id: hidden[26] }] } } });
            assert.deepEqual((await conn.pages.retrieve({ page_id: row.id })).properties.Secret.relation, [{ id: hidden[26] }]);
            const all = await owner.pages.properties.retrieve({ page_id: row.id, property_id: seen.Secret.id });
            assert.deepEqual(all.results.map(r => r.relation.id).sort(), hidden.filter(id => id !== hidden[5]).sort());
        } finally {
            await emu.control("unshare", { token: "connection-1", object_id: hidden[5] });
            await emu.control("unshare", { token: "connection-1", object_id: hidden[26] });
        }
        // unshared again: nothing
        const after = (await conn.pages.retrieve({ page_id: row.id })).properties;
        assert.deepEqual([after.Secret.relation, after.Count.rollup.number], [[], 0]);
    });

    // FINDINGS.md #4 (fixed): a page the connection cannot see is 404 object_not_found, as a
    // retrieve would be; a visible page of another data source is 400 validation_error.
    it("refuses relation values the connection cannot see or outside the related data source (FINDINGS.md #4)", async () => {
        const create = to => conn.pages.create({ parent: { data_source_id: rel.sourcesDs }, properties: { Name: { title: text("bad link") }, To: { relation: [{ id: to }] } } });
        const unseen = await expectApiError(create(rel.secretRow), { status: 404, code: "object_not_found" });
        assert.match(unseen.message, new RegExp(rel.secretRow));
        await expectApiError(create("11111111-2222-4333-8444-555555555555"), { status: 404, code: "object_not_found" });
        const elsewhere = await expectApiError(create(rel.row), { status: 400, code: "validation_error" });
        assert.match(elsewhere.message, new RegExp(rel.row));
        assert.match(elsewhere.message, /To/);
        // the same on update
        const ok = await conn.pages.create({ parent: { data_source_id: rel.sourcesDs }, properties: { Name: { title: text("no link") } } });
        await expectApiError(conn.pages.update({ page_id: ok.id, properties: { To: { relation: [{ id: rel.secretRow }] } } }), {
            status: 404,
            code: "object_not_found",
        });
        // nothing was created but the page without a link
        const rows = await owner.dataSources.query({ data_source_id: rel.sourcesDs });
        assert.deepEqual(rows.results.map(r => r.id), [ok.id]);
        await owner.pages.update({ page_id: ok.id, in_trash: true });
    });

    // FINDINGS.md #3 (fixed): a page create is validated completely before anything changes.
    it("leaves no trace of a page create that failed (FINDINGS.md #3)", async () => {
        const backLink = async () => Object.values((await conn.pages.retrieve({ page_id: rel.target })).properties).find(p => p.type === "relation");
        const before = await backLink();
        for (const children of [
            [{ paragraph: { rich_text: text("fine") } }, { type: "not_a_block", not_a_block: {} }],
            [{ toggle: { rich_text: text("fine"), children: [{ paragraph: { rich_text: "not an array" } }] } }],
        ]) {
            await expectApiError(
                conn.pages.create({ parent: { data_source_id: rel.sourcesDs }, properties: { Name: { title: text("doomed") }, To: { relation: [{ id: rel.target }] } }, children }),
                { status: 400, code: "validation_error" },
            );
        }
        assert.deepEqual(await backLink(), before);
        const rows = await owner.dataSources.query({ data_source_id: rel.sourcesDs });
        assert.ok(!rows.results.some(r => r.properties.Name.title[0]?.plain_text === "doomed"));
        // the same for an append whose nested block is bad: not even the first level is added
        const listed = async () => (await conn.blocks.children.list({ block_id: ids.shared })).results.map(b => b.id);
        const blocksBefore = await listed();
        await expectApiError(
            conn.blocks.children.append({ block_id: ids.shared, children: [{ toggle: { rich_text: text("t"), children: [{ paragraph: { rich_text: 7 } }] } }] }),
            { status: 400, code: "validation_error" },
        );
        assert.deepEqual(await listed(), blocksBefore);
    });
});
