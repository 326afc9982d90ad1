// The owner builds a workspace through the SDK, shares it with connection-1, then the connection
// exercises every endpoint: users, search, databases, data sources (schema, queries with every
// filter and sort), pages, page property items and blocks.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { collectPaginatedAPI, iteratePaginatedAPI, isFullPage } from "@notionhq/client";
import {
    CONNECTION_TOKEN,
    OWNER_TOKEN,
    V_OLD,
    collect,
    expectApiError,
    startEmulator,
    text,
    titleOf,
} from "./lib/harness.js";

const T0 = "2026-02-02T10:00:30.000Z"; // Alpha is created here (shown as 10:00)
const T1 = "2026-02-02T10:05:10.000Z"; // Beta
const T2 = "2026-02-02T10:10:45.000Z"; // Gamma, Delta, Epsilon
const T3 = "2026-02-02T10:20:05.000Z"; // Alpha is edited here (shown as 10:20)
const EXTRA_USERS = 28; // + owner + connection-1 = 30 people for the 25-item truncation

let emu;
let owner; // SDK client with the owner token
let conn; // SDK client with connection-1's token
const ids = {};
const users = {};

const names = pages => pages.map(titleOf).sort();
const firstWord = page => titleOf(page).split(" ")[0];

async function queryNames(filter, extra = {}) {
    const res = await conn.dataSources.query({ data_source_id: ids.tasksDs, filter, ...extra });
    return res.results.map(firstWord).sort();
}

async function setClock(iso) {
    const res = await emu.control("clock", { set: iso, freeze: true });
    assert.equal(res.now, iso);
}

before(async () => {
    emu = await startEmulator();
    await emu.control("rate_limit", { requests: 0 }); // the suite makes a few hundred calls
    owner = emu.client(OWNER_TOKEN);
    conn = emu.client(CONNECTION_TOKEN);

    const me = await owner.users.me({});
    users.owner = me.id;
    users.bot = (await conn.users.me({})).id;
    users.extra = [];
    for (let i = 1; i <= EXTRA_USERS; ++i) {
        const added = await emu.control("connections", { token: `extra-token-${i}`, name: `extra-${i}` });
        assert.equal(added.name, `extra-${i}`);
        users.extra.push(added.bot_user_id);
    }

    await setClock(T0);
    const root = await owner.pages.create({
        parent: { type: "workspace", workspace: true },
        properties: { title: { title: text("Conformance Root") } },
        icon: { type: "emoji", emoji: "🧪" },
        cover: { type: "external", external: { url: "https://example.com/cover.png" } },
    });
    ids.root = root.id;
    const secret = await owner.pages.create({
        parent: { workspace: true },
        properties: { title: { title: text("Private Notes") } },
        children: [{ paragraph: { rich_text: text("not for bots") } }],
    });
    ids.secret = secret.id;

    const projects = await owner.databases.create({
        parent: { type: "page_id", page_id: ids.root },
        title: text("Projects"),
        initial_data_source: { properties: { Name: { title: {} }, Hours: { number: { format: "number" } } } },
    });
    ids.projectsDb = projects.id;
    ids.projectsDs = projects.data_sources[0].id;
    ids.projects = [];
    for (let i = 0; i < 30; ++i) {
        const p = await owner.pages.create({
            parent: { type: "data_source_id", data_source_id: ids.projectsDs },
            properties: { Name: { title: text(`Project ${i}`) }, Hours: { number: i } },
        });
        ids.projects.push(p.id);
    }

    const tasks = await owner.databases.create({
        parent: { type: "page_id", page_id: ids.root },
        title: text("Tasks"),
        icon: { type: "emoji", emoji: "✅" },
        initial_data_source: {
            properties: {
                Name: { title: {} },
                Notes: { rich_text: {} },
                Estimate: { number: { format: "number" } },
                Area: { select: { options: [{ name: "Backend", color: "purple" }, { name: "Frontend", color: "blue" }] } },
                Tags: { multi_select: { options: [{ name: "A", color: "red" }, { name: "B", color: "green" }] } },
                Stage: { status: {} },
                Due: { date: {} },
                Owner: { people: {} },
                Attachments: { files: {} },
                Done: { checkbox: {} },
                Site: { url: {} },
                Mail: { email: {} },
                Phone: { phone_number: {} },
                Double: { formula: { expression: 'prop("Estimate") * 2' } },
                Project: { relation: { data_source_id: ids.projectsDs, type: "dual_property", dual_property: {} } },
                Hours: { rollup: { relation_property_name: "Project", rollup_property_name: "Hours", function: "sum" } },
                Created: { created_time: {} },
                Creator: { created_by: {} },
                Edited: { last_edited_time: {} },
                Editor: { last_edited_by: {} },
                Ticket: { unique_id: { prefix: "TASK" } },
                Verified: { verification: {} },
                Action: { button: {} },
                Where: { place: {} },
            },
        },
    });
    ids.tasksDb = tasks.id;
    ids.tasksDs = tasks.data_sources[0].id;

    const row = (title, props) =>
        owner.pages.create({
            parent: { type: "data_source_id", data_source_id: ids.tasksDs },
            properties: { Name: { title: typeof title === "string" ? text(title) : title }, ...props },
        });
    ids.alpha = (
        await row("Alpha", {
            Notes: { rich_text: text("The first ROW") },
            Estimate: { number: 3 },
            Area: { select: { name: "Backend" } },
            Tags: { multi_select: [{ name: "A" }, { name: "B" }] },
            Stage: { status: { name: "In progress" } },
            Due: { date: { start: "2026-03-01" } },
            Owner: { people: [{ object: "user", id: users.owner }] },
            Attachments: { files: [{ name: "spec.pdf", external: { url: "https://example.com/spec.pdf" } }] },
            Done: { checkbox: true },
            Site: { url: "https://example.com" },
            Mail: { email: "alpha@example.com" },
            Phone: { phone_number: "+1 415 555 0100" },
            Project: { relation: [{ id: ids.projects[0] }, { id: ids.projects[1] }] },
        })
    ).id;
    await setClock(T1);
    ids.beta = (
        await row("Beta", {
            Notes: { rich_text: text("second") },
            Estimate: { number: 8 },
            Area: { select: { name: "Frontend" } },
            Tags: { multi_select: [{ name: "B" }] },
            Stage: { status: { name: "Done" } },
            Due: { date: { start: "2026-03-15T09:00:00.000Z" } },
            Owner: { people: [{ object: "user", id: users.bot }] },
            Done: { checkbox: false },
            Project: { relation: [{ id: ids.projects[2] }] },
        })
    ).id;
    await setClock(T2);
    ids.gamma = (await row("Gamma", { Estimate: { number: 13 }, Stage: { status: { name: "Not started" } } })).id;
    // Delta: 30 title segments, 30 people and 30 relations, past the 25-item truncation.
    const deltaTitle = [{ type: "text", text: { content: "Delta" } }];
    for (let i = 1; i < 30; ++i) deltaTitle.push({ type: "text", text: { content: ` d${i}` }, annotations: { bold: i % 2 === 0 } });
    ids.delta = (
        await row(deltaTitle, {
            Owner: { people: [users.owner, users.bot, ...users.extra].map(id => ({ object: "user", id })) },
            Project: { relation: ids.projects.map(id => ({ id })) },
        })
    ).id;
    ids.epsilon = (await row("Epsilon", { Estimate: { number: 100 } })).id;
    await owner.pages.update({ page_id: ids.epsilon, in_trash: true });
    await setClock(T3);
    await owner.pages.update({ page_id: ids.alpha, properties: { Notes: { rich_text: text("The first ROW, edited") } } });

    const share = await emu.control("share", { token: CONNECTION_TOKEN, object_id: ids.root });
    assert.equal(share.ok, true);
    // Let the clock run again (from T3) for the rest of the suite.
    await emu.control("clock", { set: T3, freeze: false });
});

