// Drives headless Debian chromium through the idsync console, as an operator would.
// Started by tests/console.rs, which set up the daemon (a held run, open conflicts) and
// checks the database and the admin API afterwards. Environment:
//   CONSOLE_URL   http://127.0.0.1:<admin port>   ADMIN_TOKEN   the admin token
//   TENANT        the tenant to open              HISTORY_USER  a UPN whose history exists
//   RESULT_FILE   where to write what the Rust test checks (JSON)
//   SCREENSHOTS   a folder for the overview and tenant screenshots (optional)
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, request } from "playwright-core";

const base = process.env.CONSOLE_URL;
const token = process.env.ADMIN_TOKEN;
const tenant = process.env.TENANT ?? "default";
const historyUser = process.env.HISTORY_USER;
const resultFile = process.env.RESULT_FILE;
const shots = process.env.SCREENSHOTS;
assert.ok(base && token && historyUser && resultFile, "CONSOLE_URL, ADMIN_TOKEN, HISTORY_USER and RESULT_FILE are required");

const result = { forged: {} };

function step(name) {
  console.log(`step: ${name}`);
}

async function signIn(page) {
  step("sign in");
  await page.goto(`${base}/ui/`);
  assert.match(page.url(), /\/ui\/login$/, "an anonymous visit lands on the sign-in form");
  await page.fill("#token", "not-the-token");
  await page.click("button[type=submit]");
  await page.waitForSelector("p.error");
  await page.fill("#token", token);
  await page.fill("#operator", "ann");
  await Promise.all([page.waitForURL(`${base}/ui/`), page.click("button[type=submit]")]);
  assert.equal(await page.textContent(".who strong"), "ann");
}

async function overview(page) {
  step("overview");
  const row = page.locator(`tr[data-tenant="${tenant}"]`);
  await row.waitFor();
  const health = await row.locator("td").nth(2).textContent();
  assert.match(health, /held/, `the overview shows the held run: ${health}`);
  assert.match(health, /conflicts open/, `the overview shows the open conflicts: ${health}`);
  await page.fill("input[name=q]", "no-such-tenant-zz");
  await page.click("form.toolbar button");
  await page.waitForSelector("text=No tenant matches.");
  await page.fill("input[name=q]", tenant);
  await page.selectOption("select[name=sort]", "health");
  await page.click("form.toolbar button");
  await row.waitFor();
  if (shots) await page.screenshot({ path: join(shots, "console-overview.png"), fullPage: true });
  await Promise.all([page.waitForURL(`${base}/ui/tenants/${tenant}`), row.locator("a").first().click()]);
}

async function approveHeld(page) {
  step("held run: approve, then the next run applies");
  const held = page.locator("#held-run");
  await held.waitFor();
  const heldRun = Number(await held.getAttribute("data-run"));
  const text = await held.textContent();
  assert.match(text, /deactivations/, text);
  assert.match(await held.locator("pre.plan").textContent(), /deactivate user/);
  if (shots) await page.screenshot({ path: join(shots, "console-tenant.png"), fullPage: true });
  await held.locator("button", { hasText: "Approve" }).click();
  await page.waitForSelector("p.flash");
  assert.match(await page.textContent("p.flash"), /Approved/);
  await page.locator('tr[data-connector] button', { hasText: "Run now" }).first().click();
  await page.waitForSelector("p.flash");
  const flash = await page.textContent("p.flash");
  const started = Number(/run (\d+)/.exec(flash)?.[1]);
  assert.ok(started > heldRun, `a new run started: ${flash}`);
  for (let i = 0; ; i++) {
    await page.goto(`${base}/ui/tenants/${tenant}`);
    const status = await page.locator(`#runs tr[data-run="${started}"] .badge`).textContent();
    if (status !== "running") {
      assert.equal(status, "succeeded", `the approved run applies`);
      break;
    }
    assert.ok(i < 100, "the run did not end");
    await page.waitForTimeout(200);
  }
  assert.equal(await page.locator("#held-run").count(), 0, "no run is held any more");
  result.held_run = heldRun;
  result.applied_run = started;
}

