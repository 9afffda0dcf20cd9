import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SNSClient } from '@aws-sdk/client-sns';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { Publisher } from '../../publisher/index.ts';
import { ensureChromium } from '../support/chromium.ts';

/** Installed first when missing and possible; otherwise every test here is skipped, saying why. */
const setup = ensureChromium();

/** Debian's chromium, headless, with nothing that reaches beyond loopback. */
const CHROMIUM = {
  executablePath: setup.executablePath,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-quic',
    '--no-first-run',
    '--disable-component-update',
    '--disable-sync',
  ],
};

/** The deployment's mandatory type on the stack under test (the construct's `preferences.mandatory`). */
const MANDATORY = 'security';

/**
 * Starts a local stack on free ports. The stack picks a free port, lets it go and binds it later,
 * so with another stack up (other tests on the machine) the port is now and then taken in between:
 * that one failure is tried again, a bounded number of times.
 */
async function startStack(context: Record<string, string>): Promise<LocalStack> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startLocalStack({ quiet: true, ports: { gateway: 0, aws: 0, console: 0 }, context });
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'PORT_IN_USE' || attempt === 3) throw error;
    }
  }
}

/** Where the screenshot of the page goes, for a person to look at. */
const SCREENSHOT = '/tmp/pushline-preferences.png';

