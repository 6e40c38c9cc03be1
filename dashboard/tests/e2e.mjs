// The dashboard in a real browser against a real server: Debian's chromium driven by playwright-core,
// `gridpatrol-server demo` on a loopback port, and the device CLI `gridpatrol` as the grid worker's PDA.
// No mocks: every request the page makes goes to the server.
//
// The closed loop: a device reports and syncs → the case appears on the map and in the queue without a
// reload → the dispatcher registers and dispatches it with the keyboard → the department handles it through
// the API and the dispatcher asks for verification → the device verifies on site and syncs → the dashboard
// shows it closed and the indicators change. Plus: another street's desk sees none of it, bad input gets a
// clear message, and screenshots of the main screens land in test-artifacts/.
//
// Run: node --test tests/e2e.mjs (after `npm run build` and `cargo build -p gridpatrol-server -p gridpatrol-cli`).
// GRIDPATROL_BIN_DIR points at the binaries (default: $CARGO_TARGET_DIR/debug, else ~/.cache/gridpatrol/target/debug).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const artifacts = path.join(here, '..', 'test-artifacts');
const targetDir = process.env.CARGO_TARGET_DIR || path.join(os.homedir(), '.cache', 'gridpatrol', 'target');
const binDir = process.env.GRIDPATROL_BIN_DIR || path.join(targetDir, 'debug');
const serverBin = path.join(binDir, 'gridpatrol-server');
const cliBin = path.join(binDir, 'gridpatrol');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const STREET_1 = '110102001';
const STREET_2 = '110102002';

let tmp;
let server;
let base;
let tokens;
let browser;
let otherStreetToken;
const store = () => path.join(tmp, 'pda');

function cli(...args) {
  const out = execFileSync(cliBin, ['--store', store(), '--json', ...args], { encoding: 'utf8', timeout: 60_000 });
  return out.trim() ? JSON.parse(out) : null;
}

