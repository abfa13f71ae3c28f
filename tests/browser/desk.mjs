// The agent desktop and the wallboard in real headless Chromium (Debian's
// `chromium`), driven by tests/e2e/desk.rs: the Rust test starts the server
// and the SIPp caller; this script is the agent and the supervisor. The two
// talk over lines: this script prints `NEED <what>` and waits for a line on
// standard input before going on; it prints `STEP <name>` as it goes, and
// `DONE` at the end. Any failure exits non-zero with the reason.
//
// Environment: DESK_URL (the agent API's base URL), CHROMIUM (the browser),
// SHOTS (where the screenshots go).
import puppeteer from "puppeteer-core";
import { createInterface } from "node:readline";

const url = process.env.DESK_URL;
const shots = process.env.SHOTS;
const lines = createInterface({ input: process.stdin });
const waiting = [];
lines.on("line", (line) => { const next = waiting.shift(); if (next) next(line); });
const need = (what) => new Promise((resolve) => { waiting.push(resolve); console.log(`NEED ${what}`); });
const step = (name) => console.log(`STEP ${name}`);
const fail = (message) => { console.log(`FAIL ${message}`); process.exit(1); };
const TIMEOUT = 20_000;

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
    "--lang=en-GB",
  ],
});
process.on("exit", () => { try { browser.process()?.kill("SIGKILL"); } catch { /* gone */ } });

