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

/** Where the screenshot of the page goes, for a person to look at. */
const SCREENSHOT = '/tmp/pushline-message-center.png';

describe('the message-center page in headless Chromium', () => {
  let stack: LocalStack;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  const consoleUrl = () => {
    const url = stack.outputs.ConsoleUrl;
    if (!url) throw new Error('The local stack serves no console.');
    return url;
  };

  const newTab = async (context: BrowserContext): Promise<Page> => {
    const page = await context.newPage();
    // Generous: on a loaded machine a local Lambda cold start can delay a delivery by seconds.
    page.setDefaultTimeout(45_000);
    page.on('pageerror', (error) => assert.fail(`page error: ${error.message}`));
    await page.goto(consoleUrl());
    return page;
  };

  const signIn = async (page: Page, user: string) => {
    await page.getByLabel('User id', { exact: true }).fill(user);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `Connected as ${user}` })
      .waitFor();
  };

  /** Publishes through the page's own form. */
  const publishFromForm = async (page: Page, fields: { type: string; source: string; data: string }) => {
    await page.getByLabel('Type', { exact: true }).fill(fields.type);
    await page.getByLabel('Source (optional)', { exact: true }).fill(fields.source);
    await page.getByLabel('Data (JSON)', { exact: true }).fill(fields.data);
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Published message' }).waitFor();
  };

  /** Waits until the unread count of source `name` ('' for all) shows `value`. */
  const countShows = (page: Page, name: string, value: number) =>
    page.waitForFunction(
      ([source, expected]) =>
        document.querySelector(`[data-source="${source}"] .count`)?.textContent === String(expected),
      [name, value] as const,
    );

  before(async () => {
    if (setup.skip) return;
    stack = await startLocalStack({ quiet: true, ports: { gateway: 0, aws: 0, console: 0 } });
    browser = await chromium.launch(CHROMIUM);
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close();
    await stack?.stop();
  });

  it('shows a new message in two tabs of the same user, and reading it in one clears it in the other', {
    timeout: 240_000,
    skip: setup.skip,
  }, async () => {
    const user = `tabs-${randomUUID().slice(0, 8)}`;
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    contexts.push(context);
    const one = await newTab(context);
    const two = await newTab(context);
    await signIn(one, user);
    await signIn(two, user);

    await publishFromForm(one, {
      type: 'invoice',
      source: 'billing',
      data: '{"text": "Invoice 42 is ready"}',
    });
    await publishFromForm(one, { type: 'mention', source: 'chat', data: '{"text": "Ada mentioned you"}' });

    for (const tab of [one, two]) {
      const item = tab.locator('li.message', { hasText: 'Invoice 42 is ready' });
      await item.waitFor();
      await tab.locator('li.message', { hasText: 'Ada mentioned you' }).waitFor();
      assert.equal(await item.getAttribute('data-read'), 'false');
      await countShows(tab, 'billing', 1);
      await countShows(tab, '', 2);
      // Newest first.
      assert.match((await tab.locator('li.message').first().textContent()) ?? '', /Ada mentioned you/);
    }
    // The page batches announcements for screen readers (400 ms), so wait for the line to appear.
    await two
      .locator('#announcer p', { hasText: /New message from (billing|chat)|2 new messages/ })
      .first()
      .waitFor();
    await one.screenshot({ path: SCREENSHOT, fullPage: true });

    await two.getByRole('button', { name: 'Mark "invoice" from billing as read' }).click();

    for (const tab of [one, two]) {
      await tab.locator('li.message[data-read="true"]', { hasText: 'Invoice 42 is ready' }).waitFor();
      await countShows(tab, 'billing', 0);
      await countShows(tab, '', 1);
      await countShows(tab, 'chat', 1);
    }
    await one.waitForFunction(() => document.title === '(1) Pushline message center');
    assert.equal(
      await one.locator('li.message', { hasText: 'Invoice 42' }).getByRole('button').isVisible(),
      false,
    );
  });

  it('loads older messages on demand and marks all as read, loaded or not', {
    timeout: 150_000,
    skip: setup.skip,
  }, async () => {
    const user = `older-${randomUUID().slice(0, 8)}`;
    const publisher = new Publisher({
      topicArn: stack.outputs.TopicArn,
      client: new SNSClient({
        endpoint: stack.outputs.AwsEndpointUrl,
        region: stack.outputs.Region,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
    });
    await publisher.publishAll(
      Array.from({ length: 55 }, (_, i) => ({
        to: { users: [user] },
        type: 'note',
        source: 'feed',
        data: { text: `note ${i}` },
      })),
    );
    await stack.idle(30_000);

    const context = await browser.newContext();
    contexts.push(context);
    const page = await newTab(context);
    await signIn(page, user);
    await countShows(page, '', 55);
    const items = page.locator('li.message');
    await page.waitForFunction(() => document.querySelectorAll('li.message').length === 50);

    await page.getByRole('button', { name: 'Load older messages' }).click();
    await page.getByRole('button', { name: 'No older messages' }).waitFor();
    assert.equal(await items.count(), 55);
    await page.locator('li.message', { hasText: 'note 0' }).first().waitFor();

    await page.getByRole('button', { name: 'Mark all as read' }).click();
    await countShows(page, '', 0);
  });

  it('is usable from the keyboard: sign in, mark as read, with focus kept in place', {
    timeout: 150_000,
    skip: setup.skip,
  }, async () => {
    const user = `keys-${randomUUID().slice(0, 8)}`;
    const context = await browser.newContext();
    contexts.push(context);
    const page = await newTab(context);

    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to messages');
    await page.getByLabel('User id', { exact: true }).focus();
    await page.keyboard.type(user);
    await page.keyboard.press('Enter');
    await page
      .getByRole('status')
      .filter({ hasText: `Connected as ${user}` })
      .waitFor();

    await publishFromForm(page, { type: 'alert', source: 'ops', data: '{"text": "Disk almost full"}' });
    const button = page.getByRole('button', { name: 'Mark "alert" from ops as read' });
    await button.focus();
    await page.keyboard.press('Enter');

    await page.locator('li.message[data-read="true"]', { hasText: 'Disk almost full' }).waitFor();
    assert.equal(
      await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.id !== undefined),
      true,
      'focus moved to the message',
    );
    await countShows(page, '', 0);
  });

  it('explains what is wrong with an invalid publish form instead of sending it', {
    timeout: 150_000,
    skip: setup.skip,
  }, async () => {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await newTab(context);
    await signIn(page, `form-${randomUUID().slice(0, 8)}`);

    await page.getByLabel('Data (JSON)', { exact: true }).fill('{not json');
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Data is not valid JSON' }).waitFor();
    assert.equal(await page.getByLabel('Data (JSON)', { exact: true }).getAttribute('aria-invalid'), 'true');

    await page.getByLabel('Data (JSON)', { exact: true }).fill('{}');
    await page.getByLabel('Type', { exact: true }).fill('');
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Not published: type: ' }).waitFor();
  });
});