describe('the preferences panel of the message-center page in headless Chromium', () => {
  let stack: LocalStack;
  let publisher: Publisher;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  /** A page of `user` on a device of its own (a browser context), signed in, its preferences loaded. */
  const deviceOf = async (user: string): Promise<Page> => {
    const url = stack.outputs.ConsoleUrl;
    if (!url) throw new Error('The local stack serves no console.');
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    contexts.push(context);
    const page = await context.newPage();
    // Generous: on a loaded machine a local Lambda cold start can delay an answer by seconds.
    page.setDefaultTimeout(45_000);
    page.on('pageerror', (error) => assert.fail(`page error: ${error.message}`));
    await page.goto(url);
    await page.getByLabel('User id', { exact: true }).fill(user);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await signedIn(page, user);
    return page;
  };

  /** Waits until the page is connected as `user` and has the server's preferences. */
  const signedIn = async (page: Page, user: string) => {
    await page
      .getByRole('status')
      .filter({ hasText: `Connected as ${user}` })
      .waitFor();
    await page.locator('#preferences[data-loaded="true"]').waitFor();
  };

  /** The switch that mutes a type (or a source). */
  const muteSwitch = (page: Page, name: string, kind: 'type' | 'source' = 'type') =>
    page.getByRole('switch', { name: `Mute ${kind} ${name}`, exact: true });

  /** Waits until the switch of a type shows `state` (`muted`, `on`, or `pending`). */
  const switchShows = (page: Page, type: string, state: 'muted' | 'on') =>
    page.locator(`#pref-types li.pref[data-name="${type}"][data-state="${state}"]`).waitFor();

  /** Publishes to `user` with the publisher library and waits until the stack has delivered it. */
  const publish = async (user: string, type: string, text: string) => {
    await publisher.publish({ to: { users: [user] }, type, source: 'shop', data: { text } });
    await stack.idle(60_000);
  };

  /** Waits until the unread count of all sources shows `value`. */
  const totalShows = (page: Page, value: number) =>
    page.waitForFunction(
      (expected) => document.querySelector('[data-source=""] .count')?.textContent === String(expected),
      value,
    );

  before(async () => {
    if (setup.skip) return;
    stack = await startStack({ mandatoryTypes: MANDATORY });
    publisher = new Publisher({
      topicArn: stack.outputs.TopicArn,
      client: new SNSClient({
        endpoint: stack.outputs.AwsEndpointUrl,
        region: stack.outputs.Region,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
    });
    browser = await chromium.launch(CHROMIUM);
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close();
    await stack?.stop();
  });

  it('mutes a type from one device, shows it on the other, and pushes it to neither until it is unmuted', {
    timeout: 300_000,
    skip: setup.skip,
  }, async () => {
    const run = randomUUID().slice(0, 8);
    const user = `pia-${run}`;
    const laptop = await deviceOf(user);
    const phone = await deviceOf(user);

    // A type seen in a message gets a switch, off: the message was pushed.
    await publish(user, 'promo', `First promo ${run}`);
    for (const page of [laptop, phone]) {
      await page.locator('li.message', { hasText: `First promo ${run}` }).waitFor();
      await switchShows(page, 'promo', 'on');
      assert.equal(await muteSwitch(page, 'promo').isChecked(), false);
      assert.equal(await muteSwitch(page, 'shop', 'source').isChecked(), false, 'its source is listed too');
    }

    // Every state the switch goes through, recorded as it happens (the pending one is short).
    await laptop.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { prefStates: string[] }).prefStates = seen;
      new MutationObserver((records) => {
        for (const record of records) {
          const item = record.target as HTMLElement;
          const state = item.dataset.state ?? '';
          if (item.dataset.name === 'promo' && seen.at(-1) !== state) seen.push(state);
        }
      }).observe(document.getElementById('pref-types') as HTMLElement, {
        subtree: true,
        attributeFilter: ['data-state'],
      });
    });
    await muteSwitch(laptop, 'promo').click();
    await switchShows(laptop, 'promo', 'muted');
    const states = await laptop.evaluate(() => (window as unknown as { prefStates: string[] }).prefStates);
    assert.deepEqual(states, ['pending', 'muted'], 'pending until the server answered');
    assert.equal(await muteSwitch(laptop, 'promo').isChecked(), true);
    await laptop.locator('#prefs-status', { hasText: 'Muted the type promo' }).waitFor();

    // The other device learns it from the server's prefs frame, without a reload.
    await switchShows(phone, 'promo', 'muted');
    assert.equal(await muteSwitch(phone, 'promo').isChecked(), true);

    // A muted promo is pushed to neither device; a note published after it is.
    await publish(user, 'promo', `Muted promo ${run}`);
    await publish(user, 'note', `Note after ${run}`);
    for (const page of [laptop, phone]) {
      await page.locator('li.message', { hasText: `Note after ${run}` }).waitFor();
      assert.equal(await page.locator('li.message', { hasText: `Muted promo ${run}` }).count(), 0);
      await totalShows(page, 2); // the first promo and the note: the muted one is never counted
    }
    await laptop.screenshot({ path: SCREENSHOT, fullPage: true });

    // Unmuted from the phone this time: the laptop follows, and promos are pushed again.
    await muteSwitch(phone, 'promo').click();
    await switchShows(phone, 'promo', 'on');
    await switchShows(laptop, 'promo', 'on');
    assert.equal(await muteSwitch(laptop, 'promo').isChecked(), false);
    await publish(user, 'promo', `Promo again ${run}`);
    for (const page of [laptop, phone]) {
      await page.locator('li.message', { hasText: `Promo again ${run}` }).waitFor();
      await totalShows(page, 3);
    }

    // History has the muted one, read: after a reload the phone lists it with no unread badge.
    await phone.reload();
    await signedIn(phone, user);
    const kept = phone.locator('li.message', { hasText: `Muted promo ${run}` });
    await kept.waitFor();
    assert.equal(await kept.getAttribute('data-read'), 'true');
    assert.equal(await kept.locator('.badge').isVisible(), false);
    await totalShows(phone, 3);
    await switchShows(phone, 'promo', 'on');
  });

  it('shows the refusal to mute a mandatory type next to its switch, and turns the switch back off', {
    timeout: 180_000,
    skip: setup.skip,
  }, async () => {
    const run = randomUUID().slice(0, 8);
    const page = await deviceOf(`quinn-${run}`);

    await page.getByLabel('Add a type', { exact: true }).fill(MANDATORY);
    await page.getByRole('button', { name: 'Add the type', exact: true }).click();
    const security = muteSwitch(page, MANDATORY);
    await security.waitFor();
    assert.equal(await security.isChecked(), false);

    await security.click();
    const row = page.locator(`#pref-types li.pref[data-name="${MANDATORY}"]`);
    const refusal = row.locator('.pref-error[data-code="INVALID_REQUEST"]');
    await refusal.waitFor();
    assert.match((await refusal.textContent()) ?? '', /^Not muted: .*"security" cannot be muted/);
    await switchShows(page, MANDATORY, 'on');
    assert.equal(await security.isChecked(), false, 'the switch went back');
    const describedBy = ((await security.getAttribute('aria-describedby')) ?? '').split(' ');
    assert.ok(
      describedBy.includes((await refusal.getAttribute('id')) ?? '?'),
      'the refusal describes the switch',
    );

    // Another type still mutes, and the refusal stays with its own switch.
    await page.getByLabel('Add a type', { exact: true }).fill('digest');
    await page.getByRole('button', { name: 'Add the type', exact: true }).click();
    await muteSwitch(page, 'digest').click();
    await switchShows(page, 'digest', 'muted');
    assert.equal(await page.locator('#pref-types li.pref[data-name="digest"] .pref-error').textContent(), '');
    assert.match((await refusal.textContent()) ?? '', /cannot be muted/);
  });
});