after(async () => {
    await emu?.stop();
});

describe("users", () => {
    it("users.me is the connection's bot user", async () => {
        const me = await conn.users.me({});
        assert.equal(me.object, "user");
        assert.equal(me.type, "bot");
        assert.equal(me.name, "connection-1");
        assert.equal(me.bot.owner.type, "workspace");
        assert.equal(typeof me.bot.workspace_name, "string");
        const ownerMe = await owner.users.me({});
        assert.equal(ownerMe.type, "person");
        assert.equal(ownerMe.person.email, "owner@example.com");
    });

    it("users.list pages through every user", async () => {
        const first = await conn.users.list({ page_size: 7 });
        assert.equal(first.object, "list");
        assert.equal(first.type, "user");
        assert.equal(first.results.length, 7);
        assert.equal(first.has_more, true);
        const all = await collectPaginatedAPI(conn.users.list, { page_size: 7 });
        assert.equal(all.length, EXTRA_USERS + 2);
        assert.equal(new Set(all.map(u => u.id)).size, all.length);
        assert.ok(all.some(u => u.id === users.owner && u.type === "person"));
        assert.ok(all.some(u => u.id === users.bot && u.type === "bot"));
    });

    it("users.retrieve returns a user by id, 404 for an unknown one", async () => {
        const u = await conn.users.retrieve({ user_id: users.extra[0] });
        assert.equal(u.name, "extra-1");
        assert.equal(u.type, "bot");
        await expectApiError(conn.users.retrieve({ user_id: "00000000-0000-4000-8000-000000000000" }), {
            status: 404,
            code: "object_not_found",
        });
    });
});

describe("search", () => {
    it("finds pages and data sources shared with the connection only", async () => {
        const all = await collectPaginatedAPI(conn.search, {});
        const pages = all.filter(r => r.object === "page");
        const sources = all.filter(r => r.object === "data_source");
        // root + 30 projects + Alpha..Delta (Epsilon is trashed); not the private page
        assert.equal(pages.length, 1 + 30 + 4);
        assert.ok(!pages.some(p => p.id === ids.secret));
        assert.ok(!pages.some(p => p.id === ids.epsilon));
        assert.deepEqual(sources.map(s => s.id).sort(), [ids.projectsDs, ids.tasksDs].sort());
        const ownerAll = await collectPaginatedAPI(owner.search, { filter: { property: "object", value: "page" } });
        assert.ok(ownerAll.some(p => p.id === ids.secret), "the owner sees everything");
    });

    it("filters by object type", async () => {
        const res = await conn.search({ filter: { property: "object", value: "data_source" } });
        assert.equal(res.type, "page_or_data_source");
        assert.equal(res.results.length, 2);
        assert.ok(res.results.every(r => r.object === "data_source"));
        const tasks = res.results.find(r => r.id === ids.tasksDs);
        assert.equal(tasks.parent.database_id, ids.tasksDb);
        const pages = await conn.search({ filter: { property: "object", value: "page" }, page_size: 100 });
        assert.ok(pages.results.length > 30 && pages.results.every(r => r.object === "page"));
    });

    it("matches titles case-insensitively", async () => {
        const res = await conn.search({ query: "ALPHA" });
        assert.deepEqual(res.results.map(r => r.id), [ids.alpha]);
        const ds = await conn.search({ query: "tasks", filter: { property: "object", value: "data_source" } });
        assert.deepEqual(ds.results.map(r => r.id), [ids.tasksDs]);
    });

    it("sorts by last_edited_time in both directions", async () => {
        const args = { filter: { property: "object", value: "page" }, query: "a" };
        const asc = await collectPaginatedAPI(conn.search, { ...args, sort: { timestamp: "last_edited_time", direction: "ascending" } });
        const desc = await collectPaginatedAPI(conn.search, { ...args, sort: { timestamp: "last_edited_time", direction: "descending" } });
        const times = r => r.map(p => Date.parse(p.last_edited_time));
        assert.ok(asc.length >= 3);
        assert.deepEqual(times(asc), [...times(asc)].sort((a, b) => a - b));
        assert.deepEqual(times(desc), [...times(desc)].sort((a, b) => b - a));
        assert.equal(desc[0].id, ids.alpha, "Alpha was edited last");
    });

    it("paginates with page_size and start_cursor without duplicates", async () => {
        const first = await conn.search({ page_size: 10 });
        assert.equal(first.results.length, 10);
        assert.equal(first.has_more, true);
        const seen = [];
        for await (const r of iteratePaginatedAPI(conn.search, { page_size: 10 })) seen.push(r.id);
        assert.equal(seen.length, 37);
        assert.equal(new Set(seen).size, 37);
        await expectApiError(conn.search({ page_size: 101 }), { status: 400, code: "validation_error" });
        await expectApiError(conn.search({ start_cursor: "not-a-cursor" }), { status: 400, code: "validation_error" });
    });
});

