// Notion-Version differences (2022-06-28, 2025-09-03, 2026-03-11, missing, unknown), seen through
// the SDK's notionVersion option (raw fetch only where the SDK cannot send the request).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { APIResponseError, UnknownHTTPResponseError } from "@notionhq/client";
import {
    CONNECTION_TOKEN,
    OWNER_TOKEN,
    V_LEGACY,
    V_NEW,
    V_OLD,
    expectApiError,
    startEmulator,
    text,
} from "./lib/harness.js";

let emu;
let neu; // 2026-03-11
let old; // 2025-09-03
let legacy; // 2022-06-28
const ids = {};

before(async () => {
    emu = await startEmulator();
    const owner = emu.client(OWNER_TOKEN);
    const root = await owner.pages.create({ parent: { workspace: true }, properties: { title: { title: text("Versions") } } });
    ids.root = root.id;
    const db = await owner.databases.create({
        parent: { page_id: ids.root },
        title: text("Items"),
        initial_data_source: { properties: { Name: { title: {} }, Count: { number: {} } } },
    });
    ids.db = db.id;
    ids.ds = db.data_sources[0].id;
    const row = await owner.pages.create({
        parent: { data_source_id: ids.ds },
        properties: { Name: { title: text("Row") }, Count: { number: 1 } },
        children: [{ paragraph: { rich_text: text("para") } }],
    });
    ids.row = row.id;
    await emu.control("share", { token: "connection-1", object_id: ids.root });
    neu = emu.client(CONNECTION_TOKEN, { version: V_NEW });
    old = emu.client(CONNECTION_TOKEN, { version: V_OLD });
    legacy = emu.client(CONNECTION_TOKEN, { version: V_LEGACY });
});

after(async () => {
    await emu?.stop();
});

describe("archived vs in_trash", () => {
    it("`archived` appears only before 2026-03-11", async () => {
        const n = await neu.pages.retrieve({ page_id: ids.row });
        assert.ok(!("archived" in n));
        assert.equal(n.in_trash, false);
        const o = await old.pages.retrieve({ page_id: ids.row });
        assert.equal(o.archived, false);
        assert.equal(o.in_trash, false);
        const ds = await old.dataSources.retrieve({ data_source_id: ids.ds });
        assert.equal(ds.archived, false);
        assert.ok(!("archived" in (await neu.dataSources.retrieve({ data_source_id: ids.ds }))));
        const db = await old.databases.retrieve({ database_id: ids.db });
        assert.equal(db.archived, false);
        const blocks = await old.blocks.children.list({ block_id: ids.row });
        assert.equal(blocks.results[0].archived, false);
        const q = await neu.dataSources.query({ data_source_id: ids.ds });
        assert.ok(!("archived" in q.results[0]));
    });

    it("2025-09-03 accepts `archived` as an alias of in_trash", async () => {
        const p = await old.pages.create({ parent: { page_id: ids.root }, properties: { title: { title: text("old-trash") } } });
        const trashed = await old.pages.update({ page_id: p.id, archived: true });
        assert.equal(trashed.archived, true);
        assert.equal(trashed.in_trash, true);
        const seen = await neu.pages.retrieve({ page_id: p.id });
        assert.equal(seen.in_trash, true);
        const back = await old.pages.update({ page_id: p.id, archived: false });
        assert.equal(back.in_trash, false);
    });

    it("2026-03-11 refuses `archived` in page, block, database and data source requests", async () => {
        const p = await neu.pages.create({ parent: { page_id: ids.root }, properties: { title: { title: text("new-trash") } } });
        await expectApiError(neu.pages.update({ page_id: p.id, archived: true }), { status: 400, code: "validation_error" });
        const { results } = await neu.blocks.children.list({ block_id: ids.row });
        await expectApiError(neu.blocks.update({ block_id: results[0].id, archived: true }), { status: 400, code: "validation_error" });
        await expectApiError(neu.dataSources.update({ data_source_id: ids.ds, archived: false }), { status: 400, code: "validation_error" });
        await expectApiError(neu.request({ path: `databases/${ids.db}`, method: "patch", body: { archived: false } }), {
            status: 400,
            code: "validation_error",
        });
        assert.equal((await neu.pages.retrieve({ page_id: p.id })).in_trash, false);
    });

    // FINDINGS.md #1 (fixed): pages and databases updated as blocks follow the same rules.
    it("2026-03-11 refuses `archived` when a page or database is updated as a block (FINDINGS.md #1)", async () => {
        const p = await neu.pages.create({ parent: { page_id: ids.root }, properties: { title: { title: text("page-as-block") } } });
        await expectApiError(neu.blocks.update({ block_id: p.id, archived: true }), { status: 400, code: "validation_error", message: /archived/ });
        assert.equal((await neu.pages.retrieve({ page_id: p.id })).in_trash, false);
        await expectApiError(neu.blocks.update({ block_id: ids.db, archived: true }), { status: 400, code: "validation_error", message: /archived/ });
        assert.equal((await neu.databases.retrieve({ database_id: ids.db })).in_trash, false);
        // in_trash works in both versions, archived as its alias in 2025-09-03
        assert.equal((await neu.blocks.update({ block_id: p.id, in_trash: true })).in_trash, true);
        assert.equal((await neu.pages.retrieve({ page_id: p.id })).in_trash, true);
        const restored = await old.blocks.update({ block_id: p.id, archived: false });
        assert.deepEqual([restored.type, restored.in_trash, restored.archived], ["child_page", false, false]);
        assert.equal((await neu.pages.retrieve({ page_id: p.id })).in_trash, false);
    });

    it("a page or database updated as a block takes nothing but in_trash (the field is named)", async () => {
        const p = await neu.pages.create({ parent: { page_id: ids.root }, properties: { title: { title: text("only trash") } } });
        await expectApiError(neu.blocks.update({ block_id: p.id, paragraph: { rich_text: text("x") } }), { status: 400, code: "validation_error", message: /paragraph/ });
        // (blocks.update drops child_page / child_database from the body: sent with request())
        const patch = (client, id, body) => client.request({ path: `blocks/${id}`, method: "patch", body });
        await expectApiError(patch(old, p.id, { in_trash: true, child_page: { title: "renamed" } }), { status: 400, code: "validation_error", message: /child_page/ });
        await expectApiError(patch(neu, ids.db, { child_database: { title: "renamed" } }), { status: 400, code: "validation_error", message: /child_database/ });
        const page = await neu.pages.retrieve({ page_id: p.id });
        assert.equal(page.in_trash, false, "a refused request trashes nothing");
        assert.equal(page.properties.title.title[0].plain_text, "only trash");
        assert.equal((await neu.databases.retrieve({ database_id: ids.db })).title[0].plain_text, "Items");
    });
});

