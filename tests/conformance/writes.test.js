// Writing pages as the two-way sync does (issue 12): connection-1 writes every writable property
// type with pages.update and pages.create and reads each back as written (a date-only date stays
// date-only, a time keeps its offset, 4,500 characters of rich text in 3 items come back whole);
// each refusal of notion-api.md §3.2 / §7.2 reaches the SDK as an APIResponseError with Notion's
// code and changes nothing; the connection's writes carry its bot user as last_edited_by; an
// injected 409 surfaces as conflict_error.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { APIErrorCode } from "@notionhq/client";
import { CONNECTION_TOKEN, OWNER_TOKEN, collect, expectApiError, startEmulator, text } from "./lib/harness.js";

let emu;
let owner; // the person who built the workspace
let conn; // connection-1, the daemon's token
const ids = {};
const users = {};

const ZERO_TO_NINE = "0123456789";
const EMOJI = "\u{1F600}"; // outside the BMP: two UTF-16 code units

// Every property type of notion-api.md §6.3; Project relates to Projects, Total rolls up Hours.
function schema(projectsDs) {
    return {
        Name: { title: {} },
        Notes: { rich_text: {} },
        Estimate: { number: { format: "number" } },
        Done: { checkbox: {} },
        Area: { select: { options: [{ name: "Backend", color: "purple" }, { name: "Frontend", color: "blue" }] } },
        Tags: { multi_select: { options: [{ name: "A", color: "red" }, { name: "B", color: "green" }] } },
        Stage: { status: {} },
        Due: { date: {} },
        Site: { url: {} },
        Mail: { email: {} },
        Phone: { phone_number: {} },
        Owner: { people: {} },
        Spec: { files: {} },
        Project: { relation: { data_source_id: projectsDs, type: "single_property", single_property: {} } },
        Total: { rollup: { relation_property_name: "Project", rollup_property_name: "Hours", function: "sum" } },
        Calc: { formula: { expression: 'prop("Estimate") * 2' } },
        Created: { created_time: {} },
        Creator: { created_by: {} },
        Edited: { last_edited_time: {} },
        Editor: { last_edited_by: {} },
        Ticket: { unique_id: { prefix: "T" } },
        Go: { button: {} },
    };
}

before(async () => {
    emu = await startEmulator();
    await emu.control("rate_limit", { requests: 0 }); // 101 related pages and more
    owner = emu.client(OWNER_TOKEN);
    conn = emu.client(CONNECTION_TOKEN);
    users.owner = (await owner.users.me({})).id;
    users.bot = (await conn.users.me({})).id;

    const home = await owner.pages.create({ parent: { workspace: true }, properties: { title: { title: text("Two-way") } } });
    const projects = await owner.databases.create({
        parent: { page_id: home.id },
        title: text("Projects"),
        initial_data_source: { properties: { Name: { title: {} }, Hours: { number: {} } } },
    });
    ids.projectsDs = projects.data_sources[0].id;
    const tasks = await owner.databases.create({
        parent: { page_id: home.id },
        title: text("Tasks"),
        initial_data_source: { properties: schema(ids.projectsDs) },
    });
    ids.ds = tasks.data_sources[0].id;
    ids.projects = [];
    for (let i = 0; i < 101; ++i) {
        const project = await owner.pages.create({
            parent: { data_source_id: ids.projectsDs },
            properties: { Name: { title: text(`Project ${i}`) }, Hours: { number: i } },
        });
        ids.projects.push(project.id);
    }
    ids.row = (await owner.pages.create({ parent: { data_source_id: ids.ds }, properties: { Name: { title: text("Row") } } })).id;
    await emu.control("share", { token: CONNECTION_TOKEN, object_id: home.id });
});

after(async () => {
    await emu?.stop();
});

/** Writes one property of the row as connection-1; returns it as a retrieve reads it back. */
async function roundTrip(name, value) {
    const written = await conn.pages.update({ page_id: ids.row, properties: { [name]: value } });
    const read = await conn.pages.retrieve({ page_id: ids.row });
    assert.deepEqual(read.properties[name], written.properties[name], "the update's answer and a retrieve agree");
    assert.equal(read.properties[name].type, Object.keys(value)[0]);
    return read.properties[name][read.properties[name].type];
}

