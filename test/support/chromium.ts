/**
 * Finds the Chromium the browser tests drive, installing Debian's package when it is missing and
 * this process may (root, Debian, apt-get): `npm ci && npm test` then needs nothing done by hand.
 * Where it may not, the browser tests are skipped with a reason that names what to install.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';

/** Where Debian's `chromium` package puts the browser. */
const DEBIAN_CHROMIUM = '/usr/bin/chromium';

/** The browser to launch, or why the browser tests are skipped. */
export type ChromiumSetup =
  | { readonly executablePath: string; readonly skip?: undefined }
  | { readonly executablePath?: undefined; readonly skip: string };

const isExecutable = (path: string) => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

const onPath = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;

/** Runs one apt-get step with its output on stderr (it is slow, so the person waiting sees progress). */
function aptGet(args: string[]): void {
  process.stderr.write(`[chromium] apt-get ${args.join(' ')}\n`);
  const result = spawnSync('apt-get', args, {
    stdio: ['ignore', 2, 2],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.status !== 0) {
    throw new Error(
      `apt-get ${args.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`}); install Chromium by hand (\`apt-get install chromium\`) or set CHROMIUM_PATH`,
    );
  }
}

/**
 * `CHROMIUM_PATH` when set (never installed over), else /usr/bin/chromium, installed with apt-get
 * first when it is missing and this is root on Debian. Throws when that install fails.
 */
export function ensureChromium(): ChromiumSetup {
  const wanted = process.env.CHROMIUM_PATH;
  if (wanted !== undefined) {
    return isExecutable(wanted)
      ? { executablePath: wanted }
      : { skip: `CHROMIUM_PATH=${wanted} is not an executable; point it at a Chromium or unset it` };
  }
  if (isExecutable(DEBIAN_CHROMIUM)) return { executablePath: DEBIAN_CHROMIUM };

  const root = process.getuid?.() === 0;
  const debian = existsSync('/etc/debian_version');
  if (!root || !debian || !onPath('apt-get')) {
    const why = !debian ? 'not Debian' : !root ? 'not root' : 'no apt-get';
    return {
      skip: `no Chromium at ${DEBIAN_CHROMIUM} (${why}, so not installed automatically): install the \`chromium\` package (Debian/Ubuntu: \`sudo apt-get install chromium\`) or set CHROMIUM_PATH`,
    };
  }
  process.stderr.write('[chromium] not installed: installing Debian package chromium (takes a minute)\n');
  aptGet(['update', '-q']);
  aptGet(['install', '-y', '-q', '--no-install-recommends', 'chromium']);
  if (!isExecutable(DEBIAN_CHROMIUM)) {
    throw new Error(`apt-get installed chromium, but ${DEBIAN_CHROMIUM} is still missing`);
  }
  process.stderr.write('[chromium] installed\n');
  return { executablePath: DEBIAN_CHROMIUM };
}