async function open(context) {
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  await page.setViewport({ width: 1280, height: 860 });
  page.on("pageerror", (e) => console.log(`PAGEERROR ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") console.log(`CONSOLE ${m.text()}`); });
  await page.goto(`${url}/desk/`);
  return page;
}

async function login(page, name, password) {
  await page.waitForSelector("#login-form", { visible: true });
  await page.$eval("#login-name", (el) => { el.value = ""; });
  await page.type("#login-name", name);
  await page.$eval("#login-password", (el) => { el.value = ""; });
  await page.type("#login-password", password);
  await page.click('#login-form button[type="submit"]');
}

const text = (page, selector) => page.$eval(selector, (el) => el.textContent.trim());
const waitText = (page, selector, want) =>
  page.waitForFunction((s, w) => {
    const el = document.querySelector(s);
    return el && el.offsetParent !== null && el.textContent.includes(w);
  }, { timeout: TIMEOUT }, selector, want).catch(async () => {
    const got = await page.$eval(selector, (el) => el.textContent).catch(() => "(missing)");
    fail(`${selector} never showed "${want}": it shows "${got}"`);
  });

try {
  // ---- ann logs in: a wrong password first --------------------------------------
  const annContext = await browser.createBrowserContext();
  const ann = await open(annContext);
  await login(ann, "ann", "wrong");
  await waitText(ann, "#login-error", "wrong password");
  step("wrong password refused");
  await login(ann, "ann", "pw-ann");
  await ann.waitForSelector("#app", { visible: true });
  await waitText(ann, "#me", "ann");
  // The session cookie is HttpOnly: the page's script cannot read it.
  const cookies = await ann.evaluate(() => document.cookie);
  if (cookies.includes("dialect_session")) fail("the session cookie is readable by scripts");
  // The browser phone connects over WebRTC.
  await ann.waitForSelector('#phone-status[data-state="connected"]');
  step("ann logged in, browser phone connected");

  // Another agent's view and stream are refused to ann's session.
  const foreign = await ann.evaluate(async () => {
    const csrf = (await (await fetch("/desk/session")).json()).csrf;
    const other = await fetch("/api/agents/sue", { headers: { "X-CSRF-Token": csrf } });
    const noCsrf = await fetch("/api/agents/ann");
    const socket = await new Promise((resolve) => {
      const ws = new WebSocket(`ws://${location.host}/api/agents/sue/events`);
      ws.onopen = () => resolve("open");
      ws.onerror = () => resolve("refused");
    });
    return { other: other.status, noCsrf: noCsrf.status, socket };
  });
  if (foreign.other !== 403 || foreign.noCsrf !== 403 || foreign.socket !== "refused") {
    fail(`another agent's data or stream was not refused: ${JSON.stringify(foreign)}`);
  }
  step("other agents' view and stream refused");

  // ---- sue opens the wallboard --------------------------------------------------
  const sueContext = await browser.createBrowserContext();
  const sue = await open(sueContext);
  await login(sue, "sue", "pw-sue");
  await sue.waitForSelector("#tab-wallboard", { visible: true });
  await sue.click("#tab-wallboard");
  await sue.waitForSelector("#view-wallboard", { visible: true });
  await waitText(sue, '#wb-agents tr[data-agent="ann"] .agent-state', "Logged out");
  step("wallboard open");

  // ---- ann logs in to the ACD: not ready ---------------------------------------
  await ann.select("#state-select", "login");
  await waitText(ann, "#state-now", "Not ready");
  await waitText(sue, '#wb-agents tr[data-agent="ann"] .agent-state', "Not ready");
  step("ann not ready, on the wallboard too");

  // ---- a caller waits: the wallboard shows it ------------------------------------
  await need("caller");
  await waitText(sue, '#wb-queues tr[data-queue="sales"] .waiting', "1");
  step("wallboard shows the waiting call");

  // ---- ann goes available: the call rings, the pop-over shows ----------------
  await ann.select("#state-select", "available");
  await ann.waitForSelector("#offer", { visible: true });
  await waitText(ann, "#offer-campaign", "shop");
  await waitText(ann, "#offer-queue", "sales");
  await waitText(ann, "#offer-caller", "600100200");
  await waitText(sue, '#wb-agents tr[data-agent="ann"] .agent-state', "Ringing");
  step("pop-over shows the offered call");
  await ann.click("#offer-accept");
  await ann.waitForSelector("#call", { visible: true });
  await waitText(ann, "#call-caller", "600100200");
  await waitText(ann, "#state-now", "On a call");
  await waitText(sue, '#wb-agents tr[data-agent="ann"] .agent-state', "On a call");
  // The call's data: a secure value is masked, an editable one is saved.
  await ann.waitForSelector("#data-agent_note");
  const pin = await ann.$eval("#data-pin", (el) => el.value);
  if (pin.includes("4321")) fail("the secure call data is shown");
  await ann.type("#data-agent_note", "wants the red one");
  await ann.keyboard.press("Tab");
  await ann.waitForFunction(() => document.querySelector("#data-agent_note").dataset.version === "2");
  step("ann answered in the browser");
  await need("audio");
  // And the other way: the caller's leg reaches the browser (RTP in).
  const received = () => ann.evaluate(async () => {
    let n = 0;
    (await window.dialectPhone.pc.getStats()).forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "audio") n = r.packetsReceived;
    });
    return n;
  });
  const first = await received();
  await new Promise((r) => setTimeout(r, 1000));
  const second = await received();
  if (!(second - first >= 30)) fail(`the browser got ${second - first} RTP packets in 1 s from the call`);
  step(`the browser hears the call: ${second - first} packets in 1 s`);
  if (shots) await ann.screenshot({ path: `${shots}/desk.png` });

  // ---- hold and resume --------------------------------------------------------
  await ann.click("#hold");
  await waitText(ann, "#call-caller", "on hold");
  await ann.waitForSelector("#resume", { visible: true });
  await ann.click("#resume");
  await ann.waitForSelector("#hold", { visible: true });
  await ann.waitForFunction(() => !document.querySelector("#call-caller").textContent.includes("on hold"));
  step("held and resumed");

  // ---- transfer to a queue -------------------------------------------------------
  await ann.type("#transfer-target", "support");
  await ann.click('#transfer-form button[type="submit"]');
  await ann.waitForSelector("#wrapup", { visible: true });
  await waitText(ann, "#wrapup-time", "Wrap-up time left");
  await waitText(sue, '#wb-queues tr[data-queue="support"] .waiting', "1");
  step("transferred to support");

  // ---- wrap-up: a required field missing, then complete ---------------------------
  await ann.select("#wrapup-classifier", "sold");
  await ann.click('#wrapup-form button[type="submit"]');
  await waitText(ann, "#err-wrap-order", "required");
  const invalid = await ann.$eval("#wrap-order", (el) => el.getAttribute("aria-invalid"));
  if (invalid !== "true") fail("the missing field is not marked invalid");
  const focused = await ann.evaluate(() => document.activeElement && document.activeElement.id);
  if (focused !== "wrap-order") fail(`focus is not on the missing field but on ${focused}`);
  step("wrap-up refused at the missing field");
  await ann.type("#wrap-order", "A-1001");
  await ann.click('#wrapup-form button[type="submit"]');
  await waitText(ann, "#flash", "Wrap-up saved");
  await ann.waitForSelector("#wrapup", { hidden: true });
  step("wrap-up saved");

  // ---- callbacks: an invalid number, then a valid one -----------------------------
  await ann.click("#tab-callbacks");
  await ann.waitForSelector("#cb-form", { visible: true });
  const when = await ann.evaluate(() => {
    const d = new Date(Date.now() + 2 * 3600e3);
    const two = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}T${two(d.getHours())}:${two(d.getMinutes())}`;
  });
  await ann.type("#cb-number", "12ab");
  await ann.type("#cb-name", "Jan Kowalski");
  await ann.$eval("#cb-start", (el, v) => { el.value = v; }, when);
  await ann.$eval("#cb-zone", (el) => { el.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; });
  await ann.select("#cb-queue", "sales");
  await ann.click("#cb-save");
  await ann.waitForFunction(() => document.querySelector("#err-number").textContent.length > 0);
  const numberError = await text(ann, "#err-number");
  const numberInvalid = await ann.$eval("#cb-number", (el) => el.getAttribute("aria-invalid"));
  if (numberInvalid !== "true") fail("the invalid number is not marked at its field");
  step(`callback refused at the number: ${numberError}`);
  await ann.$eval("#cb-number", (el) => { el.value = ""; });
  await ann.type("#cb-number", "+48600100300");
  await ann.click("#cb-save");
  await waitText(ann, "#flash", "Callback saved");
  await waitText(ann, "#cb-rows", "+48600100300");
  step("callback saved");
  // Changed: the form is filled from the row, a new name saved.
  await ann.$eval("#cb-rows tr button", (b) => b.click());
  await ann.waitForFunction(() => document.querySelector("#cb-number").value === "+48600100300");
  await ann.$eval("#cb-name", (el) => { el.value = ""; });
  await ann.type("#cb-name", "Jan Nowak");
  await ann.click("#cb-save");
  await waitText(ann, "#cb-rows", "Jan Nowak");
  step("callback changed");
  // Cancelled: the row says so and offers nothing more.
  await ann.$eval("#cb-rows tr button:nth-of-type(2)", (b) => b.click());
  await waitText(ann, "#flash", "Callback cancelled");
  await waitText(ann, "#cb-rows", "cancelled");
  step("callback cancelled");


  // ---- a second call: consult cal, back to the caller, consult dan, conference --
  const consult = async (who) => {
    await ann.type("#consult-target", who);
    await ann.click('#consult-form button[type="submit"]');
    await ann.waitForSelector("#consulting", { visible: true });
    await waitText(ann, "#consult-with", who);
    await waitText(ann, "#consult-state", "answered");
  };
  const answerNext = async (number) => {
    await ann.waitForSelector("#offer", { visible: true });
    await waitText(ann, "#offer-caller", number);
    await ann.click("#offer-accept");
    await ann.waitForSelector("#call", { visible: true });
    await waitText(ann, "#call-caller", number);
  };
  const wrapUp = async () => {
    await ann.waitForSelector("#wrapup", { visible: true });
    await ann.select("#wrapup-classifier", "no_sale");
    await ann.type("#wrap-order", "none");
    await ann.click('#wrapup-form button[type="submit"]');
    await ann.waitForSelector("#wrapup", { hidden: true });
  };
  await ann.click("#tab-desk");
  await need("caller2");
  await answerNext("600100201");
  await consult("cal");
  step("consulting cal");
  await ann.click("#consult-end");
  await ann.waitForSelector("#consulting", { hidden: true });
  await ann.waitForFunction(() => !document.querySelector("#call-caller").textContent.includes("on hold"));
  step("back to the caller");
  await consult("dan");
  await ann.waitForFunction(() => !document.querySelector("#consult-conference").disabled);
  await ann.click("#consult-conference");
  await ann.waitForSelector("#consulting", { hidden: true });
  step("conference");
  await ann.click("#hangup");
  await wrapUp();
  step("ann left the conference and wrapped up");
  // dan talks on with the caller: busy on the wallboard, not wrapping up.
  await waitText(sue, '#wb-agents tr[data-agent="dan"] .agent-state', "On a call");
  await need("conference-goes-on");

  // ---- a third call: consult eve, transfer attended -----------------------------
  await need("caller3");
  await answerNext("600100202");
  await consult("eve");
  await ann.click("#consult-transfer");
  await wrapUp();
  step("attended transfer to eve");
  await waitText(sue, '#wb-agents tr[data-agent="eve"] .agent-state', "On a call");

  // ---- a fourth call, of a campaign with `handling automatic`: no pop-over -------
  await need("caller4");
  await ann.waitForSelector("#call", { visible: true });
  await waitText(ann, "#call-caller", "600100203");
  await waitText(ann, "#call-campaign", "shop_direct");
  await ann.click("#hangup");
  await ann.waitForSelector("#wrapup", { visible: true });
  await ann.select("#wrapup-classifier", "sold");
  await ann.click('#wrapup-form button[type="submit"]');
  await ann.waitForSelector("#wrapup", { hidden: true });
  step("answered by itself (handling automatic), hung up from the desk");

  // ---- a supervisor sets ann not ready -----------------------------------------
  await ann.click("#tab-desk");
  await ann.select("#state-select", "available");
  await waitText(sue, '#wb-agents tr[data-agent="ann"] .agent-state', "Available");
  // The wallboard re-renders on every event: click the button as it is now.
  await sue.$eval('#wb-agents tr[data-agent="ann"] button', (b) => b.click());
  await waitText(sue, '#wb-agents tr[data-agent="ann"] .agent-state', "Not ready");
  await waitText(ann, "#state-now", "supervisor");
  step("supervisor set ann not ready");
  // A break started: the campaign's breaks_started alert (threshold 1) is
  // raised on the wallboard as it happens.
  await waitText(sue, "#wb-alerts", "breaks_started");
  step("wallboard shows the alert");
  if (shots) await sue.screenshot({ path: `${shots}/wallboard.png`, fullPage: true });

  // ---- Polish ---------------------------------------------------------------------
  await ann.click('.bar button[data-lang="pl"]');
  await waitText(ann, "#tab-desk", "Pulpit");
  step("Polish");

  await browser.close();
  console.log("DONE");
  process.exit(0);
} catch (error) {
  fail(error && error.stack ? error.stack.split("\n").slice(0, 3).join(" | ") : String(error));
}
