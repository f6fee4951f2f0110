import {
  badInput,
  forbidden,
  isMemberOf,
  requireTenantModule,
  type RequestContext,
} from '../../src/index.js';
import { MAX_TITLE_LENGTH, Note } from './note.entity.js';
import { NOTES_MODULE } from './notes.module.js';

/** Returns the notes of the routed tenant, oldest first, to its members only. */
export async function listNotes(ctx: RequestContext): Promise<Note[]> {
  await requireNotesMember(ctx);

  return ctx.em.find(Note, {}, { orderBy: { createdAt: 'asc', id: 'asc' } });
}

/** Stores a note in the routed tenant's schema for one of its members. */
export async function createNote(ctx: RequestContext, rawTitle: string): Promise<Note> {
  await requireNotesMember(ctx);
  const title = rawTitle.trim();
  if (title.length === 0 || title.length > MAX_TITLE_LENGTH) {
    throw badInput('title', `The title must have 1 to ${MAX_TITLE_LENGTH} characters.`);
  }

  const note = ctx.em.create(Note, { title });
  await ctx.em.persist(note).flush();

  return note;
}

/**
 * Lets only members of the routed tenant through, platform staff included only when they are
 * members, and only on tenants whose type installs the notes module.
 */
async function requireNotesMember(ctx: RequestContext): Promise<void> {
  if (!(await isMemberOf(ctx, ctx.tenant))) {
    throw forbidden(`Only members of the tenant "${ctx.tenant.slug}" may use its notes.`);
  }

  requireTenantModule(ctx, ctx.tenant, NOTES_MODULE);
}