describe("databases and data sources", () => {
    it("retrieves a database with its data sources", async () => {
        const db = await conn.databases.retrieve({ database_id: ids.tasksDb });
        assert.equal(db.object, "database");
        assert.deepEqual(db.data_sources, [{ id: ids.tasksDs, name: "Tasks" }]);
        assert.equal(db.title[0].plain_text, "Tasks");
        assert.deepEqual(db.icon, { type: "emoji", emoji: "✅" });
        assert.deepEqual(db.parent, { type: "page_id", page_id: ids.root });
        assert.ok(!("properties" in db), "no schema on the database container");
        assert.ok(!("archived" in db), "no archived in 2026-03-11");
    });

    it("retrieves a data source with every property type", async () => {
        const ds = await conn.dataSources.retrieve({ data_source_id: ids.tasksDs });
        assert.equal(ds.object, "data_source");
        assert.deepEqual(ds.parent, { type: "database_id", database_id: ids.tasksDb });
        assert.deepEqual(ds.database_parent, { type: "page_id", page_id: ids.root });
        const types = Object.fromEntries(Object.entries(ds.properties).map(([k, v]) => [k, v.type]));
        assert.deepEqual(types, {
            Name: "title", Notes: "rich_text", Estimate: "number", Area: "select", Tags: "multi_select",
            Stage: "status", Due: "date", Owner: "people", Attachments: "files", Done: "checkbox",
            Site: "url", Mail: "email", Phone: "phone_number", Double: "formula", Project: "relation",
            Hours: "rollup", Created: "created_time", Creator: "created_by", Edited: "last_edited_time",
            Editor: "last_edited_by", Ticket: "unique_id", Verified: "verification", Action: "button",
            Where: "place",
        });
        for (const [name, prop] of Object.entries(ds.properties)) {
            assert.equal(prop.name, name);
            assert.equal(typeof prop.id, "string");
            assert.ok(prop[prop.type] !== undefined, `${name} has its config`);
        }
        assert.equal(ds.properties.Name.id, "title");
        assert.deepEqual(ds.properties.Area.select.options.map(o => [o.name, o.color]), [["Backend", "purple"], ["Frontend", "blue"]]);
        assert.deepEqual(ds.properties.Stage.status.options.map(o => o.name), ["Not started", "In progress", "Done"]);
        assert.equal(ds.properties.Project.relation.data_source_id, ids.projectsDs);
        assert.equal(ds.properties.Project.relation.type, "dual_property");
        assert.equal(ds.properties.Hours.rollup.function, "sum");
        assert.equal(ds.properties.Ticket.unique_id.prefix, "TASK");
        // the dual relation's synced property exists on the other side
        const projects = await conn.dataSources.retrieve({ data_source_id: ids.projectsDs });
        const synced = ds.properties.Project.relation.dual_property.synced_property_name;
        assert.equal(projects.properties[synced].type, "relation");
        assert.equal(projects.properties[synced].relation.data_source_id, ids.tasksDs);
    });

    it("updates a data source schema: add, rename (id is kept), delete", async () => {
        const before = await conn.dataSources.retrieve({ data_source_id: ids.projectsDs });
        const hoursId = before.properties.Hours.id;
        const updated = await conn.dataSources.update({
            data_source_id: ids.projectsDs,
            title: text("Projects (renamed)"),
            properties: {
                Priority: { select: { options: [{ name: "P1", color: "red" }] } },
                Scratch: { rich_text: {} },
            },
        });
        assert.equal(updated.title[0].plain_text, "Projects (renamed)");
        assert.equal(updated.properties.Priority.type, "select");
        const renamed = await conn.dataSources.update({
            data_source_id: ids.projectsDs,
            properties: { [hoursId]: { name: "Effort" }, Scratch: null },
        });
        assert.equal(renamed.properties.Effort.id, hoursId, "a rename keeps the property id");
        assert.ok(!("Hours" in renamed.properties));
        assert.ok(!("Scratch" in renamed.properties));
        // the rollup that reads it follows the rename
        const tasks = await conn.dataSources.retrieve({ data_source_id: ids.tasksDs });
        assert.equal(tasks.properties.Hours.rollup.rollup_property_name, "Effort");
        await conn.dataSources.update({ data_source_id: ids.projectsDs, properties: { Effort: { name: "Hours" } } });
        await expectApiError(conn.dataSources.update({ data_source_id: ids.projectsDs, properties: { Name: null } }), {
            status: 400,
            code: "validation_error",
        });
    });

    it("creates a database (and a second data source) as the connection", async () => {
        const db = await conn.databases.create({
            parent: { type: "page_id", page_id: ids.root },
            title: text("Bot DB"),
            is_inline: true,
            initial_data_source: { properties: { Title: { title: {} }, Score: { number: {} } } },
        });
        assert.equal(db.object, "database");
        assert.equal(db.is_inline, true);
        assert.equal(db.data_sources.length, 1);
        const ds = await conn.dataSources.retrieve({ data_source_id: db.data_sources[0].id });
        assert.deepEqual(Object.keys(ds.properties).sort(), ["Score", "Title"]);
        const second = await conn.dataSources.create({
            parent: { type: "database_id", database_id: db.id },
            title: text("Second source"),
            properties: { Label: { title: {} } },
        });
        assert.equal(second.object, "data_source");
        const again = await conn.databases.retrieve({ database_id: db.id });
        assert.deepEqual(again.data_sources.map(s => s.name), ["Bot DB", "Second source"]);
        // with two data sources a database_id parent is ambiguous
        await expectApiError(
            conn.pages.create({ parent: { type: "database_id", database_id: db.id }, properties: { Title: { title: text("x") } } }),
            { status: 400, code: "validation_error" },
        );
        const updated = await conn.databases.update({ database_id: db.id, title: text("Bot DB 2"), is_locked: true });
        assert.equal(updated.title[0].plain_text, "Bot DB 2");
        assert.equal(updated.is_locked, true);
        const block = await conn.blocks.retrieve({ block_id: db.id });
        assert.equal(block.type, "child_database");
        assert.equal(block.child_database.title, "Bot DB 2");
    });
});

