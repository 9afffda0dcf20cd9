import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
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

/**
 * Starts a local stack on free ports. The stack picks a free port, lets it go and binds it later,
 * so with a second stack up (and its sockets taking ephemeral ports) the port is now and then taken
 * in between: that one failure is tried again, a bounded number of times.
 */
async function startStack(context?: Record<string, string>): Promise<LocalStack> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startLocalStack({
        quiet: true,
        ports: { gateway: 0, aws: 0, console: 0 },
        ...(context !== undefined && { context }),
      });
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'PORT_IN_USE' || attempt === 3) throw error;
    }
  }
}

/** Where the screenshot of the page goes, for a person to look at. */
const SCREENSHOT = '/tmp/pushline-conversations.png';

describe('conversations on the message-center page in headless Chromium', () => {
  let stack: LocalStack;
  /** A stack whose deployment does not let users write to users (started by the test that needs it). */
  let closedStack: LocalStack | undefined;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  const consoleUrl = (of: LocalStack = stack) => {
    const url = of.outputs.ConsoleUrl;
    if (!url) throw new Error('The local stack serves no console.');
    return url;
  };

  /** A page of `user` on a device of its own (a browser context), signed in with the console's token. */
  const deviceOf = async (user: string, of: LocalStack = stack): Promise<Page> => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    contexts.push(context);
    const page = await context.newPage();
    // Generous: on a loaded machine a local Lambda cold start can delay a delivery by seconds.
    page.setDefaultTimeout(45_000);
    page.on('pageerror', (error) => assert.fail(`page error: ${error.message}`));
    await page.goto(consoleUrl(of));
    await page.getByLabel('User id', { exact: true }).fill(user);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `Connected as ${user}` })
      .waitFor();
    return page;
  };

  /** Opens the thread with `peer` by typing the user id. */
  const openWith = async (page: Page, peer: string) => {
    await page.getByLabel('Write to a user', { exact: true }).fill(peer);
    await page.getByRole('button', { name: 'Open', exact: true }).click();
    await page.getByRole('heading', { name: `Conversation with ${peer}` }).waitFor();
  };

  /** Writes `text` in the open thread and waits until the server accepted it. */
  const write = async (page: Page, peer: string, text: string) => {
    const box = page.getByLabel(`Message to ${peer}`, { exact: true });
    await box.fill(text);
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    await page.locator('#chat-status', { hasText: 'Sent.' }).waitFor();
    assert.equal(await box.inputValue(), '', 'the box is emptied once the message is accepted');
  };

  /** The texts of the open thread, oldest first, once it holds `count` lines. */
  const threadShows = async (page: Page, count: number): Promise<string[]> => {
    await page.waitForFunction(
      (expected) => document.querySelectorAll('#thread li.chat-line').length === expected,
      count,
    );
    return page.locator('#thread li.chat-line .chat-text').allTextContents();
  };

  before(async () => {
    if (setup.skip) return;
    stack = await startStack();
    browser = await chromium.launch(CHROMIUM);
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close();
    await closedStack?.stop();
    await stack?.stop();
  });

  it("shows a conversation live on both sides and on the writer's other device", {
    timeout: 240_000,
    skip: setup.skip,
  }, async () => {
    const run = randomUUID().slice(0, 8);
    const alice = `alice-${run}`;
    const bob = `bob-${run}`;
    const aliceLaptop = await deviceOf(alice);
    const alicePhone = await deviceOf(alice);
    const bobLaptop = await deviceOf(bob);

    // Markup in a message is text: it must show as typed and never become an element.
    const hello = `Hello Bob <img src=x onerror="document.title='owned'"> ${run}`;
    await openWith(aliceLaptop, bob);
    await write(aliceLaptop, bob, hello);
    assert.deepEqual(await threadShows(aliceLaptop, 1), [hello]);
    assert.equal(await aliceLaptop.locator('#thread li.chat-line .chat-from').textContent(), 'You');

    // Bob's thread with Alice appears by itself; the line is in his message list too, unread.
    await bobLaptop.getByRole('button', { name: alice, exact: true }).click();
    await bobLaptop.getByRole('heading', { name: `Conversation with ${alice}` }).waitFor();
    assert.deepEqual(await threadShows(bobLaptop, 1), [hello]);
    assert.equal(await bobLaptop.locator('#thread li.chat-line .chat-from').textContent(), alice);
    const listed = bobLaptop.locator('li.message', { hasText: `Hello Bob` });
    await listed.waitFor();
    assert.equal(await listed.getAttribute('data-read'), 'false');
    assert.equal(await bobLaptop.locator('#thread img, #messages img').count(), 0, 'no markup was made');

    const answer = `Hi Alice, got it ${run}`;
    await write(bobLaptop, alice, answer);
    assert.deepEqual(await threadShows(bobLaptop, 2), [hello, answer]);
    assert.deepEqual(await threadShows(aliceLaptop, 2), [hello, answer]);

    // Alice's other device placed her own line (its data names Bob) and Bob's answer in one thread.
    await alicePhone.getByRole('button', { name: bob, exact: true }).click();
    assert.deepEqual(await threadShows(alicePhone, 2), [hello, answer]);
    assert.deepEqual(await alicePhone.locator('#thread li.chat-line .chat-from').allTextContents(), [
      'You',
      bob,
    ]);
    await aliceLaptop.screenshot({ path: SCREENSHOT, fullPage: true });
    for (const page of [aliceLaptop, alicePhone, bobLaptop]) {
      assert.notEqual(await page.title(), 'owned');
    }
  });

  it("writes to a joined topic, and every member sees the line in the topic's thread", {
    timeout: 150_000,
    skip: setup.skip,
  }, async () => {
    const run = randomUUID().slice(0, 8);
    const topic = `room.${run}`;
    const erin = await deviceOf(`erin-${run}`);
    const frank = await deviceOf(`frank-${run}`);
    // The console's tokens grant room.* (LOCAL_CONSOLE_TOPICS).
    for (const page of [erin, frank]) {
      await page.getByLabel('Topic under room.*', { exact: true }).fill(topic);
      await page.getByRole('button', { name: 'Join a topic under room.*' }).click();
      await page
        .getByRole('status')
        .filter({ hasText: `Joined ${topic}.` })
        .waitFor();
      await page.getByRole('button', { name: `Topic ${topic}`, exact: true }).click();
      await page.getByRole('heading', { name: `Topic ${topic}`, exact: true }).waitFor();
    }

    const line = `Hello room ${run}`;
    await write(erin, topic, line);
    for (const page of [erin, frank]) assert.deepEqual(await threadShows(page, 1), [line]);
    assert.equal(await frank.locator('#thread li.chat-line .chat-from').textContent(), `erin-${run}`);
    assert.equal(await erin.locator('#thread li.chat-line .chat-from').textContent(), 'You');
  });

  it('explains a refused message next to the box and keeps the text typed', {
    timeout: 150_000,
    skip: setup.skip,
  }, async () => {
    const run = randomUUID().slice(0, 8);
    const carol = `carol-${run}`;
    const page = await deviceOf(carol);
    await openWith(page, `dave-${run}`);

    const box = page.getByLabel(`Message to dave-${run}`, { exact: true });
    const tooLong = `${'x'.repeat(130 * 1024)} ${run}`;
    await box.fill(tooLong);
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    const error = page.locator('#chat-error[data-code="TOO_LARGE"]');
    await error.waitFor();
    assert.match((await error.textContent()) ?? '', /Too long to send: a message must fit 128 KB/);
    assert.equal(await box.inputValue(), tooLong, 'the typed text is still there');

    // Shortened, it goes, and the error goes away.
    await box.fill(`Short now ${run}`);
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    await page.locator('#chat-status', { hasText: 'Sent.' }).waitFor();
    assert.equal(await page.locator('#chat-error').textContent(), '');
    assert.deepEqual(await threadShows(page, 1), [`Short now ${run}`]);

    // The server's own refusal: a deployment where users may not write to users.
    closedStack = await startStack({ sendToUsers: 'false' });
    const refused = await deviceOf(carol, closedStack);
    await openWith(refused, `dave-${run}`);
    const refusedBox = refused.getByLabel(`Message to dave-${run}`, { exact: true });
    const kept = `Will be refused ${run}`;
    await refusedBox.fill(kept);
    await refused.getByRole('button', { name: 'Send', exact: true }).click();
    const forbidden = refused.locator('#chat-error[data-code="FORBIDDEN"]');
    await forbidden.waitFor();
    assert.match((await forbidden.textContent()) ?? '', new RegExp(`Not allowed to write to dave-${run}`));
    assert.equal(await refusedBox.inputValue(), kept, 'the typed text is still there');
    assert.equal(await refused.locator('#thread li.chat-line').count(), 0);
  });
});
