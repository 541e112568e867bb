'use strict';
/*
 * dashboard.test.js - drives the ksd dashboard in headless Chromium
 * (playwright-core, Debian's /usr/bin/chromium) and prints TAP-style lines
 * "ok N - ..." / "not ok N - ...". Run by tests/e2e_dashboard.sh, which has
 * filled Redis from deploy/demo.pcap and started `ksd dashboard`.
 *
 * Environment: BASE_URL (dashboard), REDIS_PORT (for redis-cli PUBLISH),
 * REDIS_PREFIX (default "ksd:"), SHOT (screenshot path), TAP_START (number
 * of the last test already printed), CHROMIUM (default /usr/bin/chromium).
 */
const { chromium } = require('playwright-core');
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const BASE = process.env.BASE_URL || 'http://127.0.0.1:8787';
const REDIS_PORT = process.env.REDIS_PORT || '6379';
const PREFIX = process.env.REDIS_PREFIX || 'ksd:';
const SHOT = process.env.SHOT || 'build/dashboard.png';
const XSS = '<script>alert(1)</script>';
const XSS_IMG = '<img src=x onerror="alert(2)">';

let n = parseInt(process.env.TAP_START || '0', 10);
let failed = 0;

function report(ok, desc, detail) {
  n += 1;
  console.log((ok ? 'ok ' : 'not ok ') + n + ' - ' + desc);
  if (!ok) {
    failed += 1;
    if (detail) console.log('#   ' + String(detail).split('\n').join('\n#   '));
  }
}

async function check(desc, fn) {
  try {
    const r = await fn();
    report(r !== false, desc, r === false ? 'condition false' : '');
  } catch (e) {
    report(false, desc, e && e.stack ? e.stack : e);
  }
}

function publish(obj) {
  return execFileSync('redis-cli', ['-p', REDIS_PORT, 'PUBLISH', PREFIX + 'live', JSON.stringify(obj)])
    .toString().trim();
}

async function hostRow(page, client) {
  return page.evaluate((c) => {
    const row = Array.from(document.querySelectorAll('#hosts tbody tr'))
      .find((tr) => tr.cells[0] && tr.cells[0].textContent === c);
    return row ? Array.from(row.cells).map((td) => td.textContent) : null;
  }, client);
}