const optionNames = options => options.map(o => o.name);

describe("every writable type round-trips through pages.update", () => {
    it("title", async () => {
        const title = await roundTrip("Name", { title: [{ type: "text", text: { content: "Renamed row" } }] });
        assert.deepEqual(title.map(t => t.text), [{ content: "Renamed row", link: null }]);
        assert.equal(title[0].plain_text, "Renamed row");
    });

    it("rich_text: 4,500 characters sent as 3 items read back whole; links and annotations kept", async () => {
        const whole = ZERO_TO_NINE.repeat(450);
        const items = [whole.slice(0, 2000), whole.slice(2000, 4000), whole.slice(4000)];
        assert.deepEqual(items.map(s => s.length), [2000, 2000, 500]);
        const rich = await roundTrip("Notes", { rich_text: items.map(content => ({ type: "text", text: { content } })) });
        assert.equal(rich.length, 3);
        assert.equal(rich.map(t => t.plain_text).join(""), whole);
        assert.deepEqual(rich.map(t => t.text.content), items);
        // the property item endpoint agrees
        const pageItems = await collect(conn.pages.properties.retrieve, { page_id: ids.row, property_id: (await conn.pages.retrieve({ page_id: ids.row })).properties.Notes.id });
        assert.equal(pageItems.map(i => i.rich_text.plain_text).join(""), whole);

        const styled = await roundTrip("Notes", {
            rich_text: [
                { text: { content: "see ", link: null } },
                { text: { content: "docs", link: { url: "https://example.com/docs" } }, annotations: { bold: true, color: "red" } },
            ],
        });
        assert.deepEqual(styled[1].text, { content: "docs", link: { url: "https://example.com/docs" } });
        assert.equal(styled[1].href, "https://example.com/docs");
        assert.equal(styled[1].annotations.bold, true);
        assert.equal(styled[1].annotations.color, "red");
        assert.equal(styled[0].annotations.bold, false);
    });

    it("rich_text: 2,000 UTF-16 code units per item, so 1,000 emoji fit in one", async () => {
        const rich = await roundTrip("Notes", { rich_text: text(EMOJI.repeat(1000)) });
        assert.equal(rich[0].plain_text, EMOJI.repeat(1000));
    });

    it("number: integers, fractions, negatives and null", async () => {
        assert.equal(await roundTrip("Estimate", { number: 42 }), 42);
        assert.equal(await roundTrip("Estimate", { number: 3.5 }), 3.5);
        assert.equal(await roundTrip("Estimate", { number: -0.25 }), -0.25);
        assert.equal(await roundTrip("Estimate", { number: null }), null);
    });

    it("checkbox", async () => {
        assert.equal(await roundTrip("Done", { checkbox: true }), true);
        assert.equal(await roundTrip("Done", { checkbox: false }), false);
    });

    it("select: by name, by id, a new name becomes an option, null clears", async () => {
        const byName = await roundTrip("Area", { select: { name: "Backend" } });
        assert.deepEqual([byName.name, byName.color], ["Backend", "purple"]);
        const schemaOptions = (await conn.dataSources.retrieve({ data_source_id: ids.ds })).properties.Area.select.options;
        const frontend = schemaOptions.find(o => o.name === "Frontend");
        assert.equal((await roundTrip("Area", { select: { id: frontend.id } })).name, "Frontend");
        // notion-api.md §7.2: an unknown select name creates the option (the connection may edit the schema)
        const created = await roundTrip("Area", { select: { name: "Ops" } });
        assert.equal(created.name, "Ops");
        const grown = (await conn.dataSources.retrieve({ data_source_id: ids.ds })).properties.Area.select.options;
        assert.deepEqual(optionNames(grown), ["Backend", "Frontend", "Ops"]);
        assert.equal(await roundTrip("Area", { select: null }), null);
    });

    it("multi_select: replaces the whole list, in the order sent", async () => {
        assert.deepEqual(optionNames(await roundTrip("Tags", { multi_select: [{ name: "B" }, { name: "A" }] })), ["B", "A"]);
        assert.deepEqual(optionNames(await roundTrip("Tags", { multi_select: [{ name: "A" }] })), ["A"]);
        assert.deepEqual(await roundTrip("Tags", { multi_select: [] }), []);
    });

    it("status: an existing option by name or id, null clears", async () => {
        const done = await roundTrip("Stage", { status: { name: "Done" } });
        assert.equal(done.name, "Done");
        const options = (await conn.dataSources.retrieve({ data_source_id: ids.ds })).properties.Stage.status.options;
        const inProgress = options.find(o => o.name === "In progress");
        assert.equal((await roundTrip("Stage", { status: { id: inProgress.id } })).name, "In progress");
        assert.equal(await roundTrip("Stage", { status: null }), null);
    });

    it("date: a date-only date stays date-only, a time keeps its offset or time zone, ranges, null", async () => {
        const dates = [
            { start: "2026-06-01", end: null, time_zone: null },
            { start: "2026-06-01", end: "2026-06-03", time_zone: null },
            { start: "2026-06-01T09:00:00.000-04:00", end: null, time_zone: null },
            { start: "2026-06-01T23:30:00.000+05:30", end: "2026-06-02T01:00:00.000+05:30", time_zone: null },
            { start: "2026-06-01T09:00:00.000", end: "2026-06-01T10:30:00.000", time_zone: "America/New_York" },
        ];
        for (const date of dates) {
            assert.deepEqual(await roundTrip("Due", { date }), date);
        }
        // start only: end and time_zone read back as null
        assert.deepEqual(await roundTrip("Due", { date: { start: "2026-12-31" } }), { start: "2026-12-31", end: null, time_zone: null });
        assert.equal(await roundTrip("Due", { date: null }), null);
    });

    it("url, email and phone_number, and null clears them", async () => {
        assert.equal(await roundTrip("Site", { url: "https://example.com/a?b=c" }), "https://example.com/a?b=c");
        assert.equal(await roundTrip("Mail", { email: "ada@example.com" }), "ada@example.com");
        assert.equal(await roundTrip("Phone", { phone_number: "+1 415 555 0100" }), "+1 415 555 0100");
        const longest = `https://example.com/${"a".repeat(2000 - 20)}`;
        assert.equal(await roundTrip("Site", { url: longest }), longest);
        for (const [name, type] of [["Site", "url"], ["Mail", "email"], ["Phone", "phone_number"]]) {
            assert.equal(await roundTrip(name, { [type]: null }), null);
        }
    });

    it("people: users of the workspace, bots included", async () => {
        const people = await roundTrip("Owner", { people: [{ object: "user", id: users.owner }, { id: users.bot }] });
        assert.deepEqual(people.map(p => p.id), [users.owner, users.bot]);
        assert.deepEqual(await roundTrip("Owner", { people: [] }), []);
    });

    it("relation: replaces the list; 100 ids in one write, 25 in the page object, all through the property item", async () => {
        const two = await roundTrip("Project", { relation: [{ id: ids.projects[0] }, { id: ids.projects[1] }] });
        assert.deepEqual(two, [{ id: ids.projects[0] }, { id: ids.projects[1] }]);
        const page = await conn.pages.retrieve({ page_id: ids.row });
        assert.equal(page.properties.Project.has_more, false);
        assert.equal(page.properties.Total.rollup.number, 1); // Hours 0 + 1

        const hundred = ids.projects.slice(0, 100);
        const shown = await roundTrip("Project", { relation: hundred.map(id => ({ id })) });
        assert.equal(shown.length, 25);
        assert.equal((await conn.pages.retrieve({ page_id: ids.row })).properties.Project.has_more, true);
        const all = await collect(conn.pages.properties.retrieve, { page_id: ids.row, property_id: page.properties.Project.id });
        assert.deepEqual(all.map(i => i.relation.id), hundred);
        assert.deepEqual(await roundTrip("Project", { relation: [] }), []);
    });

    it("files: external files with their names", async () => {
        const files = [
            { name: "spec.pdf", type: "external", external: { url: "https://example.com/spec.pdf" } },
            { name: "Figma", type: "external", external: { url: "https://figma.com/file/x" } },
        ];
        assert.deepEqual(await roundTrip("Spec", { files: files.map(({ name, external }) => ({ name, external })) }), files);
        assert.deepEqual(await roundTrip("Spec", { files: [] }), []);
    });

    it("several properties in one write change only those; the others keep their values", async () => {
        await conn.pages.update({ page_id: ids.row, properties: { Estimate: { number: 5 }, Done: { checkbox: true } } });
        await conn.pages.update({ page_id: ids.row, properties: { Done: { checkbox: false } } });
        const page = await conn.pages.retrieve({ page_id: ids.row });
        assert.equal(page.properties.Estimate.number, 5);
        assert.equal(page.properties.Done.checkbox, false);
        assert.equal(page.properties.Calc.formula.number, 10);
    });
});

