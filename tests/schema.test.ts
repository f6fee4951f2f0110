import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';

import { renderSchema } from '../src/cli/print-schema.js';

describe('schema.graphql', () => {
  it('matches the schema built from the code', async () => {
    const committed = await readFile(new URL('../schema.graphql', import.meta.url), 'utf8');

    // On a mismatch, run `npm run schema` and commit the result.
    expect(committed).toBe(await renderSchema());
  });
});