describe("query data source", () => {
    it("returns the rows (trashed ones excluded) as a page_or_data_source list", async () => {
        const res = await conn.dataSources.query({ data_source_id: ids.tasksDs });
        assert.equal(res.object, "list");
        assert.equal(res.type, "page_or_data_source");
        assert.equal(res.has_more, false);
        assert.equal(res.next_cursor, null);
        assert.equal(typeof res.request_id, "string");
        assert.ok(!("request_status" in res));
        assert.deepEqual(res.results.map(firstWord).sort(), ["Alpha", "Beta", "Delta", "Gamma"]);
        assert.ok(res.results.every(isFullPage));
    });

    it("filters on created_time and last_edited_time (minute-rounded, compared to the ms)", async () => {
        const created = f => ({ timestamp: "created_time", created_time: f });
        const edited = f => ({ timestamp: "last_edited_time", last_edited_time: f });
        assert.deepEqual(await queryNames(created({ on_or_after: "2026-02-02T10:05:00.000Z" })), ["Beta", "Delta", "Gamma"]);
        // Alpha was created at 10:00:30 but is stored as 10:00:00.000: strict `after` 10:00 skips it
        assert.deepEqual(await queryNames(created({ after: "2026-02-02T10:00:00.000Z" })), ["Beta", "Delta", "Gamma"]);
        assert.deepEqual(await queryNames(created({ equals: "2026-02-02T10:00:00.000Z" })), ["Alpha"]);
        assert.deepEqual(await queryNames(created({ before: "2026-02-02T10:05:00.000Z" })), ["Alpha"]);
        assert.deepEqual(await queryNames(created({ on_or_before: "2026-02-02T10:05:00.000Z" })), ["Alpha", "Beta"]);
        assert.deepEqual(await queryNames(edited({ on_or_after: "2026-02-02T10:20:00.000Z" })), ["Alpha"]);
        assert.deepEqual(await queryNames(edited({ after: "2026-02-02T10:20:00.001Z" })), []);
        assert.deepEqual(await queryNames(edited({ before: "2026-02-02T10:10:00.000Z" })), ["Beta"]);
    });

    it("filters on title and rich_text", async () => {
        assert.deepEqual(await queryNames({ property: "Name", title: { equals: "Gamma" } }), ["Gamma"]);
        assert.deepEqual(await queryNames({ property: "Name", title: { contains: "ET" } }), ["Beta"]);
        assert.deepEqual(await queryNames({ property: "Name", title: { starts_with: "Al" } }), ["Alpha"]);
        assert.deepEqual(await queryNames({ property: "Name", title: { ends_with: "mma" } }), ["Gamma"]);
        assert.deepEqual(await queryNames({ property: "Name", title: { does_not_contain: "a" } }), []);
        assert.deepEqual(await queryNames({ property: "Notes", rich_text: { contains: "row" } }), ["Alpha"]);
        assert.deepEqual(await queryNames({ property: "Notes", rich_text: { is_empty: true } }), ["Delta", "Gamma"]);
        assert.deepEqual(await queryNames({ property: "Notes", rich_text: { is_not_empty: true } }), ["Alpha", "Beta"]);
        assert.deepEqual(await queryNames({ property: "Notes", rich_text: { does_not_equal: "second" } }), ["Alpha", "Delta", "Gamma"]);
    });

    it("filters on number, checkbox, select, multi_select and status", async () => {
        assert.deepEqual(await queryNames({ property: "Estimate", number: { greater_than: 5 } }), ["Beta", "Gamma"]);
        assert.deepEqual(await queryNames({ property: "Estimate", number: { less_than_or_equal_to: 8 } }), ["Alpha", "Beta"]);
        assert.deepEqual(await queryNames({ property: "Estimate", number: { equals: 13 } }), ["Gamma"]);
        assert.deepEqual(await queryNames({ property: "Estimate", number: { is_empty: true } }), ["Delta"]);
        assert.deepEqual(await queryNames({ property: "Done", checkbox: { equals: true } }), ["Alpha"]);
        assert.deepEqual(await queryNames({ property: "Done", checkbox: { does_not_equal: true } }), ["Beta", "Delta", "Gamma"]);
        assert.deepEqual(await queryNames({ property: "Area", select: { equals: "Backend" } }), ["Alpha"]);
        assert.deepEqual(await queryNames({ property: "Area", select: { is_empty: true } }), ["Delta", "Gamma"]);
        assert.deepEqual(await queryNames({ property: "Tags", multi_select: { contains: "B" } }), ["Alpha", "Beta"]);
        assert.deepEqual(await queryNames({ property: "Tags", multi_select: { does_not_contain: "A" } }), ["Beta", "Delta", "Gamma"]);
        assert.deepEqual(await queryNames({ property: "Tags", multi_select: { is_not_empty: true } }), ["Alpha", "Beta"]);
        assert.deepEqual(await queryNames({ property: "Stage", status: { equals: "Done" } }), ["Beta"]);
        assert.deepEqual(await queryNames({ property: "Stage", status: { does_not_equal: "Done" } }), ["Alpha", "Delta", "Gamma"]);
        assert.deepEqual(await queryNames({ property: "Stage", status: { is_empty: true } }), ["Delta"]);
    });

    it("filters on date, people and relation", async () => {
        assert.deepEqual(await queryNames({ property: "Due", date: { on_or_after: "2026-03-10" } }), ["Beta"]);
        assert.deepEqual(await queryNames({ property: "Due", date: { before: "2026-03-10T00:00:00Z" } }), ["Alpha"]);
        assert.deepEqual(await queryNames({ property: "Due", date: { equals: "2026-03-01" } }), ["Alpha"]);
        assert.deepEqual(await queryNames({ property: "Due", date: { is_empty: true } }), ["Delta", "Gamma"]);
        assert.deepEqual(await queryNames({ property: "Owner", people: { contains: users.owner } }), ["Alpha", "Delta"]);
        assert.deepEqual(await queryNames({ property: "Owner", people: { contains: users.bot } }), ["Beta", "Delta"]);
        assert.deepEqual(await queryNames({ property: "Owner", people: { is_empty: true } }), ["Gamma"]);
        // Delta's 27th relation is past the 25 shown in page objects but still matches
        assert.deepEqual(await queryNames({ property: "Project", relation: { contains: ids.projects[0] } }), ["Alpha", "Delta"]);
        assert.deepEqual(await queryNames({ property: "Project", relation: { contains: ids.projects[27] } }), ["Delta"]);
        assert.deepEqual(await queryNames({ property: "Project", relation: { does_not_contain: ids.projects[2] } }), ["Alpha", "Gamma"]);
        assert.deepEqual(await queryNames({ property: "Project", relation: { is_empty: true } }), ["Gamma"]);
    });

    it("filters on formula, rollup, files, url and unique_id", async () => {
        assert.deepEqual(await queryNames({ property: "Double", formula: { number: { greater_than: 10 } } }), ["Beta", "Gamma"]);
        assert.deepEqual(await queryNames({ property: "Hours", rollup: { number: { equals: 1 } } }), ["Alpha"]);
        assert.deepEqual(await queryNames({ property: "Attachments", files: { is_not_empty: true } }), ["Alpha"]);
        assert.deepEqual(await queryNames({ property: "Site", url: { contains: "example" } }), ["Alpha"]);
        assert.deepEqual(await queryNames({ property: "Ticket", unique_id: { greater_than: 2 } }), ["Delta", "Gamma"]);
    });

    it("combines filters with and/or nested two levels deep", async () => {
        const filter = {
            or: [
                { and: [{ property: "Area", select: { equals: "Backend" } }, { property: "Done", checkbox: { equals: true } }] },
                { property: "Estimate", number: { greater_than: 10 } },
            ],
        };
        assert.deepEqual(await queryNames(filter), ["Alpha", "Gamma"]);
        const and = {
            and: [
                { property: "Tags", multi_select: { contains: "B" } },
                { or: [{ property: "Stage", status: { equals: "Done" } }, { timestamp: "created_time", created_time: { before: "2026-02-02T10:01:00Z" } }] },
            ],
        };
        assert.deepEqual(await queryNames(and), ["Alpha", "Beta"]);
        const tooDeep = { and: [{ or: [{ and: [{ property: "Done", checkbox: { equals: true } }] }] }] };
        await expectApiError(conn.dataSources.query({ data_source_id: ids.tasksDs, filter: tooDeep }), {
            status: 400,
            code: "validation_error",
        });
        await expectApiError(
            conn.dataSources.query({ data_source_id: ids.tasksDs, filter: { property: "Nope", checkbox: { equals: true } } }),
            { status: 400, code: "validation_error" },
        );
    });

    it("sorts by property and timestamp, empty values last", async () => {
        const q = async sorts => (await conn.dataSources.query({ data_source_id: ids.tasksDs, sorts })).results.map(firstWord);
        assert.deepEqual(await q([{ property: "Estimate", direction: "ascending" }]), ["Alpha", "Beta", "Gamma", "Delta"]);
        assert.deepEqual(await q([{ property: "Estimate", direction: "descending" }]), ["Gamma", "Beta", "Alpha", "Delta"]);
        assert.deepEqual(await q([{ property: "Name", direction: "descending" }]), ["Gamma", "Delta", "Beta", "Alpha"]);
        assert.deepEqual(
            await q([{ timestamp: "created_time", direction: "descending" }, { property: "Name", direction: "ascending" }]),
            ["Delta", "Gamma", "Beta", "Alpha"],
        );
        assert.deepEqual(await q([{ timestamp: "last_edited_time", direction: "descending" }, { property: "Name", direction: "ascending" }]).then(r => r[0]), "Alpha");
        await expectApiError(conn.dataSources.query({ data_source_id: ids.tasksDs, sorts: [{ property: "Nope", direction: "ascending" }] }), {
            status: 400,
            code: "validation_error",
        });
    });

    it("limits returned properties with filter_properties (names and ids)", async () => {
        const ds = await conn.dataSources.retrieve({ data_source_id: ids.tasksDs });
        const doneId = ds.properties.Done.id;
        const res = await conn.dataSources.query({ data_source_id: ids.tasksDs, filter_properties: ["Estimate", doneId] });
        assert.equal(res.results.length, 4);
        for (const page of res.results) assert.deepEqual(Object.keys(page.properties).sort(), ["Done", "Estimate"]);
        const one = await conn.pages.retrieve({ page_id: ids.alpha, filter_properties: ["title"] });
        assert.deepEqual(Object.keys(one.properties), ["Name"]);
    });

    it("paginates the rows with page_size and start_cursor", async () => {
        const first = await conn.dataSources.query({ data_source_id: ids.tasksDs, page_size: 3, sorts: [{ property: "Name", direction: "ascending" }] });
        assert.equal(first.results.length, 3);
        assert.equal(first.has_more, true);
        const second = await conn.dataSources.query({
            data_source_id: ids.tasksDs,
            page_size: 3,
            start_cursor: first.next_cursor,
            sorts: [{ property: "Name", direction: "ascending" }],
        });
        assert.deepEqual(second.results.map(firstWord), ["Gamma"]);
        assert.equal(second.has_more, false);
        await expectApiError(conn.dataSources.query({ data_source_id: ids.tasksDs, page_size: 0 }), { status: 400, code: "validation_error" });
    });
});