describe("Notion's refusals reach the SDK as APIResponseError codes and change nothing", () => {
    async function refused(properties, message) {
        const was = await conn.pages.retrieve({ page_id: ids.row });
        const error = await expectApiError(conn.pages.update({ page_id: ids.row, properties }), {
            status: 400,
            code: APIErrorCode.ValidationError,
            message,
        });
        assert.deepEqual(await conn.pages.retrieve({ page_id: ids.row }), was, "a refused write changes nothing");
        return error;
    }

    it("a rich text item of 2,001 characters", async () => {
        await refused({ Notes: { rich_text: text("x".repeat(2001)) } }, /rich_text\[0\]\.text\.content\.length should be ≤ `2000`, instead was `2001`/);
        await refused({ Name: { title: text("x".repeat(2001)) } }, /2000/);
    });

    it("a rich text item of 1,001 emoji (2,002 UTF-16 code units)", async () => {
        await refused({ Notes: { rich_text: text(EMOJI.repeat(1001)) } }, /instead was `2002`/);
    });

    it("101 rich text items", async () => {
        const items = Array.from({ length: 101 }, (_, i) => ({ text: { content: `${i}` } }));
        await refused({ Notes: { rich_text: items } }, /rich_text\.length should be ≤ `100`, instead was `101`/);
    });

    it("an unknown status option", async () => {
        await refused({ Stage: { status: { name: "Blocked" } } }, /Blocked/);
    });

    it("read-only properties: formula, created_time and the other computed types", async () => {
        await refused({ Calc: { formula: { number: 1 } } }, /read-only/);
        await refused({ Created: { created_time: "2026-01-01T00:00:00.000Z" } }, /read-only/);
        const others = {
            Total: { rollup: { number: 1 } },
            Creator: { created_by: { id: users.owner } },
            Edited: { last_edited_time: "2026-01-01T00:00:00.000Z" },
            Editor: { last_edited_by: { id: users.owner } },
            Ticket: { unique_id: { number: 7 } },
            Go: { button: {} },
        };
        for (const [name, value] of Object.entries(others)) await refused({ [name]: value }, /read-only/);
    });

    it("a relation of 101 ids", async () => {
        await refused({ Project: { relation: ids.projects.map(id => ({ id })) } }, /relation\.length should be ≤ `100`, instead was `101`/);
    });

    it("a number sent as a string", async () => {
        await refused({ Estimate: { number: "7" } }, /Estimate\.number should be a number/);
    });

    it("a select option with a comma", async () => {
        await refused({ Area: { select: { name: "Backend, Ops" } } }, /comma/);
        await refused({ Tags: { multi_select: [{ name: "A,B" }] } }, /comma/);
        const options = (await conn.dataSources.retrieve({ data_source_id: ids.ds })).properties.Area.select.options;
        assert.ok(!options.some(o => o.name.includes(",")), "no option was created");
    });

    it("values over the size limits: URL 2,000, email and phone 200, 101 multi-select options", async () => {
        await refused({ Site: { url: `https://example.com/${"a".repeat(2000 - 19)}` } }, /url\.length should be ≤ `2000`/);
        await refused({ Mail: { email: `${"a".repeat(189)}@example.com` } }, /≤ `200`/);
        await refused({ Phone: { phone_number: "1".repeat(201) } }, /≤ `200`/);
        await refused({ Tags: { multi_select: Array.from({ length: 101 }, (_, i) => ({ name: `t${i}` })) } }, /≤ `100`/);
    });

    it("wrong shapes: empty strings, a value of another type, dates that are not ISO 8601 or mix a time zone with an offset", async () => {
        await refused({ Site: { url: "" } });
        await refused({ Done: { checkbox: "yes" } });
        await refused({ Estimate: { rich_text: text("7") } }, /Estimate is expected to be number/);
        await refused({ Due: { date: { start: "June 1st" } } }, /start/);
        await refused({ Due: { date: { start: "2026-06-01T09:00:00.000-04:00", time_zone: "America/New_York" } } }, /time_zone/);
        await refused({ Due: { date: { start: "2026-06-01", time_zone: "America/New_York" } } }, /time_zone/);
        await refused({ Owner: { people: [{ id: "11111111-2222-4333-8444-555555555555" }] } });
        await refused({ Spec: { files: [{ external: { url: "https://example.com/x" } }] } }, /name/);
        await refused({ Nope: { number: 1 } }, /Nope is not a property that exists/);
    });

    it("one bad value refuses the whole write", async () => {
        await refused({ Estimate: { number: 99 }, Area: { select: { name: "Brand new" } }, Stage: { status: { name: "Blocked" } } });
        const options = (await conn.dataSources.retrieve({ data_source_id: ids.ds })).properties.Area.select.options;
        assert.ok(!options.some(o => o.name === "Brand new"), "the refused write added no select option");
    });
});

