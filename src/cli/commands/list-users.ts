import { User } from '../../entities/index.js';
import { booleanOption, serviceCommand } from './command.js';
import { renderTable } from './output.js';
import { loadUserViews, type UserView } from './views.js';

export const listUsersCommand = serviceCommand<{ includeInactive: boolean }, { users: UserView[] }>(
  {
    name: 'list-users',
    summary: 'List the users, oldest first.',
    description:
      'Lists the active users, oldest first, with their flags in the public tenant: staff ' +
      '(platform staff) and superuser (platform admin).',
    options: [
      {
        name: 'include-inactive',
        kind: 'flag',
        description: 'Also list deleted users.',
      },
    ],

    async parse(values) {
      return { includeInactive: booleanOption(values, 'include-inactive') === true };
    },

    async run(ctx, input) {
      // NOTE: every user is read at once, without pagination.
      const users = await ctx.em.find(User, input.includeInactive ? {} : { isActive: true }, {
        orderBy: { createdAt: 'asc', id: 'asc' },
      });

      return { users: await loadUserViews(ctx.em, users) };
    },

    render({ users }) {
      if (users.length === 0) {
        return 'No users.';
      }

      return renderTable(
        ['EMAIL', 'ACTIVE', 'VERIFIED', 'STAFF', 'SUPERUSER', 'PASSWORD'],
        users.map((user) => [
          user.email,
          yesNo(user.isActive),
          yesNo(user.isVerified),
          yesNo(user.isStaff),
          yesNo(user.isSuperuser),
          user.hasPassword ? 'set' : 'none',
        ]),
      );
    },
  },
);

function yesNo(value: boolean): string {
  return value ? 'yes' : 'no';
}
