/**
 * Gives Zod its English messages. Every edge (envelopes, client frames, fan-out parts) validates with
 * Zod's tree-shakable "mini" build (`import * as z from 'zod/mini'`), which has no messages of its
 * own; the modules that build schemas import this one for its effect. The full build would cost each
 * function bundle about 420 KB (every locale and method comes along), the mini one about 25 KB: see
 * `npm run bench:cold`. (Re-exporting `z` from here would keep every export and undo the saving.)
 */
import { en } from 'zod/locales';
import { config } from 'zod/mini';

config(en());