describe("block append position", () => {
    it("2026-03-11 takes position and refuses after; 2025-09-03 the reverse", async () => {
        const { results } = await neu.blocks.children.list({ block_id: ids.row });
        const first = results[0].id;
        const child = [{ paragraph: { rich_text: text("x") } }];
        await expectApiError(neu.blocks.children.append({ block_id: ids.row, children: child, after: first }), { status: 400, code: "validation_error" });
        await expectApiError(old.blocks.children.append({ block_id: ids.row, children: child, position: { type: "end" } }), { status: 400, code: "validation_error" });
        const a = await old.blocks.children.append({ block_id: ids.row, children: [{ paragraph: { rich_text: text("old after") } }], after: first });
        const b = await neu.blocks.children.append({
            block_id: ids.row,
            children: [{ paragraph: { rich_text: text("new after") } }],
            position: { type: "after_block", after_block: { id: first } },
        });
        const list = await neu.blocks.children.list({ block_id: ids.row });
        assert.deepEqual(list.results.map(r => r.id), [first, b.results[0].id, a.results[0].id]);
    });
});

describe("2022-06-28", () => {
    it("data source paths are 400 invalid_request_url", async () => {
        await expectApiError(legacy.dataSources.retrieve({ data_source_id: ids.ds }), { status: 400, code: "invalid_request_url", message: /Invalid request URL/ });
        await expectApiError(legacy.dataSources.query({ data_source_id: ids.ds }), { status: 400, code: "invalid_request_url" });
        await expectApiError(legacy.dataSources.update({ data_source_id: ids.ds, title: text("x") }), { status: 400, code: "invalid_request_url" });
        await expectApiError(legacy.pages.create({ parent: { type: "data_source_id", data_source_id: ids.ds }, properties: {} }), {
            status: 400,
            code: "invalid_request_url",
        });
    });

    it("databases carry the schema, rows a database_id parent; database query is unsupported", async () => {
        const db = await legacy.databases.retrieve({ database_id: ids.db });
        assert.equal(db.object, "database");
        assert.ok(!("data_sources" in db));
        assert.equal(db.properties.Count.type, "number");
        assert.equal(db.archived, false);
        const row = await legacy.pages.retrieve({ page_id: ids.row });
        assert.deepEqual(row.parent, { type: "database_id", database_id: ids.db });
        const search = await legacy.search({ filter: { property: "object", value: "database" } });
        assert.equal(search.type, "page_or_database");
        assert.deepEqual(search.results.map(r => [r.object, r.id]), [["database", ids.db]]);
        await expectApiError(legacy.request({ path: `databases/${ids.db}/query`, method: "post", body: {} }), { status: 400, code: "invalid_request" });
        // and the other way round: the legacy query path does not exist in newer versions
        await expectApiError(neu.request({ path: `databases/${ids.db}/query`, method: "post", body: {} }), { status: 400, code: "invalid_request_url" });
        await expectApiError(neu.search({ filter: { property: "object", value: "database" } }), { status: 400, code: "validation_error" });
    });
});

describe("missing and unknown versions", () => {
    it("an unknown Notion-Version is 400 validation_error", async () => {
        const weird = emu.client(CONNECTION_TOKEN, { version: "2024-01-01" });
        await expectApiError(weird.users.me({}), { status: 400, code: "validation_error", message: /2026-03-11/ });
    });

    it("a missing Notion-Version is 400 missing_version (raw fetch; the SDK always sends one)", async () => {
        const res = await fetch(`${emu.baseUrl}/v1/users/me`, { headers: { authorization: `Bearer ${CONNECTION_TOKEN}` } });
        assert.equal(res.status, 400);
        const body = await res.json();
        assert.equal(body.object, "error");
        assert.equal(body.code, "missing_version");
        assert.match(body.message, /Notion-Version header should be defined/);
        assert.equal(typeof body.request_id, "string");
    });

    it("an empty SDK notionVersion reaches the emulator as missing; the SDK has no enum value for it", async () => {
        const empty = emu.client(CONNECTION_TOKEN, { version: "" });
        let error;
        try {
            await empty.users.me({});
        } catch (e) {
            error = e;
        }
        assert.ok(UnknownHTTPResponseError.isUnknownHTTPResponseError(error), "missing_version is not in APIErrorCode");
        assert.ok(!APIResponseError.isAPIResponseError(error));
        assert.equal(error.status, 400);
        assert.equal(JSON.parse(error.body).code, "missing_version");
    });
});
