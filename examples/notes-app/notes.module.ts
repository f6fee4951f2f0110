import type { TenantSchemaModule } from '../../src/index.js';
import { MAX_TITLE_LENGTH } from './note.entity.js';

/** Name of the module, the prefix of its migration names and the name tenant types list. */
export const NOTES_MODULE = 'notes';

/** The `notes` table in every schema of a tenant whose type includes this module. */
export const notesModule: TenantSchemaModule = {
  name: NOTES_MODULE,
  migrations: [
    {
      name: 'notes-0001-create-notes',
      up: (schema) => `
        create table ${schema}.notes (
          id uuid primary key default gen_random_uuid(),
          title text not null check (char_length(title) between 1 and ${MAX_TITLE_LENGTH}),
          created_at timestamptz not null default now(),
          updated_at timestamptz not null default now()
        );
        create index on ${schema}.notes (created_at, id);
      `,
    },
  ],
};
