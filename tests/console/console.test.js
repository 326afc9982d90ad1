// The operator console in Debian's chromium (headless), driven by puppeteer-core, against a real
// notion-syncd and notion-emulator (lib/harness.js): the overview shows the job and its targets,
// a chart has data points, a held delete approved on the page reaches the target, a conflict is
// resolved on the page, the page logs no error, axe-core finds no serious accessibility
// violation, and with a control token the page asks for it while the API answers 401.
// Screenshots of the overview go to $CONSOLE_SCREENSHOTS (default: the test's build dir).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import puppeteer from "puppeteer-core";
import { Harness, waitUntil } from "./lib/harness.js";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const chromium = process.env.CHROMIUM || "/usr/bin/chromium";
const screenshots = process.env.CONSOLE_SCREENSHOTS || join(process.cwd(), "screenshots");

async function browse(harness, fn) {
  const browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
  });
  const problems = [];
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1000 });
    page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
    page.on("dialog", (d) => d.accept(page.dialogAnswer ?? ""));
    await fn(page, problems);
  } finally {
    await browser.close();
  }
  return problems;
}

async function textOf(page, selector) {
  return page.$eval(selector, (e) => e.textContent);
}

async function clickButton(page, label) {
  const clicked = await page.evaluate((wanted) => {
    const button = [...document.querySelectorAll("button")].find((b) => b.getAttribute("aria-label") === wanted || b.textContent === wanted);
    if (!button) return false;
    button.click();
    return true;
  }, label);
  assert.ok(clicked, `a button "${label}" on the page`);
}

async function axe(page) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
  return result.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.help} (${v.nodes.length} nodes)`);
}

test("the overview shows the job and targets, charts have points, a held delete is approved from the page", async () => {
  const h = new Harness({ tasks: 10, maxDeleteRatio: 0.2, historyStepMs: 500 });
  try {
    await h.start();
    await waitUntil("all rows in the target", () => h.rows("tasks") === 10);
    // Four of ten pages trashed in Notion: the delete brake holds them.
    for (const id of h.pages.slice(0, 4)) await h.emulatorApi("PATCH", `/v1/pages/${id}`, { in_trash: true });
    await waitUntil("held deletes", async () => (await h.status()).jobs[0].held_deletes === 4, 30000);

    const problems = await browse(h, async (page) => {
      await page.goto(h.url + "/", { waitUntil: "load" });
      await page.waitForFunction(() => document.querySelector("#jobs tbody td")?.textContent === "tasks");
      assert.match(await textOf(page, "#jobs tbody"), /tasks.*ok/s);
      assert.match(await textOf(page, "#targets tbody"), /tasks\/db/);
      assert.match(await textOf(page, "#targets tbody"), /tasks\/log/);
      assert.match(await textOf(page, "#summary"), /1 jobs/);
      // The charts: uPlot drew each with the samples of the history.
      await page.waitForFunction(() => Number(document.getElementById("chart-requests").dataset.points) >= 2, { timeout: 20000 });
      assert.equal(await page.$$eval(".chart canvas", (c) => c.length), 4);

      mkdirSync(screenshots, { recursive: true });
      await page.screenshot({ path: join(screenshots, "console-overview.png"), fullPage: true });

      // The four held deletes with their titles; approve the first from the page.
      const held = await textOf(page, "#held tbody");
      assert.match(held, /Task 0/);
      await clickButton(page, "Approve the delete of Task 0");
      await waitUntil("the approved delete in the target", () => h.rows("tasks") === 9);
      await page.waitForFunction(() => document.querySelectorAll("#held tbody tr").length === 3, { timeout: 20000 });
      assert.doesNotMatch(await textOf(page, "#held tbody"), /Task 0/);

      // The plan of the next cycle, as a table (nothing is waiting here).
      await page.click("#plan-load");
      await page.waitForFunction(() => !document.getElementById("plan").hidden, { timeout: 20000 });
      assert.match(await textOf(page, "#plan tbody"), /nothing to do|deliver|update/);

      const violations = await axe(page);
      assert.deepEqual(violations, [], "axe-core: serious or critical violations");
    });
    assert.deepEqual(problems, [], "the page logged no error");
  } finally {
    await h.stop();
  }
});

test("a conflict is shown with both values and resolved from the page", async () => {
  const h = new Harness({ tasks: 3, twoWay: true });
  try {
    await h.start();
    await waitUntil("all rows in the target", () => h.rows("tasks") === 3);
    // Both sides change Estimate of Task 1 (policy manual): a conflict waits for a person.
    const page1 = h.pages[1];
    h.sql(`UPDATE tasks SET estimate = 50 WHERE page_id = '${page1}'`);
    await h.emulatorApi("PATCH", `/v1/pages/${page1}`, { properties: { Estimate: { number: 70 } } });
    await waitUntil("a conflict", async () => {
      const r = await fetch(h.url + "/v1/conflicts");
      return (await r.json()).conflicts.length === 1;
    }, 30000);

    const problems = await browse(h, async (page) => {
      await page.goto(h.url + "/", { waitUntil: "load" });
      await page.waitForFunction(() => document.querySelectorAll("#conflicts tbody tr td").length > 1);
      const row = await textOf(page, "#conflicts tbody");
      assert.match(row, /Estimate/);
      assert.match(row, /70/);
      assert.match(row, /50/);
      await clickButton(page, (await page.$eval("#conflicts tbody button", (b) => b.getAttribute("aria-label"))));
      await page.waitForFunction(() => document.querySelector("#conflicts tbody td.empty") !== null, { timeout: 20000 });
    });
    assert.deepEqual(problems, [], "the page logged no error");
    // "Take Notion's": the target gets Notion's value back; Notion keeps it.
    await waitUntil("Notion's value in the target", () => h.sqlValue(`SELECT estimate FROM tasks WHERE page_id = '${page1}'`) === 70);
    const notion = await h.emulatorApi("GET", `/v1/pages/${page1}`);
    assert.equal(notion.properties.Estimate.number, 70);
  } finally {
    await h.stop();
  }
});

test("with a control token the page asks for it, the API answers 401 without it", async () => {
  const token = "console-browser-test-token";
  const h = new Harness({ tasks: 2, authToken: token });
  try {
    await h.start();
    const api = await fetch(h.url + "/v1/status");
    assert.equal(api.status, 401);
    const problems = await browse(h, async (page) => {
      await page.goto(h.url + "/", { waitUntil: "load" });
      await page.waitForFunction(() => !document.getElementById("login").hidden);
      assert.equal(await page.$eval("#console", (e) => e.hidden), true);
      assert.deepEqual(await axe(page), [], "axe-core on the login form");
      await page.type("#token", "wrong");
      await page.click("#login-form button[type=submit]");
      await page.waitForFunction(() => document.getElementById("login-error").textContent.includes("refused"));
      await page.type("#token", token);
      await page.click("#login-form button[type=submit]");
      await page.waitForFunction(() => !document.getElementById("console").hidden);
      assert.match(await textOf(page, "#jobs tbody"), /tasks/);
      // The token is in this tab's sessionStorage only: no cookie.
      assert.deepEqual(await page.cookies(), []);
    });
    // A 401 answer is logged by Chromium as a failed resource load: that one is expected.
    assert.deepEqual(problems.filter((p) => !p.includes("401")), []);
  } finally {
    await h.stop();
  }
});