function admin(...args) {
  const out = execFileSync(serverBin, ['admin', '--data', path.join(tmp, 'server'), '--json', ...args], { encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(out);
}

function token(id) {
  const t = tokens.find((x) => x.id === id);
  assert.ok(t, `demo token ${id}`);
  return t.token;
}

async function call(method, p, tok, body) {
  const res = await fetch(`${base}${p}`, {
    method,
    headers: { Authorization: `Bearer ${tok}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, json, text };
}

async function act(tok, id, body) {
  const r = await call('POST', `/api/v1/cases/${id}/actions`, tok, body);
  assert.equal(r.status, 200, `${body.action} on ${id}: ${r.text}`);
  return r.json;
}

function startServer() {
  return new Promise((resolve, reject) => {
    const proc = spawn(serverBin, ['demo', '--data', path.join(tmp, 'server'), '--listen', '127.0.0.1:0', '--supervise-every', '3600'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
    });
    const log = fs.createWriteStream(path.join(artifacts, 'server.log'));
    proc.stderr.pipe(log);
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 60_000);
    proc.stdout.on('data', (d) => {
      out += d;
      log.write(d);
      const m = out.match(/listening on (\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, addr: m[1] });
      }
    });
    proc.on('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });
}

async function newDesk(tok, { lang = 'zh' } = {}) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN', timezoneId: 'UTC', acceptDownloads: true });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(base + '/');
  if (lang === 'en') await page.evaluate(() => localStorage.setItem('gridpatrol.lang', 'en'));
  if (tok) {
    await page.fill('#token', tok);
    await page.press('#token', 'Enter');
    await page.waitForSelector('.topbar');
    await page.waitForSelector('#live.on');
  }
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`) });
}

/** A small JPEG made by the browser's canvas: the photo the worker takes. */
async function makePhoto(page) {
  const b64 = await page.evaluate(async () => {
    const c = document.createElement('canvas');
    c.width = 640;
    c.height = 480;
    const g = c.getContext('2d');
    g.fillStyle = '#6b7280';
    g.fillRect(0, 0, 640, 480);
    g.fillStyle = '#854d0e';
    g.beginPath();
    g.ellipse(320, 330, 220, 110, 0, 0, Math.PI * 2);
    g.fill();
    g.fillStyle = '#fff';
    g.font = '48px sans-serif';
    g.fillText('rubbish 垃圾', 170, 120);
    const blob = await new Promise((r) => c.toBlob(r, 'image/jpeg', 0.9));
    const bytes = new Uint8Array(await blob.arrayBuffer());
    let s = '';
    for (const b of bytes) s += String.fromCharCode(b);
    return btoa(s);
  });
  const file = path.join(tmp, 'photo.jpg');
  fs.writeFileSync(file, Buffer.from(b64, 'base64'));
  return file;
}

/** The middle of a cell's outline (WGS-84), from the server's GeoJSON. */
function centre(grids, code) {
  const f = grids.features.find((x) => x.properties.code === code);
  assert.ok(f, `cell ${code}`);
  const ring = f.geometry.coordinates[0].slice(0, -1);
  const lon = ring.reduce((s, p) => s + p[0], 0) / ring.length;
  const lat = ring.reduce((s, p) => s + p[1], 0) / ring.length;
  return { lat, lon };
}

async function totalOf(page, key) {
  const text = await page.textContent(`#stats-table tr.total td[data-key="${key}"]`);
  return Number(text);
}

before(async () => {
  for (const f of [serverBin, cliBin, chromiumPath]) assert.ok(fs.existsSync(f), `${f} is missing: build it first (scripts/test-dashboard.sh does)`);
  fs.mkdirSync(artifacts, { recursive: true });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gridpatrol-dash-'));
  const started = await startServer();
  server = started.proc;
  base = `http://${started.addr}`;
  tokens = JSON.parse(fs.readFileSync(path.join(tmp, 'server', 'demo-tokens.json'), 'utf8'));
  // A dispatcher of the other street (the demo's desks are district-wide).
  otherStreetToken = admin('desk', 'add', '--id', 'd-street-2', '--role', 'dispatcher', '--scope', STREET_2).token;
  // playwright gives every launch a fresh, temporary user-data-dir.
  browser = await chromium.launch({
    env: { ...process.env, LANG: 'zh_CN.UTF-8' },
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--lang=zh-CN'],
  });
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((r) => {
      const t = setTimeout(() => {
        server.kill('SIGKILL');
        r();
      }, 15_000);
      server.on('exit', () => {
        clearTimeout(t);
        r();
      });
    });
  }
  if (tmp && !process.env.KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true });
});

test('sign-in: bad input gets a clear message, a good token signs in', async () => {
  const page = await newDesk(null);
  await shot(page, '1-sign-in');
  await page.click('.signin-card button[type=submit]');
  assert.equal(await page.textContent('#token-error'), '请输入坐席令牌');
  await page.fill('#token', token('w-001'));
  await page.press('#token', 'Enter');
  assert.match(await page.textContent('#token-error'), /gpk_/);
  await page.fill('#token', 'gpk_' + '0'.repeat(64));
  await page.press('#token', 'Enter');
  await page.waitForFunction(() => /令牌无效/.test(document.querySelector('#token-error')?.textContent ?? ''));
  await page.fill('#token', token('d-dispatch'));
  await page.press('#token', 'Enter');
  await page.waitForSelector('.topbar [data-role="dispatcher"]');
  // Kept for the tab (sessionStorage): a reload stays signed in.
  await page.reload();
  await page.waitForSelector('.topbar [data-role="dispatcher"]');
  await page.context().close();
});

