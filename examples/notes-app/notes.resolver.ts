import { Arg, Ctx, Mutation, Query, Resolver } from 'type-graphql';

import type { RequestContext } from '../../src/index.js';
import { Note } from './note.entity.js';
import { createNote, listNotes } from './notes.service.js';

@Resolver(() => Note)
export class NotesResolver {
  @Query(() => [Note], { description: 'Notes of the routed tenant, oldest first. Members only.' })
  notes(@Ctx() ctx: RequestContext) {
    return listNotes(ctx);
  }

  @Mutation(() => Note, { description: 'Adds a note to the routed tenant. Members only.' })
  createNote(@Arg('title', () => String) title: string, @Ctx() ctx: RequestContext) {
    return createNote(ctx, title);
  }
}