describe("pages", () => {
    it("retrieves a row with every property value shaped like Notion's", async () => {
        const page = await conn.pages.retrieve({ page_id: ids.alpha });
        assert.equal(page.object, "page");
        assert.deepEqual(page.parent, { type: "data_source_id", data_source_id: ids.tasksDs, database_id: ids.tasksDb });
        assert.equal(page.in_trash, false);
        assert.ok(!("archived" in page));
        assert.equal(page.created_time, "2026-02-02T10:00:00.000Z");
        assert.equal(page.last_edited_time, "2026-02-02T10:20:00.000Z");
        assert.deepEqual(page.created_by, { object: "user", id: users.owner });
        const p = page.properties;
        for (const [name, value] of Object.entries(p)) {
            assert.equal(typeof value.id, "string", name);
            assert.ok(value.type in value, `${name} carries its ${value.type} value`);
        }
        assert.equal(p.Name.title[0].plain_text, "Alpha");
        assert.deepEqual(p.Name.title[0].annotations, { bold: false, italic: false, strikethrough: false, underline: false, code: false, color: "default" });
        assert.equal(p.Notes.rich_text[0].plain_text, "The first ROW, edited");
        assert.equal(p.Estimate.number, 3);
        assert.equal(p.Area.select.name, "Backend");
        assert.equal(p.Area.select.color, "purple");
        assert.deepEqual(p.Tags.multi_select.map(o => o.name), ["A", "B"]);
        assert.equal(p.Stage.status.name, "In progress");
        assert.equal(p.Due.date.start, "2026-03-01");
        assert.equal(p.Due.date.end, null);
        assert.deepEqual(p.Owner.people.map(u => u.id), [users.owner]);
        assert.deepEqual(p.Attachments.files, [{ name: "spec.pdf", type: "external", external: { url: "https://example.com/spec.pdf" } }]);
        assert.equal(p.Done.checkbox, true);
        assert.equal(p.Site.url, "https://example.com");
        assert.equal(p.Mail.email, "alpha@example.com");
        assert.equal(p.Phone.phone_number, "+1 415 555 0100");
        assert.deepEqual(p.Double.formula, { type: "number", number: 6 });
        assert.deepEqual(p.Project.relation, [{ id: ids.projects[0] }, { id: ids.projects[1] }]);
        assert.equal(p.Project.has_more, false);
        assert.equal(p.Hours.rollup.type, "number");
        assert.equal(p.Hours.rollup.number, 1);
        assert.equal(p.Created.created_time, "2026-02-02T10:00:00.000Z");
        assert.equal(p.Creator.created_by.id, users.owner);
        assert.equal(p.Edited.last_edited_time, "2026-02-02T10:20:00.000Z");
        assert.equal(p.Editor.last_edited_by.id, users.owner);
        assert.deepEqual(p.Ticket.unique_id, { prefix: "TASK", number: 1 });
        assert.equal(p.Verified.verification.state, "unverified");
        assert.equal(p.Where.place, null);
        // the synced side of the dual relation
        const project = await conn.pages.retrieve({ page_id: ids.projects[0] });
        const back = Object.values(project.properties).find(v => v.type === "relation");
        assert.deepEqual(back.relation.map(r => r.id).sort(), [ids.alpha, ids.delta].sort());
    });

    it("truncates title, people and relation at 25 in page objects (relation has_more)", async () => {
        const page = await conn.pages.retrieve({ page_id: ids.delta });
        assert.equal(page.properties.Name.title.length, 25);
        assert.equal(page.properties.Owner.people.length, 25);
        assert.equal(page.properties.Project.relation.length, 25);
        assert.equal(page.properties.Project.has_more, true);
        // rollups over the relation compute on the 25 shown: 0 + … + 24
        assert.equal(page.properties.Hours.rollup.number, 300);
    });

    it("pages through property items past 25", async () => {
        const page = await conn.pages.retrieve({ page_id: ids.delta });
        for (const [name, expected] of [["Project", ids.projects], ["Owner", [users.owner, users.bot, ...users.extra]], ["Name", null]]) {
            const propertyId = page.properties[name].id;
            const first = await conn.pages.properties.retrieve({ page_id: ids.delta, property_id: propertyId, page_size: 10 });
            assert.equal(first.object, "list");
            assert.equal(first.type, "property_item");
            assert.equal(first.results.length, 10);
            assert.equal(first.has_more, true);
            assert.match(first.property_item.next_url, /start_cursor=/);
            const items = await collect(args => conn.pages.properties.retrieve(args), { page_id: ids.delta, property_id: propertyId, page_size: 10 });
            assert.equal(items.length, 30, name);
            assert.ok(items.every(i => i.object === "property_item" && i.type === page.properties[name].type));
            if (name === "Project") assert.deepEqual(items.map(i => i.relation.id), expected);
            if (name === "Owner") assert.deepEqual(items.map(i => i.people.id), expected);
            if (name === "Name") {
                assert.equal(items[0].title.plain_text, "Delta");
                assert.equal(items[29].title.plain_text, " d29");
            }
        }
        const number = await conn.pages.properties.retrieve({ page_id: ids.alpha, property_id: page.properties.Estimate.id });
        assert.deepEqual(number, { object: "property_item", id: page.properties.Estimate.id, type: "number", number: 3 });
        const rollup = await conn.pages.properties.retrieve({ page_id: ids.delta, property_id: page.properties.Hours.id });
        assert.equal(rollup.property_item.rollup.function, "sum");
        await expectApiError(conn.pages.properties.retrieve({ page_id: ids.alpha, property_id: "nope" }), { status: 404, code: "object_not_found" });
    });

    it("creates pages under a page and in a data source, with icon, cover and content", async () => {
        const child = await conn.pages.create({
            parent: { type: "page_id", page_id: ids.root },
            properties: { title: { title: text("Bot child") } },
            icon: { type: "emoji", emoji: "🤖" },
            cover: { type: "external", external: { url: "https://example.com/c.png" } },
            children: [{ type: "paragraph", paragraph: { rich_text: text("Hello") } }],
        });
        assert.deepEqual(child.parent, { type: "page_id", page_id: ids.root });
        assert.deepEqual(child.icon, { type: "emoji", emoji: "🤖" });
        assert.deepEqual(child.cover, { type: "external", external: { url: "https://example.com/c.png" } });
        assert.deepEqual(child.created_by, { object: "user", id: users.bot });
        assert.deepEqual(Object.keys(child.properties), ["title"]);
        const kids = await conn.blocks.children.list({ block_id: child.id });
        assert.equal(kids.results[0].paragraph.rich_text[0].plain_text, "Hello");

        const row = await conn.pages.create({
            parent: { type: "data_source_id", data_source_id: ids.tasksDs },
            properties: { Name: { title: text("Zeta") }, Estimate: { number: 1 }, Area: { select: { name: "Ops" } } },
        });
        assert.equal(row.parent.data_source_id, ids.tasksDs);
        assert.equal(row.properties.Area.select.name, "Ops", "unknown select options are created");
        assert.equal(row.properties.Ticket.unique_id.number, 6);
        const viaDb = await conn.pages.create({
            parent: { type: "database_id", database_id: ids.tasksDb },
            properties: { Name: { title: text("Eta") } },
        });
        assert.equal(viaDb.parent.data_source_id, ids.tasksDs, "a single-source database_id parent is accepted");
        for (const id of [row.id, viaDb.id]) await conn.pages.update({ page_id: id, in_trash: true });
    });

    it("creates top-level pages for the owner only", async () => {
        const root = await owner.pages.retrieve({ page_id: ids.root });
        assert.deepEqual(root.parent, { type: "workspace", workspace: true });
        await expectApiError(
            conn.pages.create({ parent: { type: "workspace", workspace: true }, properties: { title: { title: text("nope") } } }),
            { status: 400, code: "validation_error" },
        );
    });

    it("updates properties, icon and cover; arrays are replaced", async () => {
        const page = await conn.pages.create({
            parent: { type: "data_source_id", data_source_id: ids.tasksDs },
            properties: { Name: { title: text("Theta") }, Tags: { multi_select: [{ name: "A" }, { name: "B" }] } },
        });
        const updated = await conn.pages.update({
            page_id: page.id,
            properties: { Estimate: { number: 21 }, Tags: { multi_select: [{ name: "B" }] }, Site: { url: null } },
            icon: { type: "external", external: { url: "https://example.com/i.png" } },
            cover: null,
        });
        assert.equal(updated.properties.Estimate.number, 21);
        assert.deepEqual(updated.properties.Tags.multi_select.map(o => o.name), ["B"]);
        assert.equal(updated.properties.Site.url, null);
        assert.deepEqual(updated.icon, { type: "external", external: { url: "https://example.com/i.png" } });
        assert.equal(updated.cover, null);
        assert.deepEqual(updated.last_edited_by, { object: "user", id: users.bot });
        for (const bad of [
            { Estimate: { number: "many" } },
            { Nope: { number: 1 } },
            { Double: { formula: { number: 1 } } },
            { Created: { created_time: "2026-01-01T00:00:00Z" } },
            { Stage: { status: { name: "Not a status" } } },
            { Notes: { rich_text: text("x".repeat(2001)) } },
        ]) {
            await expectApiError(conn.pages.update({ page_id: page.id, properties: bad }), { status: 400, code: "validation_error" });
        }
        await conn.pages.update({ page_id: page.id, in_trash: true });
    });

    it("moves pages to the trash and back; trashed pages leave queries", async () => {
        const page = await conn.pages.create({
            parent: { type: "data_source_id", data_source_id: ids.tasksDs },
            properties: { Name: { title: text("Iota") } },
        });
        const inQuery = async () =>
            (await collectPaginatedAPI(conn.dataSources.query, { data_source_id: ids.tasksDs })).some(p => p.id === page.id);
        assert.equal(await inQuery(), true);
        const trashed = await conn.pages.update({ page_id: page.id, in_trash: true });
        assert.equal(trashed.in_trash, true);
        assert.equal(await inQuery(), false);
        const read = await conn.pages.retrieve({ page_id: page.id });
        assert.equal(read.in_trash, true, "a trashed page can still be retrieved");
        const search = await conn.search({ query: "Iota" });
        assert.equal(search.results.length, 0, "search leaves trashed pages out");
        await expectApiError(conn.pages.update({ page_id: page.id, properties: { Estimate: { number: 1 } } }), {
            status: 400,
            code: "validation_error",
        });
        const restored = await conn.pages.update({ page_id: page.id, in_trash: false });
        assert.equal(restored.in_trash, false);
        assert.equal(await inQuery(), true);
        await conn.pages.update({ page_id: page.id, in_trash: true });
        // the trashed Epsilon from the setup is readable but never queried
        const epsilon = await conn.pages.retrieve({ page_id: ids.epsilon });
        assert.equal(epsilon.in_trash, true);
    });
});