(async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ksd-chromium-'));
  let ctx;
  try {
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      viewport: { width: 1400, height: 1000 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  } catch (e) {
    report(false, 'launch headless Chromium', e && e.stack ? e.stack : e);
    fs.rmSync(profile, { recursive: true, force: true });
    process.exit(1);
  }
  const page = ctx.pages()[0] || await ctx.newPage();
  const pageErrors = [];
  const external = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('request', (r) => { if (!r.url().startsWith(BASE)) external.push(r.url()); });
  /* any alert() call, from an injected script or event handler, is recorded */
  await page.addInitScript(() => {
    window.__alerts = [];
    window.alert = (m) => { window.__alerts.push(String(m)); };
  });
  page.on('dialog', (d) => { d.dismiss().catch(() => {}); });

  let resp;
  await check('dashboard page loads with CSP and nosniff headers', async () => {
    resp = await page.goto(BASE + '/', { waitUntil: 'load' });
    const h = resp.headers();
    return resp.status() === 200 &&
      (h['content-security-policy'] || '').includes("default-src 'self'") &&
      h['x-content-type-options'] === 'nosniff';
  });

  await check('hosts table filled from Redis', async () => {
    await page.waitForFunction(() => document.body.dataset.loaded === '1', null, { timeout: 15000 });
    await page.waitForFunction(() => document.querySelectorAll('#hosts tbody tr td.mono').length >= 2,
      null, { timeout: 15000 });
    return true;
  });

  await check('10.77.0.11 listed with verdict product', async () => {
    const r = await hostRow(page, '10.77.0.11');
    return r !== null && r[4] === 'product' && Number(r[7]) > 0;
  });

  await check('the machine column shows the MAC the capture saw', async () => {
    const r = await hostRow(page, '10.77.0.11');
    return r !== null && r[1] === 'a2:21:10:a7:94:c4';
  });

  await check('10.77.0.13 listed with verdict website-only', async () => {
    const r = await hostRow(page, '10.77.0.13');
    return r !== null && r[4] === 'website-only';
  });

  await check('sorting by events puts the busiest host first', async () => {
    await page.click('#hosts th[data-key="events"]');
    const first = await page.evaluate(() => {
      const rows = Array.from(document.querySelectorAll('#hosts tbody tr'));
      const ev = rows.map((tr) => Number(tr.cells[7].textContent));
      const sorted = ev.slice().sort((a, b) => b - a);
      return JSON.stringify(ev) === JSON.stringify(sorted) ? rows[0].cells[0].textContent : null;
    });
    return first === '10.77.0.11';
  });

  await check('text filter narrows the table', async () => {
    await page.fill('#q', 'securelist');
    const clients = await page.$$eval('#hosts tbody tr', (rows) => rows.map((r) => r.cells[0].textContent));
    await page.fill('#q', '');
    return clients.length === 1 && clients[0] === '10.77.0.13';
  });

  await check('verdict filter shows only website-only hosts', async () => {
    await page.selectOption('#f-verdict', 'website-only');
    const v = await page.$$eval('#hosts tbody tr', (rows) => rows.map((r) => r.cells[4].textContent));
    await page.selectOption('#f-verdict', '');
    return v.length >= 1 && v.every((x) => x === 'website-only');
  });

  await check('timeline drawn as SVG bars', async () => {
    await page.waitForSelector('#timeline rect.bar', { timeout: 10000 });
    return (await page.$$('#timeline rect.bar')).length >= 1;
  });

  await check('per-site roll-up rendered', async () => {
    const rows = await page.$$eval('#sites tbody tr', (r) => r.map((x) => x.cells.length));
    return rows.length >= 1 && rows[0] === 5;
  });

  await check('trend chart "product hosts per day" drawn over 90 days', async () => {
    await page.waitForFunction(() => document.getElementById('trend').dataset.days === '90',
      null, { timeout: 10000 });
    const r = await page.evaluate(() => ({
      title: document.querySelector('#trend-panel h2').textContent,
      bars: Array.from(document.querySelectorAll('#trend rect.bar')).map((b) => b.dataset.day),
    }));
    /* the demo capture is of 2026-11-27: a bar while that day is among the last 90 */
    const demo = Date.UTC(2026, 10, 27), now = Date.now();
    const inRange = now - demo < 89 * 86400000;
    return r.title.startsWith('Product hosts per day') &&
      (inRange ? r.bars.includes('2026-11-27') : r.bars.length === 0);
  });

  await check('the cut-over day is marked on the trend chart', async () => {
    const day = new Date(Date.now() - 10 * 86400000).toISOString().slice(0, 10);
    await page.fill('#f-cutover', day);
    await page.dispatchEvent('#f-cutover', 'change');
    await page.waitForSelector('#trend line.cutover', { state: 'attached', timeout: 10000 });
    const label = await page.$eval('#trend text.cutover-label', (t) => t.textContent);
    await page.fill('#f-cutover', '');
    await page.dispatchEvent('#f-cutover', 'change');
    return label === 'cut-over ' + day;
  });

  await check('clicking a host row opens its host page with its events, newest first', async () => {
    await page.click('#hosts tbody tr[data-client="10.77.0.12"] td.mono');
    await page.waitForFunction(() => document.body.dataset.hostLoaded === '10.77.0.12',
      null, { timeout: 10000 });
    const r = await page.evaluate(() => ({
      hash: location.hash,
      visible: !document.getElementById('host-page').hidden &&
        getComputedStyle(document.getElementById('hosts')).display !== 'none' &&
        document.getElementById('hosts').offsetParent === null,
      client: document.getElementById('hp-client').textContent,
      record: document.getElementById('hp-record').textContent,
      times: Array.from(document.querySelectorAll('#hp-events tbody tr')).map((tr) => tr.cells[0].textContent),
      indicators: Array.from(document.querySelectorAll('#hp-events tbody tr')).map((tr) => tr.cells[2].textContent),
    }));
    const sorted = r.times.slice().sort().reverse();
    if (!(r.hash === '#host=10.77.0.12' && r.visible && r.client === '10.77.0.12' &&
          r.record.includes('managed') && r.record.includes('product') && r.times.length === 3 &&
          r.record.includes('MACc6:71:4f:33:97:7b') &&
          JSON.stringify(r.times) === JSON.stringify(sorted) && r.indicators.includes('tcp/13000')))
      throw new Error(JSON.stringify(r));
    return true;
  });

  await check('the back link returns to the host table', async () => {
    await page.click('#hp-back');
    await page.waitForFunction(() => !document.body.classList.contains('host-mode'), null, { timeout: 5000 });
    return await page.evaluate(() => document.getElementById('host-page').hidden &&
      document.getElementById('hosts').offsetParent !== null);
  });

  await check('live feed connected (EventSource /api/live)', async () => {
    await page.waitForFunction(() => document.getElementById('live-state').textContent === 'live',
      null, { timeout: 10000 });
    return true;
  });

  await check('a published event with a script indicator shows as text only', async () => {
    const ev = {
      ts: new Date().toISOString().replace(/Z$/, '000Z'), sensor: 'e2e', client: '10.66.6.6',
      server: '192.0.2.66', sport: 40000, dport: 443, proto: 'tcp', evidence: 'sni',
      indicator: XSS, rule: 'kl-e2e-xss', category: 'update', confidence: 90, app: 'TLS',
    };
    const receivers = publish(ev);
    publish(Object.assign({}, ev, { indicator: XSS_IMG, rule: 'kl-e2e-img' }));
    await page.waitForFunction((x) => Array.from(document.querySelectorAll('#live tbody td'))
      .some((td) => td.textContent === x), XSS_IMG, { timeout: 10000 });
    const r = await page.evaluate((x) => {
      const cells = Array.from(document.querySelectorAll('#live tbody td'));
      return {
        text: cells.some((td) => td.textContent === x),
        children: cells.filter((td) => td.children.length > 0).length,
        scripts: document.querySelectorAll('script').length,
        imgs: document.querySelectorAll('img').length,
        alerts: window.__alerts.length,
      };
    }, XSS);
    await page.waitForTimeout(500); /* give an injected onerror handler time to run */
    const alerts = await page.evaluate(() => window.__alerts.length);
    if (!(Number(receivers) >= 1 && r.text && r.children === 0 && r.scripts === 1 &&
          r.imgs === 0 && alerts === 0))
      throw new Error(JSON.stringify({ receivers, r, alerts }));
    return true;
  });

  await check('no request left the dashboard origin', async () => {
    if (external.length) throw new Error(external.join('\n'));
    return true;
  });

  await check('no JavaScript error on the page', async () => {
    if (pageErrors.length) throw new Error(pageErrors.join('\n'));
    return true;
  });

  await check('screenshot saved to ' + SHOT, async () => {
    fs.mkdirSync(path.dirname(SHOT), { recursive: true });
    await page.evaluate(() => document.activeElement && document.activeElement.blur());
    await page.screenshot({ path: SHOT, fullPage: true });
    return fs.statSync(SHOT).size > 10000;
  });

  await ctx.close();
  fs.rmSync(profile, { recursive: true, force: true });
  process.exit(failed ? 1 : 0);
})().catch((e) => {
  report(false, 'browser test crashed', e && e.stack ? e.stack : e);
  process.exit(1);
});
