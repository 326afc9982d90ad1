// Webhooks: a local HTTP receiver registered with /__emulator/webhooks gets the unsigned
// verification handshake, then events for changes visible to the connection, signed with
// X-Notion-Signature = sha256=<hex HMAC-SHA256(raw body, verification_token)>.
import assert from "node:assert/strict";
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import { after, before, describe, it } from "node:test";
import { signWebhookPayload, verifyWebhookSignature } from "@notionhq/client";
import { CONNECTION_TOKEN, OWNER_TOKEN, startEmulator, text, waitUntil } from "./lib/harness.js";

const TOKEN = "secret_conformanceVerificationToken";
let emu;
let owner;
let conn;
let server;
let hookUrl;
const deliveries = []; // { path, headers, raw: Buffer, json }
const ids = {};
const users = {};
let subscriptionId;

function hmac(raw, key = TOKEN) {
    return "sha256=" + createHmac("sha256", key).update(raw).digest("hex");
}

const events = (path = "/hook") => deliveries.filter(d => d.path === path && d.json.type);
const eventsFor = (entityId, type, path) => events(path).filter(d => d.json.entity.id === entityId && (!type || d.json.type === type));

async function waitFor(entityId, type, path = "/hook") {
    return waitUntil(() => eventsFor(entityId, type, path)[0], { timeoutMs: 4000, what: `${type ?? "an event"} for ${entityId} at ${path}` });
}

// No event can be waited for when none should come, so such a test waits for a later one: the
// emulator takes changes in order and sends each event in the pass where it falls due, so once the
// event of a page created afterwards has arrived, every event due before it has been sent too.
async function barrier(path = "/hook") {
    const page = await owner.pages.create({ parent: { page_id: ids.root }, properties: { title: { title: text("Barrier") } } });
    await waitFor(page.id, "page.created", path);
}

before(async () => {
    server = createServer((req, res) => {
        const chunks = [];
        req.on("data", c => chunks.push(c));
        req.on("end", () => {
            const raw = Buffer.concat(chunks);
            let json = null;
            try {
                json = JSON.parse(raw.toString("utf8"));
            } catch {
                json = { unparsable: true };
            }
            deliveries.push({ path: req.url, method: req.method, headers: req.headers, raw, json });
            res.writeHead(200, { "content-type": "text/plain" });
            res.end("ok");
        });
    });
    await new Promise(r => server.listen(0, "127.0.0.1", r));
    hookUrl = `http://127.0.0.1:${server.address().port}`;

    emu = await startEmulator();
    owner = emu.client(OWNER_TOKEN);
    conn = emu.client(CONNECTION_TOKEN);
    users.owner = (await owner.users.me({})).id;
    users.bot = (await conn.users.me({})).id;
    const root = await owner.pages.create({ parent: { workspace: true }, properties: { title: { title: text("Hooked") } } });
    const hidden = await owner.pages.create({ parent: { workspace: true }, properties: { title: { title: text("Unhooked") } } });
    ids.root = root.id;
    ids.hidden = hidden.id;
    await emu.control("share", { token: CONNECTION_TOKEN, object_id: ids.root });
    const registered = await emu.control("webhooks", { url: `${hookUrl}/hook`, verification_token: TOKEN, connection: "connection-1" });
    subscriptionId = registered.subscription_id;
    assert.equal(typeof subscriptionId, "string");
    await waitUntil(() => deliveries.some(d => d.path === "/hook"), { timeoutMs: 4000, what: "the /hook handshake" });
});

after(async () => {
    await emu?.stop();
    await new Promise(r => server.close(r));
});

