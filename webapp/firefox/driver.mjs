// driver.mjs drives Debian's firefox-esr, headless, over WebDriver BiDi (puppeteer-core), for
// the Go browser tests (webapp/firefox_test.go). One JSON request per line on stdin, one JSON
// answer per line on stdout, in order:
//
//   {"op":"open","url":"…"}             -> {"ok":true,"value":<page number>}
//   {"op":"eval","page":N,"expr":"…"}   -> {"ok":true,"value":<the expression's JSON value>}
//   {"op":"close","page":N}             -> {"ok":true}
//
// An error answers {"ok":false,"error":"…"}. The browser gets a fresh profile with a fake
// camera and microphone, no permission prompt, and WebRTC host candidates on loopback without
// mDNS names (the test SFU listens on 127.0.0.1). It quits when stdin closes.
import readline from 'node:readline';
import puppeteer from 'puppeteer-core';

const executablePath = process.env.SEALROOM_FIREFOX || '/usr/bin/firefox-esr';

const browser = await puppeteer.launch({
  browser: 'firefox',
  protocol: 'webDriverBiDi',
  executablePath,
  headless: true,
  extraPrefsFirefox: {
    'media.navigator.streams.fake': true,
    'media.navigator.permission.disabled': true,
    'media.peerconnection.ice.loopback': true,
    'media.peerconnection.ice.obfuscate_host_addresses': false,
    'media.autoplay.default': 0, // allowed: remote audio and video play without a gesture
    'media.autoplay.blocking_policy': 0,
    'dom.min_background_timeout_value': 4, // no throttling of timers in background tabs
    'dom.timeout.enable_budget_timer_throttling': false,
  },
});

const pages = [];

async function handle(req) {
  switch (req.op) {
    case 'open': {
      const page = await browser.newPage();
      await page.setViewport({ width: 412, height: 915 });
      pages.push(page);
      const n = pages.length - 1;
      // The page's own errors and warnings, for the test log (the page never logs a key).
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warn') process.stderr.write(`page ${n} ${m.type()}: ${m.text()}\n`);
      });
      page.on('pageerror', (e) => process.stderr.write(`page ${n} error: ${e?.message ?? e}\n`));
      await page.goto(req.url);
      return pages.length - 1;
    }
    case 'eval': {
      const page = pages[req.page];
      if (!page) throw new Error(`no page ${req.page}`);
      // A string is evaluated as an expression and a promise awaited; the value must be JSON.
      const v = await page.evaluate(`(async () => JSON.stringify(await (${req.expr})))()`);
      return v === undefined ? null : JSON.parse(v);
    }
    case 'close': {
      await pages[req.page]?.close();
      pages[req.page] = null;
      return null;
    }
  }
  throw new Error(`unknown op ${req.op}`);
}

const out = (m) => process.stdout.write(JSON.stringify(m) + '\n');
const rl = readline.createInterface({ input: process.stdin });
let chain = Promise.resolve();
rl.on('line', (line) => {
  chain = chain.then(async () => {
    let req;
    try {
      req = JSON.parse(line);
      out({ ok: true, value: await handle(req) });
    } catch (e) {
      out({ ok: false, error: String(e?.message ?? e) });
    }
  });
});
rl.on('close', () => {
  chain.then(() => browser.close()).finally(() => process.exit(0));
});
out({ ok: true, value: 'ready' });
