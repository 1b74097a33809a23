// Takes the Temporal UI screenshots of docs/screenshots with headless
// Chromium on `go run ./local`: the workflow list with the subscriptions'
// search attributes, one subscription (decrypted input, summary and current
// details) and its event history (activity and timer summaries).
//
//   apt-get install -y chromium          # once (Debian); or CHROMIUM=/path/to/chrome
//   cd docs/screenshots && npm ci && node shoot.mjs
//
// It starts `go run ./local` on free ports with the demo's clock at 3 hours
// a second, waits until the declined-card subscription (demo-dunning) is
// suspended, takes the screenshots, and stops the stack. Nothing here runs
// in CI or in ./test.sh.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const outDir = process.env.SHOTS_DIR ?? here;
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const speedup = 10800; // 3 subscription hours a real second: demo-dunning is suspended from day 7 to day 12.5 (44 s)
const account = 'demo-dunning';
const workflowId = `subscription-${account}`;
const viewport = { width: 1366, height: 800 }; // wide enough for the list's search attribute columns
const columns = ['SubscriptionStatus', 'AccessActive', 'Plan', 'NextChargeAt', 'OutstandingMinor'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// startLocal runs `go run ./local` in its own process group and resolves
// with the UI's URL once the stack is up; its output goes to a log file.
function startLocal() {
  const logDir = mkdtempSync(join(tmpdir(), 'subscriptions-shots-'));
  const logFile = join(logDir, 'local.log');
  const log = createWriteStream(logFile);
  const args = ['run', './local', '-port', '0', '-ui-port', '0', '-codec-port', '0',
    '-metrics-address', '127.0.0.1:0', '-speedup', String(speedup), '-for', '5m'];
  console.log(`go ${args.join(' ')}   (its output: ${logFile})`);
  const child = spawn('go', args, { cwd: repo, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr.pipe(log, { end: false });
  const exited = new Promise((r) => child.on('exit', (code, sig) => r(code ?? sig)));
  const ready = new Promise((resolveReady, rejectReady) => {
    let ui = '';
    let codec = '';
    createInterface({ input: child.stdout }).on('line', (line) => {
      log.write(line + '\n');
      const m = line.match(/^Temporal UI: (\S+)/);
      if (m) ui = m[1];
      if (line.startsWith('Payload encryption: ')) console.log(line);
      if (line.startsWith('Codec server: ')) {
        codec = line;
        console.log(line);
      }
      if (ui && line.includes(`${account}: started`)) {
        if (!codec) console.warn('no codec server: the UI will show the payloads encrypted');
        resolveReady(ui);
      }
    });
    exited.then((code) => rejectReady(new Error(`go run ./local exited (${code}) before the demo started: see ${logFile}`)));
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(-child.pid, 'SIGINT'); // local stops its worker, stand-ins and dev server
      const done = await Promise.race([exited.then(() => true), sleep(30000).then(() => false)]);
      if (!done) process.kill(-child.pid, 'SIGKILL');
    }
    log.end();
  };
  return { ready, stop, logDir };
}

// waitForVisibility polls the UI's HTTP API until query matches a workflow.
async function waitForVisibility(ui, query, timeoutMs) {
  const url = `${ui}/api/v1/namespaces/default/workflows?pageSize=1&query=${encodeURIComponent(query)}`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      if (res.ok && ((await res.json()).executions ?? []).length > 0) return;
    } catch {
      // the UI server is still starting
    }
    await sleep(500);
  }
  throw new Error(`no workflow matched ${query} within ${timeoutMs / 1000}s`);
}

async function shoot(ui) {
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  try {
    const context = await browser.newContext({ viewport, colorScheme: 'light' });
    // The UI keeps its table columns and event view in localStorage.
    await context.addInitScript((cols) => {
      localStorage.setItem('namespace-workflow-table-columns', JSON.stringify({
        default: [{ label: 'Status', pinned: true }, { label: 'Workflow ID', pinned: true },
          ...cols.map((label) => ({ label, pinned: false }))],
      }));
      localStorage.setItem('eventFilterSort', JSON.stringify('ascending'));
      localStorage.setItem('eventView', JSON.stringify('compact'));
    }, columns);
    const page = await context.newPage();
    const save = async (name) => {
      const path = join(outDir, name);
      await page.screenshot({ path });
      console.log(`wrote ${path}`);
    };

    // 1. The workflow list, filtered on the workflow type, with the search attributes.
    await page.goto(`${ui}/namespaces/default/workflows?query=${encodeURIComponent('WorkflowType="Subscription"')}`);
    await page.getByRole('button', { name: 'Collapse saved views' }).click();
    await page.getByText('suspended', { exact: true }).waitFor();
    await page.getByText('subscription-demo-plan', { exact: true }).waitFor();
    await sleep(1000);
    await save('workflows.png');

    // 2. One subscription: its decrypted input.
    await page.goto(`${ui}/namespaces/default/workflows/${workflowId}`);
    await page.getByText('"stripeCustomerId"').first().waitFor(); // decoded by the codec server
    await page.getByText('Event History').first().waitFor();
    await sleep(1500);
    await save('subscription.png');

    // 3. Its User Metadata: summary and details set at start, current details kept up to date.
    const historyURL = page.url(); // …/workflows/<id>/<run id>/history
    await page.goto(historyURL.replace(/\/history$/, '/user-metadata'));
    await page.getByText('Current Details').first().waitFor();
    await page.getByText(/suspended/).filter({ visible: true }).first().waitFor();
    await sleep(1500);
    await save('user-metadata.png');

    // 4. Its event history, oldest first, compact: one row per activity or timer with its summary.
    await page.setViewportSize({ width: viewport.width, height: 1150 }); // down to the suspension
    await page.goto(historyURL);
    await page.getByText('Event History').first().waitFor();
    await page.getByText('charge cycle 1, attempt 0').first().waitFor();
    await page.evaluate(() => {
      const h = [...document.querySelectorAll('h1,h2,h3,h4')].find((e) => e.textContent.includes('Event History'));
      if (!h) return;
      h.scrollIntoView({ block: 'start' });
      for (let e = h.parentElement; e; e = e.parentElement) {
        if (e.scrollTop > 0) {
          e.scrollTop -= 64; // below the UI's top bar
          break;
        }
      }
    });
    await sleep(1500);
    await save('history.png');
  } finally {
    await browser.close();
  }
}

const local = startLocal();
let failed = false;
const interrupt = () => local.stop().then(() => process.exit(130));
process.on('SIGINT', interrupt);
process.on('SIGTERM', interrupt);
try {
  const ui = await local.ready;
  console.log(`Temporal UI: ${ui}; waiting until ${account} is suspended…`);
  await waitForVisibility(ui, `WorkflowId="${workflowId}" AND SubscriptionStatus="suspended"`, 180000);
  await sleep(2000); // its suspension email and the timers after it
  await shoot(ui);
  // The screenshots must all show it suspended, not recovered by the demo's card update.
  await waitForVisibility(ui, `WorkflowId="${workflowId}" AND SubscriptionStatus="suspended"`, 1000);
} catch (err) {
  failed = true;
  console.error(err);
} finally {
  await local.stop();
  if (!failed) rmSync(local.logDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