describe("webhooks", () => {
    it("starts with the unsigned verification handshake", () => {
        const [first] = deliveries.filter(d => d.path === "/hook");
        assert.equal(first.method, "POST");
        assert.deepEqual(first.json, { verification_token: TOKEN });
        assert.equal(first.headers["x-notion-signature"], undefined);
        assert.match(first.headers["content-type"], /application\/json/);
    });

    it("signs page.created with HMAC-SHA256 of the raw body", async () => {
        const page = await owner.pages.create({ parent: { page_id: ids.root }, properties: { title: { title: text("New child") } } });
        const d = await waitFor(page.id, "page.created");
        assert.ok(d, "page.created arrives");
        const signature = d.headers["x-notion-signature"];
        assert.match(signature, /^sha256=[0-9a-f]{64}$/);
        const expected = hmac(d.raw);
        assert.ok(timingSafeEqual(Buffer.from(signature), Buffer.from(expected)), "HMAC of the raw body with the verification token");
        assert.equal(await verifyWebhookSignature({ body: d.raw.toString("utf8"), signature, verificationToken: TOKEN }), true);
        assert.equal(await signWebhookPayload({ body: d.raw.toString("utf8"), verificationToken: TOKEN }), signature);
        // tampering or the wrong key fails
        const tampered = d.raw.toString("utf8").replace("page.created", "page.deleted");
        assert.equal(await verifyWebhookSignature({ body: tampered, signature, verificationToken: TOKEN }), false);
        assert.equal(await verifyWebhookSignature({ body: d.raw, signature, verificationToken: "secret_wrong" }), false);

        const p = d.json;
        assert.equal(p.type, "page.created");
        assert.deepEqual(p.entity, { id: page.id, type: "page" });
        assert.equal(p.subscription_id, subscriptionId);
        assert.equal(p.attempt_number, 1);
        assert.equal(typeof p.id, "string");
        assert.equal(typeof p.workspace_id, "string");
        assert.equal(typeof p.workspace_name, "string");
        assert.equal(p.integration_id, users.bot);
        assert.deepEqual(p.authors, [{ id: users.owner, type: "person" }]);
        assert.ok(!Number.isNaN(Date.parse(p.timestamp)));
        assert.ok(["2025-09-03", "2026-03-11"].includes(p.api_version));
        ids.child = page.id;
    });

    it("sends nothing for changes the connection cannot see", async () => {
        const invisible = await owner.pages.create({ parent: { page_id: ids.hidden }, properties: { title: { title: text("Invisible") } } });
        const visible = await owner.pages.create({ parent: { page_id: ids.root }, properties: { title: { title: text("Visible") } } });
        assert.ok(await waitFor(visible.id, "page.created"));
        await barrier();
        assert.equal(eventsFor(invisible.id).length, 0);
    });

    it("reports database, data source, property, content and trash changes", async () => {
        const db = await owner.databases.create({
            parent: { page_id: ids.root },
            title: text("Hooked DB"),
            initial_data_source: { properties: { Name: { title: {} }, Score: { number: {} } } },
        });
        const ds = db.data_sources[0].id;
        assert.ok(await waitFor(db.id, "database.created"));
        assert.ok(await waitFor(ds, "data_source.created"));
        const schema = await owner.dataSources.update({ data_source_id: ds, properties: { Extra: { checkbox: {} } } });
        const su = await waitFor(ds, "data_source.schema_updated");
        assert.ok(su);
        assert.deepEqual(su.json.data.updated_properties, [{ id: schema.properties.Extra.id, name: "Extra", action: "created" }]);

        const row = await conn.pages.create({ parent: { data_source_id: ds }, properties: { Name: { title: text("r") } } });
        const created = await waitFor(row.id, "page.created");
        assert.deepEqual(created.json.authors, [{ id: users.bot, type: "bot" }]);
        assert.deepEqual(created.json.data.parent, { id: db.id, type: "database", data_source_id: ds });

        await owner.pages.update({ page_id: row.id, properties: { Score: { number: 5 } } });
        const pu = await waitFor(row.id, "page.properties_updated");
        assert.deepEqual(pu.json.data.updated_properties, [schema.properties.Score.id]);

        const appended = await owner.blocks.children.append({ block_id: ids.child, children: [{ paragraph: { rich_text: text("hi") } }] });
        const cu = await waitFor(ids.child, "page.content_updated");
        assert.deepEqual(cu.json.data.updated_blocks, [{ id: appended.results[0].id, type: "block" }]);

        await owner.pages.update({ page_id: row.id, in_trash: true });
        assert.ok(await waitFor(row.id, "page.deleted"));
        await owner.pages.update({ page_id: row.id, in_trash: false });
        assert.ok(await waitFor(row.id, "page.undeleted"));
        await owner.databases.update({ database_id: db.id, in_trash: true });
        assert.ok(await waitFor(db.id, "database.deleted"));
    });

    // FINDINGS.md #2 (fixed): data.parent is the entity's actual parent (notion-api.md §9.4).
    it("names the parent page in data.parent of a child page's events (FINDINGS.md #2)", async () => {
        const page = await owner.pages.create({ parent: { page_id: ids.root }, properties: { title: { title: text("Parented") } } });
        const d = await waitFor(page.id, "page.created");
        assert.deepEqual(d.json.data.parent, { id: ids.root, type: "page" });
        await owner.pages.update({ page_id: page.id, properties: { title: { title: text("Parented (renamed)") } } });
        assert.deepEqual((await waitFor(page.id, "page.properties_updated")).json.data.parent, { id: ids.root, type: "page" });
    });

    it("names the parent of databases, data sources, rows and workspace-level pages", async () => {
        const db = await owner.databases.create({ parent: { page_id: ids.root }, title: text("Parents"), initial_data_source: { properties: { Name: { title: {} } } } });
        const ds = db.data_sources[0].id;
        assert.deepEqual((await waitFor(db.id, "database.created")).json.data.parent, { id: ids.root, type: "page" });
        assert.deepEqual((await waitFor(ds, "data_source.created")).json.data.parent, { id: db.id, type: "database" });
        const row = await owner.pages.create({ parent: { data_source_id: ds }, properties: { Name: { title: text("row") } } });
        assert.deepEqual((await waitFor(row.id, "page.created")).json.data.parent, { id: db.id, type: "database", data_source_id: ds });
        // the shared root lives at the workspace level: its parent is the space
        await owner.pages.update({ page_id: ids.root, icon: { type: "emoji", emoji: "🪝" } });
        const root = await waitFor(ids.root, "page.properties_updated");
        assert.deepEqual(root.json.data.parent, { id: root.json.workspace_id, type: "space" });
        assert.equal(root.json.workspace_id, (await conn.users.me({})).bot.workspace_id);
    });

    it("aggregates events per entity and type over aggregation_delay_ms", async () => {
        await emu.control("webhooks", { url: `${hookUrl}/slow`, verification_token: "secret_slow", connection: CONNECTION_TOKEN, aggregation_delay_ms: 300 });
        await waitUntil(() => deliveries.some(d => d.path === "/slow"), { what: "the /slow handshake" });
        const db = await owner.databases.create({
            parent: { page_id: ids.root },
            title: text("Agg"),
            initial_data_source: { properties: { Name: { title: {} }, A: { number: {} }, B: { number: {} } } },
        });
        const ds = await owner.dataSources.retrieve({ data_source_id: db.data_sources[0].id });
        const row = await owner.pages.create({ parent: { data_source_id: ds.id }, properties: { Name: { title: text("agg") } } });
        await waitFor(row.id, "page.created", "/slow");
        await owner.pages.update({ page_id: row.id, properties: { A: { number: 1 } } });
        await conn.pages.update({ page_id: row.id, properties: { B: { number: 2 } } });
        await owner.pages.update({ page_id: row.id, properties: { A: { number: 3 } } });
        const d = await waitFor(row.id, "page.properties_updated", "/slow");
        await barrier("/slow"); // a second event for these edits would have come by now
        const all = eventsFor(row.id, "page.properties_updated", "/slow");
        assert.equal(all.length, 1, "three edits, one aggregated event");
        assert.deepEqual([...d.json.data.updated_properties].sort(), [ds.properties.A.id, ds.properties.B.id].sort());
        assert.deepEqual(d.json.authors.map(a => a.type).sort(), ["bot", "person"]);
        assert.equal(d.headers["x-notion-signature"], hmac(d.raw, "secret_slow"));
        // the first subscription (no aggregation delay) reports the same edits too
        assert.ok(await waitFor(row.id, "page.properties_updated"));
    });
});
