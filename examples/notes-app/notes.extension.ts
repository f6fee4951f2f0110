import type { Extension, ExtensionListener } from '../../src/index.js';
import { Note } from './note.entity.js';
import { notesModule } from './notes.module.js';
import { NotesResolver } from './notes.resolver.js';

/** Tenant type whose tenants get the notes table next to the core permission tables. */
export const NOTES_TENANT_TYPE = 'notes';

/** Logs each provisioned tenant with its type. */
export const logTenantProvisioned: ExtensionListener = (event, { logger }) => {
  logger.info(
    { tenantId: event.tenantId, slug: event.payload.slug, tenantType: event.payload.tenantType },
    'tenant provisioned',
  );
};

/** The notes application, as `createApp({ extensions: [notesExtension] })` takes it. */
export const notesExtension: Extension = {
  name: 'notes',
  modules: [notesModule],
  tenantTypes: { [NOTES_TENANT_TYPE]: ['core', notesModule.name] },
  entities: [Note],
  resolvers: [NotesResolver],
  subscribers: { tenantProvisioned: logTenantProvisioned },
};
