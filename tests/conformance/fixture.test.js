// The sample workspace ($SAMPLE_FIXTURE) loaded with --fixture: what connection-1 sees, and
// Notion-hosted files whose signed URLs change on every read.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { collectPaginatedAPI } from "@notionhq/client";
import { CONNECTION_TOKEN, OWNER_TOKEN, expectApiError, sampleFixture, startEmulator } from "./lib/harness.js";

let emu;
let conn;
let owner;
let fixture;

before(async () => {
    fixture = JSON.parse(readFileSync(sampleFixture(), "utf8"));
    emu = await startEmulator({ fixture: sampleFixture() });
    conn = emu.client(CONNECTION_TOKEN);
    owner = emu.client(OWNER_TOKEN);
});

after(async () => {
    await emu?.stop();
});

describe("sample fixture", () => {
    it("shows connection-1 its data sources and about 200 pages", async () => {
        const sources = await collectPaginatedAPI(conn.search, { filter: { property: "object", value: "data_source" } });
        assert.ok(sources.length >= 1, "data sources are visible");
        const pages = await collectPaginatedAPI(conn.search, { filter: { property: "object", value: "page" } });
        assert.ok(pages.length >= 180 && pages.length <= 220, `${pages.length} pages`);
        // every data source's rows are reachable by query, and agree with search
        let rows = 0;
        for (const ds of sources) {
            const full = await conn.dataSources.retrieve({ data_source_id: ds.id });
            assert.ok(Object.keys(full.properties).length > 1);
            rows += (await collectPaginatedAPI(conn.dataSources.query, { data_source_id: ds.id })).length;
        }
        const searchRows = pages.filter(p => p.parent.type === "data_source_id").length;
        assert.equal(rows, searchRows);
        assert.ok(rows > 100, `${rows} rows`);
    });

    it("keeps unshared fixture objects away from the connection", async () => {
        const shared = new Set(fixture.shares["connection-1"]);
        const unsharedTop = fixture.objects.filter(o => o.parent?.type === "workspace" && !shared.has(o.id));
        assert.ok(unsharedTop.length > 0);
        for (const o of unsharedTop) {
            await expectApiError(conn.pages.retrieve({ page_id: o.id }), { status: 404, code: "object_not_found" });
            assert.equal((await owner.pages.retrieve({ page_id: o.id })).id, o.id);
        }
        const me = await conn.users.me({});
        assert.equal(me.name, "connection-1");
        const people = await collectPaginatedAPI(conn.users.list, {});
        for (const u of fixture.users) assert.ok(people.some(p => p.id === u.id), `${u.name} is a user`);
    });

    it("keeps fixture timestamps (minute-rounded)", async () => {
        const withTimes = fixture.objects.find(o => o.object === "page" && o.created_time && fixture.shares["connection-1"].includes(o.id));
        assert.ok(withTimes, "a shared page with a fixed created_time");
        const page = await conn.pages.retrieve({ page_id: withTimes.id });
        const floor = iso => new Date(Math.floor(Date.parse(iso) / 60000) * 60000).toISOString();
        assert.equal(page.created_time, floor(withTimes.created_time));
    });

    it("signs Notion-hosted file URLs anew on every read, expiring in an hour", async () => {
        const withFile = fixture.objects.find(
            o => o.object === "page" && Object.values(o.properties ?? {}).some(v => Array.isArray(v.files) && v.files.some(f => f.type === "file")),
        );
        assert.ok(withFile, "the sample has a Notion-hosted file");
        const read = async () => {
            const page = await conn.pages.retrieve({ page_id: withFile.id });
            const prop = Object.values(page.properties).find(v => v.type === "files" && v.files.some(f => f.type === "file"));
            return prop.files.find(f => f.type === "file");
        };
        const a = await read();
        const b = await read();
        assert.notEqual(a.file.url, b.file.url, "a new signature per read");
        assert.equal(a.file.url.split("?")[0], b.file.url.split("?")[0], "same object");
        assert.match(a.file.url, /^https:\/\/.*\?.*X-Amz-/);
        const ahead = Date.parse(a.file.expiry_time) - Date.now();
        assert.ok(ahead > 55 * 60000 && ahead <= 61 * 60000, `expiry ${a.file.expiry_time}`);
        // query results are signed fresh too
        const dsId = (await conn.pages.retrieve({ page_id: withFile.id })).parent.data_source_id;
        const inQuery = async () => {
            const rows = await collectPaginatedAPI(conn.dataSources.query, { data_source_id: dsId });
            const row = rows.find(r => r.id === withFile.id);
            return Object.values(row.properties).find(v => v.type === "files").files.find(f => f.type === "file").file.url;
        };
        assert.notEqual(await inQuery(), await inQuery());
        // and so are property items
        const page = await conn.pages.retrieve({ page_id: withFile.id });
        const filesProp = Object.values(page.properties).find(v => v.type === "files" && v.files.some(f => f.type === "file"));
        const item1 = await conn.pages.properties.retrieve({ page_id: withFile.id, property_id: filesProp.id });
        const item2 = await conn.pages.properties.retrieve({ page_id: withFile.id, property_id: filesProp.id });
        assert.equal(item1.type, "files");
        assert.notEqual(item1.files.find(f => f.type === "file").file.url, item2.files.find(f => f.type === "file").file.url);
    });
});
