import 'reflect-metadata';
import { lexicographicSortSchema, printSchema } from 'graphql';

import { createSchema } from '../resolvers/schema.js';

/** Prints the GraphQL schema in SDL, sorted, as committed in schema.graphql. */
export async function renderSchema(): Promise<string> {
  const schema = await createSchema();

  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(await renderSchema());
}