describe("pages.create in a data source", () => {
    it("creates a row with several types that reads back as written, the connection as its creator", async () => {
        const properties = {
            Name: { title: text("Created by the daemon") },
            Notes: { rich_text: text("two-way") },
            Estimate: { number: 8 },
            Done: { checkbox: true },
            Area: { select: { name: "Frontend" } },
            Tags: { multi_select: [{ name: "A" }, { name: "B" }] },
            Stage: { status: { name: "In progress" } },
            Due: { date: { start: "2026-06-15" } },
            Site: { url: "https://example.com/new" },
            Mail: { email: "new@example.com" },
            Phone: { phone_number: "+49 30 1234567" },
            Owner: { people: [{ id: users.owner }] },
            Spec: { files: [{ name: "a.png", external: { url: "https://example.com/a.png" } }] },
            Project: { relation: [{ id: ids.projects[2] }, { id: ids.projects[3] }] },
        };
        const created = await conn.pages.create({ parent: { data_source_id: ids.ds }, properties });
        const read = await conn.pages.retrieve({ page_id: created.id });
        assert.deepEqual(read, created);
        assert.deepEqual(read.parent, { type: "data_source_id", data_source_id: ids.ds, database_id: read.parent.database_id });
        const p = read.properties;
        assert.equal(p.Name.title[0].plain_text, "Created by the daemon");
        assert.equal(p.Notes.rich_text[0].plain_text, "two-way");
        assert.equal(p.Estimate.number, 8);
        assert.equal(p.Done.checkbox, true);
        assert.equal(p.Area.select.name, "Frontend");
        assert.deepEqual(optionNames(p.Tags.multi_select), ["A", "B"]);
        assert.equal(p.Stage.status.name, "In progress");
        assert.deepEqual(p.Due.date, { start: "2026-06-15", end: null, time_zone: null });
        assert.equal(p.Site.url, "https://example.com/new");
        assert.equal(p.Mail.email, "new@example.com");
        assert.equal(p.Phone.phone_number, "+49 30 1234567");
        assert.deepEqual(p.Owner.people.map(u => u.id), [users.owner]);
        assert.deepEqual(p.Spec.files, [{ name: "a.png", type: "external", external: { url: "https://example.com/a.png" } }]);
        assert.deepEqual(p.Project.relation, [{ id: ids.projects[2] }, { id: ids.projects[3] }]);
        assert.equal(p.Total.rollup.number, 5); // Hours 2 + 3
        assert.equal(p.Calc.formula.number, 16);
        assert.equal(typeof p.Ticket.unique_id.number, "number");
        assert.equal(p.Ticket.unique_id.prefix, "T");
        assert.equal(read.created_by.id, users.bot);
        assert.equal(read.last_edited_by.id, users.bot);
        assert.equal(p.Creator.created_by.id, users.bot);
        assert.equal(p.Editor.last_edited_by.id, users.bot);
        // and the row is in the data source
        const rows = await collect(conn.dataSources.query, { data_source_id: ids.ds });
        assert.ok(rows.some(r => r.id === created.id));
    });

    it("a refused create makes no page", async () => {
        const rows = (await collect(conn.dataSources.query, { data_source_id: ids.ds })).length;
        await expectApiError(
            conn.pages.create({ parent: { data_source_id: ids.ds }, properties: { Name: { title: text("bad") }, Stage: { status: { name: "Blocked" } } } }),
            { status: 400, code: APIErrorCode.ValidationError },
        );
        await expectApiError(
            conn.pages.create({ parent: { data_source_id: ids.ds }, properties: { Calc: { formula: { string: "x" } } } }),
            { status: 400, code: APIErrorCode.ValidationError, message: /read-only/ },
        );
        assert.equal((await collect(conn.dataSources.query, { data_source_id: ids.ds })).length, rows);
    });
});