async function resolveConflict(page) {
  step("resolve a conflict");
  const conflict = page.locator("div.conflict").first();
  const id = Number(await conflict.getAttribute("data-conflict"));
  const before = await page.locator("div.conflict").count();
  await conflict.locator("button", { hasText: "Keep separate" }).click();
  await page.waitForSelector("p.flash");
  assert.match(await page.textContent("p.flash"), /kept separate/);
  assert.equal(await page.locator(`div.conflict[data-conflict="${id}"]`).count(), 0);
  assert.equal(await page.locator("div.conflict").count(), before - 1);
  result.resolved_conflict = id;
  result.open_conflict = Number(await page.locator("div.conflict").first().getAttribute("data-conflict"));
}

async function dryRun(page) {
  step("dry run shows the plan");
  await page.locator('tr[data-connector] button', { hasText: "Dry run" }).first().click();
  await page.waitForSelector("#plan");
  assert.match(await page.textContent("#plan"), /Nothing was written/);
  await page.goto(`${base}/ui/tenants/${tenant}`);
}

async function history(page) {
  step("find a user's history");
  await page.fill('input[name=user]', historyUser);
  await Promise.all([page.waitForURL(/\/log\?/), page.click("text=Find history")]);
  const rows = page.locator("#log tr[data-event]");
  assert.ok((await rows.count()) >= 2, "the user has a history");
  const all = await page.textContent("#log");
  assert.match(all, /create/);
  assert.match(all, /deactivate/);
  assert.ok(all.includes(historyUser));
  await page.goto(`${base}/ui/tenants/${tenant}`);
}

async function rotateToken(page) {
  step("rotate the SCIM token");
  await page.locator("#scim-token button", { hasText: "Rotate token" }).click();
  const shown = (await page.locator("#new-token").textContent()).trim();
  assert.ok(shown.length >= 32, "the new token is shown");
  result.scim_token = shown;
  await page.goto(`${base}/ui/tenants/${tenant}`);
  assert.ok(!(await page.content()).includes(shown), "the token is shown once only");
  assert.ok(!(await page.content()).includes(token), "the admin token is never in a page");
}

/// A page on another origin (another port) whose form posts to the console.
async function forgedCrossSite(context, page) {
  step("forged requests are refused");
  const target = `${base}/ui/tenants/${tenant}/conflicts/${result.open_conflict}/resolve`;
  const evil = createServer((_, res) => {
    res.setHeader("content-type", "text/html");
    res.end(`<form id=f method=post action="${target}"><input name=action value=dismiss><input name=csrf value=guess></form>
      <script>document.getElementById('f').submit()</script>`);
  });
  await new Promise((r) => evil.listen(0, "127.0.0.1", r));
  const evilUrl = `http://127.0.0.1:${evil.address().port}/`;
  const forged = await context.newPage();
  const answer = forged.waitForResponse((r) => r.url() === target);
  await forged.goto(evilUrl);
  result.forged.cross_site_form = (await answer).status();
  await forged.close();
  evil.close();

  const csrf = await page.getAttribute('input[name=csrf]', "value");
  const rotate = `${base}/ui/tenants/${tenant}/scim-token/rotate`;
  const post = (url, form, headers = {}) =>
    context.request.post(url, { form, headers, maxRedirects: 0 }).then((r) => r.status());
  result.forged.no_token = await post(target, { action: "dismiss" });
  result.forged.wrong_token = await post(target, { action: "dismiss", csrf: csrf.slice(0, -2) + "xx" });
  result.forged.foreign_origin = await post(rotate, { csrf }, { origin: "http://evil.example" });
  result.forged.cross_site_fetch = await post(rotate, { csrf }, { "sec-fetch-site": "cross-site" });
  // A client with no session cookie at all.
  const stranger = await request.newContext();
  result.forged.no_session = await stranger
    .post(rotate, { form: { csrf }, maxRedirects: 0 })
    .then((r) => r.status());
  await stranger.dispose();
  for (const [name, status] of Object.entries(result.forged)) {
    assert.equal(status, 403, `${name} must be refused with 403`);
  }
}

// A fresh profile each time (Playwright takes it as launchPersistentContext's folder and
// passes it to chromium as --user-data-dir).
const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "idsync-chromium-")), {
  executablePath: "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  await signIn(page);
  await overview(page);
  await approveHeld(page);
  await resolveConflict(page);
  await dryRun(page);
  await history(page);
  await rotateToken(page);
  await forgedCrossSite(context, page);
  writeFileSync(resultFile, JSON.stringify(result));
  console.log("console browser test passed");
} finally {
  await context.close();
}