test('the closed loop, live in the browser', async (t) => {
  const dispatcher = await newDesk(token('d-dispatch'));
  const other = await newDesk(otherStreetToken);
  const grids = (await call('GET', '/api/v1/grids', token('d-dispatch'))).json;
  assert.equal(grids.features.length, 36);
  await dispatcher.waitForSelector('path.cell');
  await dispatcher.waitForSelector('path.case-marker');
  const demoMarkers = await dispatcher.locator('path.case-marker').count();
  assert.equal(demoMarkers, 6, 'the demo cases on the map');
  // The other street's desk sees its own street only: cells and cases.
  await other.waitForSelector('path.cell');
  assert.equal(await other.locator('path.cell').count(), 18);
  assert.equal(await other.locator(`path.cell-${STREET_1}001001`).count(), 0);

  // Indicators before: the assessment as the supervisor reads it.
  const supervisor = await newDesk(token('d-supervisor'));
  await supervisor.goto(base + '/#/assessment');
  await supervisor.waitForSelector('#stats-table tr.total');
  const closedBefore = await totalOf(supervisor, 'closed');
  const reportedBefore = await totalOf(supervisor, 'reported');

  let id;
  await t.test('a device reports and syncs; the case appears without a reload', async () => {
    cli('init', '--worker', 'w-001');
    const enrolled = cli('enroll', '--server', base, '--token', token('w-001'));
    assert.deepEqual(enrolled.cells, [STREET_1]);
    const deviceGrids = path.join(tmp, 'grids.geojson');
    fs.writeFileSync(deviceGrids, JSON.stringify((await call('GET', '/api/v1/grids', token('w-001'))).json));
    cli('grids', 'import', deviceGrids);
    const at = centre(grids, `${STREET_1}001002`);
    const photo = await makePhoto(dispatcher);
    const reported = cli('report', '--category', '06010', '--lat', String(at.lat), '--lon', String(at.lon), '--accuracy', '6', '--address', '府右街 8 号', '--note', '人行道上堆放建筑垃圾 (construction waste on the pavement)', '--photo', photo);
    id = reported.id;
    assert.equal(reported.cell, `${STREET_1}001002`);
    const synced = cli('sync');
    assert.equal(synced.photos_failed, 0);
    // No reload: the event stream brings it.
    await dispatcher.waitForSelector(`path.case-${id}.stage-reported`, { timeout: 10_000 });
    await dispatcher.waitForSelector(`#queue li.row[data-id="${id}"]`, { timeout: 10_000 });
    await supervisor.waitForFunction((n) => Number(document.querySelector('#stats-table tr.total td[data-key="reported"]')?.textContent) === n + 1, reportedBefore, { timeout: 10_000 });
    await shot(dispatcher, '2-map-and-queue');
  });

  await t.test('clicking a cell filters the queue to it', async () => {
    await dispatcher.click(`path.cell-${STREET_2}001001`, { force: true });
    await dispatcher.waitForSelector('#clear-cell');
    await dispatcher.waitForFunction((id) => !document.querySelector(`#queue li.row[data-id="${id}"]`), id);
    assert.equal(await dispatcher.locator(`path.case-${id}`).count(), 0);
    await dispatcher.click('#clear-cell');
    await dispatcher.waitForSelector(`#queue li.row[data-id="${id}"]`);
  });

  await t.test('the dispatcher registers and dispatches with the keyboard', async () => {
    const d = dispatcher;
    await d.focus('#queue');
    for (let i = 0; i < 20 && !(await d.locator(`#queue li.selected[data-id="${id}"]`).count()); i++) await d.keyboard.press('j');
    await d.waitForSelector(`#queue li.selected[data-id="${id}"]`);
    await d.keyboard.press('r');
    await d.waitForFunction((id) => !document.querySelector(`#queue li.row[data-id="${id}"]`), id);
    await d.click('[data-tab="dispatch"]');
    await d.waitForSelector(`#queue li.row[data-id="${id}"]`);
    await d.focus('#queue');
    for (let i = 0; i < 20 && !(await d.locator(`#queue li.selected[data-id="${id}"]`).count()); i++) await d.keyboard.press('j');
    await d.keyboard.press('d');
    await d.waitForSelector('.dialog form[data-form="dispatch"]');
    const department = await d.inputValue('#f-dispatch-department');
    const view = (await call('GET', `/api/v1/cases/${id}`, token('d-dispatch'))).json;
    assert.ok(department, 'the route pre-fills the department');
    assert.equal(department, view.route.department);
    if (view.route.hours != null) assert.equal(Number(await d.inputValue('#f-dispatch-hours')), view.route.hours);
    // Bad input: no department.
    await d.fill('#f-dispatch-department', '');
    await d.press('#f-dispatch-department', 'Enter');
    assert.equal(await d.textContent('#f-dispatch-department-error'), '请填写处置部门');
    await d.fill('#f-dispatch-hours', '-3');
    await d.fill('#f-dispatch-department', department);
    await d.press('#f-dispatch-department', 'Enter');
    assert.match(await d.textContent('#f-dispatch-hours-error'), /时限/);
    await d.fill('#f-dispatch-hours', String(view.route.hours ?? 8));
    await shot(d, '3-dispatch-dialog');
    await d.press('#f-dispatch-department', 'Enter');
    await d.waitForSelector('.dialog', { state: 'detached' });
    await d.waitForSelector(`path.case-${id}.stage-dispatched`);
    const after = (await call('GET', `/api/v1/cases/${id}`, token('d-dispatch'))).json;
    assert.equal(after.stage, 'dispatched');
    assert.equal(after.timeline.department, department);
    assert.ok(after.timeline.deadline);
  });

  let departmentToken;
  await t.test('case detail: photos, timeline, countdown, forms with clear messages', async () => {
    const d = dispatcher;
    await d.click('[data-tab="all"]');
    await d.waitForSelector(`#queue li.row[data-id="${id}"]`);
    await d.click(`#queue li.row[data-id="${id}"]`);
    await d.keyboard.press('Enter');
    await d.waitForSelector(`#case[data-id="${id}"] #timeline`);
    assert.equal(await d.getAttribute('#case-stage', 'data-stage'), 'dispatched');
    assert.match(await d.textContent('#countdown'), /剩余|超期/);
    const actors = await d.locator('#timeline li').allTextContents();
    assert.ok(actors.some((x) => x.includes('立案') && x.includes('d-dispatch')), actors.join('\n'));
    assert.ok(actors.some((x) => x.includes('派遣') && x.includes('d-dispatch')));
    // The thumbnail, fetched with the token.
    await d.waitForFunction(() => {
      const img = document.querySelector('.photos img');
      return img && img.complete && img.naturalWidth > 0;
    });
    // Full size on click, also fetched with the token.
    await d.click('.photos .thumb');
    await d.waitForFunction(() => {
      const img = document.querySelector('.lightbox img');
      return img && img.complete && img.naturalWidth === 640;
    });
    await d.keyboard.press('Escape');
    await d.waitForSelector('.lightbox', { state: 'detached' });
    // Bad input: an extension without hours.
    await d.click('#actions [data-action="extend"]');
    await d.click('form[data-form="extend"] button[type=submit]');
    assert.equal(await d.textContent('#f-extend-hours-error'), '延期须填写延长的小时数（大于 0）');
    await shot(d, '4-case-detail');
    await d.click('#actions [data-action="extend"]');
    // A department desk may not dispatch: its view offers only its own actions.
    const routed = (await call('GET', `/api/v1/cases/${id}`, token('d-dispatch'))).json.timeline.department;
    const dep = tokens.find((x) => x.role === 'department' && x.department === routed);
    assert.ok(dep, 'a desk for the routed department');
    departmentToken = dep.token;
    const depView = (await call('GET', `/api/v1/cases/${id}`, departmentToken)).json;
    assert.ok(depView.actions.includes('accept') && !depView.actions.includes('dispatch'), depView.actions.join(','));
  });

  await t.test('the department handles it through the API; the open case follows live', async () => {
    for (const action of ['accept', 'handle', 'feedback']) await act(departmentToken, id, { action, note: `${action} (e2e)` });
    await dispatcher.waitForSelector('#case-stage[data-stage="feedback_given"]', { timeout: 10_000 });
    await act(token('d-dispatch'), id, { action: 'request_verification', note: '请现场核查' });
    await dispatcher.waitForSelector('#case-stage[data-stage="verification_requested"]', { timeout: 10_000 });
  });

  await t.test('the device verifies on site and syncs; the dashboard shows it closed', async () => {
    cli('sync');
    const tasks = cli('tasks');
    assert.ok(tasks.some((x) => x.id === id), `a verification task for ${id}`);
    cli('verify', id, '--pass', '--note', '已清理干净');
    cli('sync');
    await dispatcher.waitForSelector('#case-stage[data-stage="closed"]', { timeout: 10_000 });
    const entries = await dispatcher.locator('#timeline li').allTextContents();
    assert.ok(entries.some((x) => x.includes('核查通过') && x.includes('w-001')), entries.join('\n'));
    assert.equal(await dispatcher.locator('#actions .action').count(), 0);
    await dispatcher.goto(base + '/#/');
    await dispatcher.waitForSelector(`path.case-${id}.stage-closed`);
  });

  await t.test('the indicators change', async () => {
    // The assessment page was left open: it refreshed by itself.
    await supervisor.waitForFunction((n) => Number(document.querySelector('#stats-table tr.total td[data-key="closed"]')?.textContent) === n + 1, closedBefore, { timeout: 10_000 });
    const stats = (await call('GET', '/api/v1/stats?group_by=department', token('d-supervisor'))).json;
    assert.equal(stats.total.closed, closedBefore + 1);
    // CSV export: UTF-8 with BOM, Chinese headers.
    const [download] = await Promise.all([supervisor.waitForEvent('download'), supervisor.click('#export')]);
    const csv = fs.readFileSync(await download.path());
    assert.deepEqual([...csv.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
    const text = csv.toString('utf8');
    assert.match(text, /结案数 Closed/);
    assert.match(text, /按期处置率 On-time handling/);
    fs.writeFileSync(path.join(artifacts, 'assessment.csv'), csv);
    await supervisor.click('[data-group="street"]');
    await supervisor.waitForSelector(`#stats-table tr[data-group="${STREET_1}"]`);
    await supervisor.waitForTimeout(500);
    await shot(supervisor, '6-assessment');
  });

  await t.test('supervision: an overdue case by department, with a reminder', async () => {
    // A case of the other street, dispatched with a deadline a moment away, becomes overdue.
    const page = (await call('GET', '/api/v1/cases?stage=registered', token('d-dispatch'))).json;
    const late = page.items.find((x) => x.cell.startsWith(STREET_2));
    assert.ok(late, 'the demo has a registered case in street 2');
    await act(token('d-dispatch'), late.id, { action: 'dispatch', deadline: new Date(Date.now() + 1500).toISOString(), note: '限时处置' });
    await new Promise((r) => setTimeout(r, 2000));
    await supervisor.goto(base + '/#/supervision');
    await supervisor.waitForSelector(`#supervision tr[data-id="${late.id}"].overdue`);
    // The counts are the server's totals (deadline_state=overdue / approaching), not what one page holds.
    const overdueTotal = (await call('GET', '/api/v1/cases?deadline_state=overdue&limit=1', token('d-supervisor'))).json.total;
    const approachingTotal = (await call('GET', '/api/v1/cases?deadline_state=approaching&limit=1', token('d-supervisor'))).json.total;
    assert.ok(overdueTotal >= 1);
    assert.equal(await supervisor.textContent('#supervision .page-head .count'), `超期 ${overdueTotal} · 临期 ${approachingTotal}`);
    // Action labels are the core's (GET /api/v1/workflow), not a copy kept in the dashboard.
    const words = (await call('GET', '/api/v1/workflow', token('d-supervisor'))).json;
    const remindWord = words.actions.find((a) => a.code === 'remind').zh;
    assert.equal(remindWord, '督办');
    assert.equal(await supervisor.textContent(`#supervision tr[data-id="${late.id}"] button.remind`), remindWord);
    await supervisor.click(`#supervision tr[data-id="${late.id}"] button.remind`);
    await supervisor.waitForFunction((id) => document.querySelector(`#supervision tr[data-id="${id}"] button.remind`)?.textContent === '已发送督办提醒', late.id);
    const v = (await call('GET', `/api/v1/cases/${late.id}`, token('d-supervisor'))).json;
    assert.ok(v.timeline.entries.some((e) => e.event.action === 'remind' && e.event.actor === 'd-supervisor'));
    await shot(supervisor, '5-supervision');
    // English, for the record.
    await supervisor.click('#lang');
    await supervisor.waitForSelector('text=Supervision');
    await shot(supervisor, '5-supervision-en');
    await supervisor.click('#lang');
  });

  await t.test('a desk of another street sees none of it', async () => {
    // Its open overview never showed the case, on the map or in any list.
    assert.equal(await other.locator(`path.case-${id}`).count(), 0);
    for (const tab of ['register', 'dispatch', 'all']) {
      await other.click(`[data-tab="${tab}"]`);
      await other.waitForSelector('#queue li');
      assert.equal(await other.locator(`#queue li.row[data-id="${id}"]`).count(), 0);
    }
    const rows = await other.locator('#queue li.row').evaluateAll((els) => els.map((e) => e.dataset.id));
    assert.ok(rows.length > 0, 'it sees its own street');
    // Nor through the API, nor in its indicators.
    const list = (await call('GET', '/api/v1/cases?limit=500', otherStreetToken)).json;
    assert.ok(list.items.every((x) => x.cell.startsWith(STREET_2)));
    const direct = await call('GET', `/api/v1/cases/${id}`, otherStreetToken);
    assert.equal(direct.status, 403);
    await other.goto(`${base}/#/case/${id}`);
    await other.waitForSelector('.empty-page .error');
    assert.match(await other.textContent('.empty-page .error'), /不在本辖区/);
    const refused = await call('POST', `/api/v1/cases/${id}/actions`, otherStreetToken, { action: 'close' });
    assert.ok(refused.status === 403 || refused.status === 409, refused.text);
    const stats = (await call('GET', '/api/v1/stats?group_by=cell', otherStreetToken)).json;
    assert.ok(Object.keys(stats.groups).every((g) => g.startsWith(STREET_2) || g === '(none)'), Object.keys(stats.groups).join(','));
    // Nor on its event stream: a change in street 1 sends it nothing, one in street 2 arrives.
    await other.evaluate((tok) => {
      window.__seen = [];
      const es = new EventSource(`/api/v1/events?token=${tok}`);
      es.addEventListener('case_changed', (e) => window.__seen.push(JSON.parse(e.data).id));
      return new Promise((r) => es.addEventListener('ready', r));
    }, otherStreetToken);
    const open = (await call('GET', '/api/v1/cases?limit=500', token('d-dispatch'))).json.items.filter((x) => ['dispatched', 'accepted'].includes(x.stage));
    const inStreet1 = open.find((x) => x.cell.startsWith(STREET_1));
    const inStreet2 = open.find((x) => x.cell.startsWith(STREET_2));
    assert.ok(inStreet1 && inStreet2, 'a case with a department in each street');
    await act(token('d-dispatch'), inStreet1.id, { action: 'remind' });
    await act(token('d-dispatch'), inStreet2.id, { action: 'remind' });
    await other.waitForFunction((id) => window.__seen.includes(id), inStreet2.id, { timeout: 10_000 });
    const seen = await other.evaluate(() => window.__seen);
    assert.ok(!seen.includes(inStreet1.id) && !seen.includes(id), seen.join(','));
    await other.goto(`${base}/#/`);
    await other.waitForSelector('path.case-marker');
    await shot(other, '7-other-street');
  });

  await t.test('English switch on the overview', async () => {
    await dispatcher.click('#lang');
    await dispatcher.waitForSelector('text=Dispatch queue');
    await dispatcher.waitForSelector('path.case-marker');
    await shot(dispatcher, '8-overview-en');
    await dispatcher.click('#lang');
  });

  for (const p of [dispatcher, other, supervisor]) await p.context().close();
});

test('a long queue says how much it shows and loads more from the keyboard', async () => {
  // 101 more reports in street 1: with the demo's, more than the queue's first 100.
  const grids = (await call('GET', '/api/v1/grids', token('d-dispatch'))).json;
  const at = centre(grids, `${STREET_1}001003`);
  for (let i = 0; i < 101; i++) cli('report', '--category', '06010', '--lat', String(at.lat), '--lon', String(at.lon), '--address', `西单北大街 ${i} 号`, '--note', `批量上报 ${i} (bulk report)`);
  cli('sync');
  const waiting = (await call('GET', '/api/v1/cases?stage=reported&order=oldest&limit=500', token('d-dispatch'))).json;
  assert.ok(waiting.total > 100, `${waiting.total} cases to register`);
  const oldest = waiting.items.map((x) => x.id);

  const d = await newDesk(token('d-dispatch'));
  await d.waitForSelector('#queue-more');
  assert.equal(await d.locator('#queue li.row').count(), 100);
  assert.equal(await d.textContent('.queue-panel .panel-head .count'), `显示 100 / 共 ${waiting.total} 件`);
  // Oldest first, as the server orders them.
  const shown = await d.locator('#queue li.row').evaluateAll((els) => els.map((e) => e.dataset.id));
  assert.deepEqual(shown, oldest.slice(0, 100));
  // The map holds them all (fewer than its cap), so it says nothing about a cap.
  assert.equal(await d.textContent('#map-cap'), '');
  await shot(d, '9-long-queue');

  // Moving down past the last row loads the next step and moves on to the first new row.
  await d.locator('#queue li.row').nth(99).click();
  await d.focus('#queue');
  await d.keyboard.press('j');
  await d.waitForSelector('#queue-more', { state: 'detached' });
  assert.equal(await d.locator('#queue li.row').count(), waiting.total);
  assert.equal(await d.getAttribute('#queue li.selected', 'data-id'), oldest[100]);
  assert.equal(await d.textContent('.queue-panel .panel-head .count'), `共 ${waiting.total} 件`);
  // The keys still work on the loaded rows: k goes back up.
  await d.keyboard.press('k');
  assert.equal(await d.getAttribute('#queue li.selected', 'data-id'), oldest[99]);
  await d.context().close();

  // In English, and with "m" (and the button, for the mouse).
  const en = await newDesk(token('d-dispatch'));
  await en.waitForSelector('#queue-more');
  await en.click('#lang');
  await en.waitForSelector('text=Dispatch queue');
  await en.waitForSelector('#queue-more');
  assert.equal(await en.textContent('.queue-panel .panel-head .count'), `Showing 100 of ${waiting.total}`);
  await en.focus('#queue');
  await en.keyboard.press('m');
  await en.waitForSelector('#queue-more', { state: 'detached' });
  assert.equal(await en.locator('#queue li.row').count(), waiting.total);
  await en.context().close();
});

test("the server's notices show as a banner, in the chosen language", async () => {
  // Whether the work calendar lacks a year's holidays depends on today's date (45 days ahead): the banner
  // must say exactly what the server says, and be hidden when it says nothing.
  const notices = (await call('GET', '/api/v1/notices', token('d-supervisor'))).json;
  assert.ok(Array.isArray(notices));
  const page = await newDesk(token('d-supervisor'));
  await page.waitForFunction((n) => document.querySelectorAll('#notices p').length === n, notices.length);
  assert.equal(await page.isVisible('#notices'), notices.length > 0);
  for (const n of notices) {
    assert.match(await page.textContent(`#notices p[data-code="${n.code}"]`), new RegExp(n.message_zh.slice(0, 12)));
  }
  if (notices.length) await shot(page, '9-notice');
  await page.click('#lang');
  for (const n of notices) {
    assert.match(await page.textContent(`#notices p[data-code="${n.code}"]`), new RegExp(n.message_en.slice(0, 12)));
  }
  await page.context().close();
});

test("a refused sync shows in the supervisor's audit log, with the case and the rule", async () => {
  // A second PDA of w-001 running a tampered app with the whole district's map reports in the other
  // street: the server refuses that case, the CLI says so (exit 1), the audit log shows it.
  const pda2 = path.join(tmp, 'pda-2');
  const cli2 = (...args) => execFileSync(cliBin, ['--store', pda2, '--json', ...args], { encoding: 'utf8', timeout: 60_000 });
  const device = admin('device', 'add', '--worker', 'w-001');
  cli2('init', '--worker', 'w-001');
  cli2('enroll', '--server', base, '--token', device.token);
  const district = (await call('GET', '/api/v1/grids', token('d-supervisor'))).json;
  const file = path.join(tmp, 'district.geojson');
  fs.writeFileSync(file, JSON.stringify(district));
  cli2('grids', 'import', file);
  const at = centre(district, `${STREET_2}001001`);
  const reported = JSON.parse(cli2('report', '--category', '06010', '--lat', String(at.lat), '--lon', String(at.lon), '--address', '越界 1 号', '--note', "越界上报 (outside the worker's cells)"));
  let failed = null;
  try {
    cli2('sync');
  } catch (e) {
    failed = e;
  }
  assert.ok(failed, 'the CLI exits non-zero when the server refused a case');
  const summary = JSON.parse(failed.stdout);
  assert.equal(summary.refused.length, 1);
  assert.equal(summary.refused[0].case, reported.id);
  assert.equal(summary.refused[0].code, 'out_of_scope');
  assert.equal((await call('GET', `/api/v1/cases/${reported.id}`, token('d-supervisor'))).status, 404);

  const page = await newDesk(token('d-supervisor'));
  await page.click('[data-nav="audit"]');
  const row = `#audit tr[data-action="sync_refused"]`;
  await page.waitForSelector(row);
  assert.match(await page.textContent(`${row} td.reason`), /不在本网格员负责的网格内/);
  assert.equal(await page.getAttribute(`${row} a`, 'href'), `#/case/${reported.id}`);
  assert.match(await page.textContent(row), /同步拒收/);
  assert.match(await page.textContent('#audit-refused'), /同步拒收 [1-9]/);
  await page.check('#audit-only');
  const shown = await page.locator('#audit tbody tr').count();
  assert.ok(shown >= 1);
  assert.equal(await page.locator(row).count(), shown, 'the filter keeps refused syncs only');
  await shot(page, '10-audit');
  await page.context().close();
  // Dispatchers have no audit page.
  const d = await newDesk(token('d-dispatch'));
  assert.equal(await d.locator('[data-nav="audit"]').count(), 0);
  await d.context().close();
});

test('a desk revoked while its dashboard is open is signed out', async () => {
  const created = admin('desk', 'add', '--id', 'd-temp', '--role', 'dispatcher', '--scope', STREET_1);
  const page = await newDesk(created.token);
  await page.waitForSelector('.topbar [data-role="dispatcher"]');
  admin('desk', 'revoke', '--id', 'd-temp');
  // The open event stream checks its token every 10 s; the page then shows the sign-in form and says why.
  await page.waitForSelector('.signin-card', { timeout: 30_000 });
  await page.waitForFunction(() => /吊销/.test(document.body.textContent ?? ''));
  assert.equal((await call('GET', '/api/v1/me', created.token)).status, 401);
  // Its new token (rotated) signs in again.
  const rotated = admin('desk', 'rotate', '--id', 'd-temp');
  await page.fill('#token', rotated.token);
  await page.press('#token', 'Enter');
  await page.waitForSelector('.topbar [data-role="dispatcher"]');
  await page.context().close();
});

test('a graceful shutdown is not held up by open dashboards', async () => {
  const page = await newDesk(token('d-supervisor'));
  const started = Date.now();
  server.kill('SIGTERM');
  const code = await new Promise((r) => server.on('exit', (c) => r(c)));
  assert.equal(code, 0);
  assert.ok(Date.now() - started < 10_000, `stopped in ${Date.now() - started} ms`);
  await page.waitForSelector('#live.off');
  await page.context().close();
});
