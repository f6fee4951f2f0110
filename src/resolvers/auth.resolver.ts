import { Arg, Ctx, Mutation, Query, Resolver } from 'type-graphql';

import type { RequestContext } from '../context/context.js';
import { login, logout } from '../services/auth.service.js';
import { LoginResultType } from './types/login-result.type.js';
import { UserType } from './types/user.type.js';

@Resolver()
export class AuthResolver {
  @Query(() => UserType, { nullable: true, description: 'The calling user; needs a bearer token.' })
  me(@Ctx() ctx: RequestContext) {
    return ctx.actor.kind === 'user' ? ctx.actor.user : null;
  }

  @Mutation(() => LoginResultType, { description: 'Opens a session with an email and password.' })
  login(
    @Arg('email', () => String) email: string,
    @Arg('password', () => String) password: string,
    @Ctx() ctx: RequestContext,
  ) {
    return login(ctx, email, password);
  }

  @Mutation(() => Boolean, { description: 'Revokes the session of the bearer token at once.' })
  logout(@Ctx() ctx: RequestContext) {
    return logout(ctx);
  }
}