describe("blocks", () => {
    let doc;
    before(async () => {
        doc = await conn.pages.create({
            parent: { type: "page_id", page_id: ids.root },
            properties: { title: { title: text("Doc") } },
            children: [
                { paragraph: { rich_text: text("one") } },
                { paragraph: { rich_text: text("two") } },
            ],
        });
    });
    const plain = b => (b[b.type].rich_text ?? []).map(t => t.plain_text).join("");
    const listAll = async id => (await collectPaginatedAPI(conn.blocks.children.list, { block_id: id })).map(plain);

    it("appends children at the end, at the start and after a block (position, 2026-03-11)", async () => {
        const first = await conn.blocks.children.list({ block_id: doc.id });
        const [one] = first.results;
        const appended = await conn.blocks.children.append({ block_id: doc.id, children: [{ paragraph: { rich_text: text("end") } }] });
        assert.equal(appended.object, "list");
        assert.equal(appended.results.length, 1);
        assert.equal(plain(appended.results[0]), "end");
        await conn.blocks.children.append({ block_id: doc.id, children: [{ paragraph: { rich_text: text("start") } }], position: { type: "start" } });
        await conn.blocks.children.append({
            block_id: doc.id,
            children: [{ heading_2: { rich_text: text("after one") } }, { to_do: { rich_text: text("todo"), checked: true } }],
            position: { type: "after_block", after_block: { id: one.id } },
        });
        assert.deepEqual(await listAll(doc.id), ["start", "one", "after one", "todo", "two", "end"]);
        await expectApiError(conn.blocks.children.append({ block_id: doc.id, children: [{ paragraph: { rich_text: text("x") } }], after: one.id }), {
            status: 400,
            code: "validation_error",
        });
    });

    it("appends after a block with `after` in 2025-09-03 (and refuses position there)", async () => {
        const old = emu.client(CONNECTION_TOKEN, { version: V_OLD });
        const { results } = await old.blocks.children.list({ block_id: doc.id });
        const start = results[0];
        assert.equal(start.archived, false, "2025-09-03 blocks still carry archived");
        await old.blocks.children.append({ block_id: doc.id, children: [{ paragraph: { rich_text: text("after start") } }], after: start.id });
        assert.deepEqual((await listAll(doc.id)).slice(0, 3), ["start", "after start", "one"]);
        await expectApiError(old.blocks.children.append({ block_id: doc.id, children: [{ paragraph: { rich_text: text("x") } }], position: { type: "start" } }), {
            status: 400,
            code: "validation_error",
        });
    });

    it("lists children with pagination and nested children with has_children", async () => {
        const toggle = await conn.blocks.children.append({
            block_id: doc.id,
            children: [{ toggle: { rich_text: text("toggle"), children: [{ bulleted_list_item: { rich_text: text("inside") } }] } }],
        });
        const t = toggle.results[0];
        assert.equal(t.has_children, true);
        const inner = await conn.blocks.children.list({ block_id: t.id });
        assert.equal(inner.type, "block");
        assert.equal(inner.results[0].type, "bulleted_list_item");
        assert.deepEqual(inner.results[0].parent, { type: "block_id", block_id: t.id });
        const page1 = await conn.blocks.children.list({ block_id: doc.id, page_size: 2 });
        assert.equal(page1.results.length, 2);
        assert.equal(page1.has_more, true);
        const all = await collectPaginatedAPI(conn.blocks.children.list, { block_id: doc.id, page_size: 2 });
        assert.equal(all.length, 8);
        assert.equal(new Set(all.map(b => b.id)).size, 8);
        await expectApiError(conn.blocks.children.list({ block_id: doc.id, page_size: 101 }), { status: 400, code: "validation_error" });
    });

    it("retrieves, updates and deletes (trashes) a block", async () => {
        const { results } = await conn.blocks.children.list({ block_id: doc.id });
        const todo = results.find(b => b.type === "to_do");
        const got = await conn.blocks.retrieve({ block_id: todo.id });
        assert.equal(got.object, "block");
        assert.equal(got.to_do.checked, true);
        assert.deepEqual(got.parent, { type: "page_id", page_id: doc.id });
        assert.ok(!("archived" in got));
        const updated = await conn.blocks.update({ block_id: todo.id, to_do: { rich_text: text("todo (edited)"), checked: false } });
        assert.equal(updated.to_do.checked, false);
        assert.equal(updated.to_do.rich_text[0].plain_text, "todo (edited)");
        await expectApiError(conn.blocks.update({ block_id: todo.id, paragraph: { rich_text: text("wrong type") } }), {
            status: 400,
            code: "validation_error",
        });
        const deleted = await conn.blocks.delete({ block_id: todo.id });
        assert.equal(deleted.in_trash, true);
        assert.ok(!(await listAll(doc.id)).includes("todo (edited)"));
        assert.equal((await conn.blocks.retrieve({ block_id: todo.id })).in_trash, true);
        await expectApiError(conn.blocks.update({ block_id: todo.id, to_do: { checked: true } }), { status: 400, code: "validation_error" });
        const restored = await conn.blocks.update({ block_id: todo.id, in_trash: false });
        assert.equal(restored.in_trash, false);
        assert.ok((await listAll(doc.id)).includes("todo (edited)"));
    });

    it("treats pages as blocks (child_page) and enforces append limits", async () => {
        const asBlock = await conn.blocks.retrieve({ block_id: doc.id });
        assert.equal(asBlock.type, "child_page");
        assert.equal(asBlock.child_page.title, "Doc");
        assert.equal(asBlock.has_children, true);
        const rootChildren = await collectPaginatedAPI(conn.blocks.children.list, { block_id: ids.root });
        assert.ok(rootChildren.some(b => b.id === doc.id && b.type === "child_page"));
        assert.ok(rootChildren.some(b => b.id === ids.tasksDb && b.type === "child_database"));
        const many = Array.from({ length: 101 }, (_, i) => ({ paragraph: { rich_text: text(`p${i}`) } }));
        await expectApiError(conn.blocks.children.append({ block_id: doc.id, children: many }), { status: 400, code: "validation_error" });
        const deep = [{ toggle: { rich_text: text("1"), children: [{ toggle: { rich_text: text("2"), children: [{ toggle: { rich_text: text("3"), children: [{ paragraph: { rich_text: text("4") } }] } }] } }] } }];
        await expectApiError(conn.blocks.children.append({ block_id: doc.id, children: deep }), { status: 400, code: "validation_error" });
    });
});

