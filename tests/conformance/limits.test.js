// The 10,000-result cap of data source queries: 10,010 rows loaded through /__emulator/fixture,
// then paged through with the SDK until has_more is false.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CONNECTION_TOKEN, startEmulator } from "./lib/harness.js";

const ROWS = 10010;
const ROOT = "bbbbbbbb-0000-4000-8000-000000000000";
const DB = "bbbbbbbb-0000-4000-8000-000000000001";
const DS = "bbbbbbbb-0000-4000-8000-000000000002";
let emu;
let conn;

before(async () => {
    emu = await startEmulator();
    await emu.control("rate_limit", { requests: 0 });
    const objects = [
        { object: "page", id: ROOT, parent: { type: "workspace", workspace: true }, properties: { title: { title: [{ text: { content: "Cap" } }] } } },
        {
            object: "database",
            id: DB,
            parent: { type: "page_id", page_id: ROOT },
            title: [{ text: { content: "Big" } }],
            data_sources: [{ id: DS, title: [{ text: { content: "Big" } }], properties: { Name: { title: {} } } }],
        },
    ];
    for (let i = 0; i < ROWS; ++i) {
        objects.push({ object: "page", id: `cccccccc-0000-4000-8000-${String(i).padStart(12, "0")}`, parent: { type: "data_source_id", data_source_id: DS }, properties: {} });
    }
    await emu.control("fixture", { objects, shares: { "connection-1": [ROOT] } });
    conn = emu.client(CONNECTION_TOKEN);
});

after(async () => {
    await emu?.stop();
});

describe("query result limit", () => {
    it("stops at 10,000 results with request_status incomplete on every page", async () => {
        let cursor;
        let count = 0;
        let last;
        const seen = new Set();
        do {
            last = await conn.dataSources.query({ data_source_id: DS, start_cursor: cursor, page_size: 100 });
            assert.deepEqual(last.request_status, { type: "incomplete", incomplete_reason: "query_result_limit_reached" });
            for (const r of last.results) seen.add(r.id);
            count += last.results.length;
            cursor = last.next_cursor ?? undefined;
        } while (cursor);
        assert.equal(count, 10000);
        assert.equal(seen.size, 10000);
        assert.equal(last.has_more, false);
        assert.equal(last.next_cursor, null);
    });

    it("a query under the cap has no request_status", async () => {
        const res = await conn.dataSources.query({
            data_source_id: DS,
            page_size: 5,
            filter: { timestamp: "created_time", created_time: { before: "2000-01-01T00:00:00Z" } },
        });
        assert.equal(res.results.length, 0);
        assert.ok(!("request_status" in res));
    });
});
