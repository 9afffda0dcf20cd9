import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SNSClient } from '@aws-sdk/client-sns';
import { SignJWT } from 'jose';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { LOCAL_JWT_SECRET } from '../../local/tokens.ts';
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
const SCREENSHOT = '/tmp/pushline-topics.png';

/**
 * A local token for `userId` granting `topics`, signed like the console's own tokens (the console
 * signs them without a `topics` claim, so the test answers the page's token requests itself).
 */
async function tokenWithTopics(userId: string, topics: string[]): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ topics })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuer('pushline-local')
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .sign(new TextEncoder().encode(LOCAL_JWT_SECRET));
}

describe('topics on the message-center page in headless Chromium', () => {
  let stack: LocalStack;
  let browser: Browser;
  let publisher: Publisher;
  const contexts: BrowserContext[] = [];

  const consoleUrl = () => {
    const url = stack.outputs.ConsoleUrl;
    if (!url) throw new Error('The local stack serves no console.');
    return url;
  };

  /** A tab whose token requests are answered with tokens granting `topics`. */
  const newTab = async (context: BrowserContext, topics: string[]): Promise<Page> => {
    const page = await context.newPage();
    // Generous: on a loaded machine a local Lambda cold start can delay a delivery by seconds.
    page.setDefaultTimeout(45_000);
    page.on('pageerror', (error) => assert.fail(`page error: ${error.message}`));
    await page.route('**/api/token', async (route) => {
      const { userId } = JSON.parse(route.request().postData() ?? '{}') as { userId: string };
      const token = await tokenWithTopics(userId, topics);
      await route.fulfill({ status: 200, contentType: 'application/json', json: { token, userId } });
    });
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

  /** Waits until the topic is (or is not) in the "Joined" list. */
  const joinedShows = (page: Page, topic: string, joined: boolean) =>
    page.waitForFunction(
      ([name, expected]) =>
        [...document.querySelectorAll<HTMLElement>('#joined-topics li')].some(
          (item) => item.dataset.topic === name,
        ) === expected,
      [topic, joined] as const,
    );

  before(async () => {
    if (setup.skip) return;
    stack = await startLocalStack({ quiet: true, ports: { gateway: 0, aws: 0, console: 0 } });
    browser = await chromium.launch(CHROMIUM);
    publisher = new Publisher({
      topicArn: stack.outputs.TopicArn,
      client: new SNSClient({
        endpoint: stack.outputs.AwsEndpointUrl,
        region: stack.outputs.Region,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
    });
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close();
    await stack?.stop();
  });

  it('joins a topic under a granted prefix, shows its messages marked with the topic, and leaves it', {
    timeout: 240_000,
    skip: setup.skip,
  }, async () => {
    const run = randomUUID().slice(0, 8);
    const user = `topics-${run}`;
    const topic = `news.${run}`;
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    contexts.push(context);
    const page = await newTab(context, ['news.*', `room:${run}`]);
    await signIn(page, user);

    // What the token grants: a form for the prefix, a button for the exact name.
    await page.getByRole('button', { name: `Join room:${run}` }).waitFor();
    const field = page.getByLabel('Topic under news.*', { exact: true });
    assert.equal(await field.inputValue(), 'news.', 'the prefix is filled in');

    // A name the prefix does not allow is explained, and nothing is joined.
    await field.fill('sport.results');
    await page.getByRole('button', { name: 'Join a topic under news.*' }).click();
    await page.getByText('Cannot join: the name must start with "news."').waitFor();
    assert.equal(await field.getAttribute('aria-invalid'), 'true');

    await field.fill(topic);
    await page.getByRole('button', { name: 'Join a topic under news.*' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `Joined ${topic}.` })
      .waitFor();
    await joinedShows(page, topic, true);

    await publisher.publish({
      to: { topic },
      type: 'headline',
      source: 'newsroom',
      data: { text: `Topic news ${run}` },
    });
    const item = page.locator(`li.message[data-topic="${topic}"]`, { hasText: `Topic news ${run}` });
    await item.waitFor();
    assert.match((await item.locator('.meta').textContent()) ?? '', new RegExp(`Topic ${topic}`));
    assert.equal(await item.getByRole('button').count(), 0, 'a topic message has nothing to mark as read');
    assert.equal(
      await page.locator('[data-source=""] .count').textContent(),
      '0',
      'topic messages are not unread messages',
    );
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    await page.getByRole('button', { name: `Leave ${topic}` }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `Left ${topic}.` })
      .waitFor();
    await joinedShows(page, topic, false);

    // After leaving, the topic's messages no longer arrive; a user message shows the page is live.
    await publisher.publish({ to: { topic }, type: 'headline', data: { text: `After leaving ${run}` } });
    await stack.idle(30_000);
    await publisher.publish({ to: { users: [user] }, type: 'note', data: { text: `Marker ${run}` } });
    await page.locator('li.message', { hasText: `Marker ${run}` }).waitFor();
    await stack.idle(30_000);
    assert.equal(await page.locator('li.message', { hasText: `After leaving ${run}` }).count(), 0);
  });
});