describe("pagination over 250+ rows", () => {
    const N = 260;
    let bulkDs;
    before(async () => {
        const db = await owner.databases.create({
            parent: { type: "page_id", page_id: ids.root },
            title: text("Bulk"),
            initial_data_source: { properties: { Name: { title: {} }, N: { number: {} } } },
        });
        bulkDs = db.data_sources[0].id;
        for (let start = 0; start < N; start += 20) {
            await Promise.all(
                Array.from({ length: Math.min(20, N - start) }, (_, k) =>
                    owner.pages.create({
                        parent: { type: "data_source_id", data_source_id: bulkDs },
                        properties: { Name: { title: text(`Row ${start + k}`) }, N: { number: start + k } },
                    }),
                ),
            );
        }
    });

    it("returns every row exactly once over pages of 100", async () => {
        const sizes = [];
        const seen = new Set();
        let cursor;
        do {
            const res = await conn.dataSources.query({ data_source_id: bulkDs, start_cursor: cursor, sorts: [{ property: "N", direction: "ascending" }] });
            sizes.push(res.results.length);
            for (const p of res.results) seen.add(p.id);
            cursor = res.next_cursor ?? undefined;
        } while (cursor);
        assert.deepEqual(sizes, [100, 100, 60]);
        assert.equal(seen.size, N);
    });

    it("keeps sort order across pages and honours filters while paginating", async () => {
        const rows = await collectPaginatedAPI(conn.dataSources.query, {
            data_source_id: bulkDs,
            page_size: 37,
            sorts: [{ property: "N", direction: "descending" }],
        });
        assert.deepEqual(rows.map(r => r.properties.N.number), Array.from({ length: N }, (_, i) => N - 1 - i));
        const filtered = await collectPaginatedAPI(conn.dataSources.query, {
            data_source_id: bulkDs,
            page_size: 50,
            filter: { property: "N", number: { greater_than_or_equal_to: 100 } },
        });
        assert.equal(filtered.length, N - 100);
    });

    it("search pages over them as well", async () => {
        const hits = await collectPaginatedAPI(conn.search, { query: "Row ", filter: { property: "object", value: "page" }, page_size: 100 });
        assert.equal(hits.length, N);
    });
});