describe("last_edited_by and last_edited_time of a connection's writes", () => {
    async function stampsAt(iso, write) {
        await emu.control("clock", { set: iso, freeze: true });
        await write();
        const page = await owner.pages.retrieve({ page_id: ids.row });
        return {
            by: page.last_edited_by.id,
            at: page.last_edited_time,
            editor: page.properties.Editor.last_edited_by.id,
            edited: page.properties.Edited.last_edited_time,
            creator: page.created_by.id,
        };
    }

    it("an update, a trash and a restore by the connection carry its bot user; the time moves, rounded down to the minute", async () => {
        const bot = await conn.users.me({});
        assert.equal(bot.type, "bot");
        let s = await stampsAt("2026-07-01T12:00:30.000Z", () => owner.pages.update({ page_id: ids.row, properties: { Estimate: { number: 1 } } }));
        assert.deepEqual(s, { by: users.owner, at: "2026-07-01T12:00:00.000Z", editor: users.owner, edited: "2026-07-01T12:00:00.000Z", creator: users.owner });
        s = await stampsAt("2026-07-01T12:03:59.999Z", () => conn.pages.update({ page_id: ids.row, properties: { Estimate: { number: 2 } } }));
        assert.deepEqual(s, { by: users.bot, at: "2026-07-01T12:03:00.000Z", editor: users.bot, edited: "2026-07-01T12:03:00.000Z", creator: users.owner });
        s = await stampsAt("2026-07-01T12:05:10.000Z", () => owner.pages.update({ page_id: ids.row, properties: { Estimate: { number: 3 } } }));
        assert.equal(s.by, users.owner);
        s = await stampsAt("2026-07-01T12:06:01.000Z", () => conn.pages.update({ page_id: ids.row, in_trash: true }));
        assert.deepEqual([s.by, s.at], [users.bot, "2026-07-01T12:06:00.000Z"]);
        assert.equal((await conn.pages.retrieve({ page_id: ids.row })).in_trash, true);
        s = await stampsAt("2026-07-01T12:07:01.000Z", () => owner.pages.update({ page_id: ids.row, in_trash: false }));
        assert.equal(s.by, users.owner);
        s = await stampsAt("2026-07-01T12:08:01.000Z", () => conn.blocks.delete({ block_id: ids.row }));
        assert.deepEqual([s.by, s.at], [users.bot, "2026-07-01T12:08:00.000Z"]);
        s = await stampsAt("2026-07-01T12:09:01.000Z", () => conn.pages.update({ page_id: ids.row, in_trash: false }));
        assert.deepEqual([s.by, s.at], [users.bot, "2026-07-01T12:09:00.000Z"]);
        assert.equal((await conn.pages.retrieve({ page_id: ids.row })).in_trash, false);
        // queries show the same stamps
        const rows = await collect(conn.dataSources.query, {
            data_source_id: ids.ds,
            filter: { property: "Editor", last_edited_by: { contains: users.bot } },
        });
        assert.ok(rows.some(r => r.id === ids.row && r.last_edited_by.id === users.bot));
    });

    it("a second write in the same minute keeps last_edited_time", async () => {
        let s = await stampsAt("2026-07-01T12:10:05.000Z", () => conn.pages.update({ page_id: ids.row, properties: { Estimate: { number: 4 } } }));
        assert.equal(s.at, "2026-07-01T12:10:00.000Z");
        s = await stampsAt("2026-07-01T12:10:55.000Z", () => owner.pages.update({ page_id: ids.row, properties: { Estimate: { number: 5 } } }));
        assert.deepEqual([s.by, s.at], [users.owner, "2026-07-01T12:10:00.000Z"]);
        await emu.control("clock", { set: "2026-07-01T12:11:00.000Z", freeze: false });
    });
});

describe("an injected 409 surfaces as conflict_error", () => {
    const patchCount = async status => {
        const { counters } = await emu.get("requests");
        return counters
            .filter(c => c.connection === "connection-1" && c.method === "PATCH" && c.route === "/v1/pages/{id}" && c.status === status)
            .reduce((n, c) => n + c.count, 0);
    };

    it("PATCH /v1/pages/: the SDK raises conflict_error once (no retry), the page is unchanged, the next write goes through", async () => {
        const was = await conn.pages.retrieve({ page_id: ids.row });
        const conflicts = await patchCount(409);
        await emu.control("faults", {
            match: { method: "PATCH", path_prefix: "/v1/pages/", token: CONNECTION_TOKEN },
            count: 1,
            fault: { status: 409, code: "conflict_error" },
        });
        const error = await expectApiError(conn.pages.update({ page_id: ids.row, properties: { Estimate: { number: 409 } } }), {
            status: 409,
            code: APIErrorCode.ConflictError,
            message: /^Conflict occurred while saving\. Please try again\.$/,
        });
        assert.equal(error.name, "APIResponseError");
        assert.equal(await patchCount(409), conflicts + 1, "the SDK does not retry a 409");
        assert.deepEqual(await conn.pages.retrieve({ page_id: ids.row }), was);
        const written = await conn.pages.update({ page_id: ids.row, properties: { Estimate: { number: 409 } } });
        assert.equal(written.properties.Estimate.number, 409);
    });

    it("Notion's 409 body, on the wire; a fault naming only the status gets conflict_error", async () => {
        await emu.control("faults", { match: { method: "PATCH", path_prefix: "/v1/pages/" }, count: 1, fault: { status: 409 } });
        const res = await fetch(`${emu.baseUrl}/v1/pages/${ids.row}`, {
            method: "PATCH",
            headers: { authorization: `Bearer ${CONNECTION_TOKEN}`, "Notion-Version": "2026-03-11", "content-type": "application/json" },
            body: JSON.stringify({ properties: { Estimate: { number: 1 } } }),
        });
        assert.equal(res.status, 409);
        const body = await res.json();
        assert.deepEqual(Object.keys(body).sort(), ["code", "message", "object", "request_id", "status"]);
        assert.deepEqual([body.object, body.status, body.code, body.message], ["error", 409, "conflict_error", "Conflict occurred while saving. Please try again."]);
        assert.equal((await conn.pages.retrieve({ page_id: ids.row })).properties.Estimate.number, 409);
    });

    it("POST /v1/pages: a 409 creates no page", async () => {
        const rows = (await collect(conn.dataSources.query, { data_source_id: ids.ds })).length;
        await emu.control("faults", { match: { method: "POST", path_prefix: "/v1/pages", token: "connection-1" }, count: 1, fault: { status: 409, code: "conflict_error" } });
        await expectApiError(conn.pages.create({ parent: { data_source_id: ids.ds }, properties: { Name: { title: text("409") } } }), {
            status: 409,
            code: APIErrorCode.ConflictError,
        });
        assert.equal((await collect(conn.dataSources.query, { data_source_id: ids.ds })).length, rows);
    });
});
