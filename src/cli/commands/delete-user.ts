import { deleteUser } from '../../services/users.service.js';
import { requiredString, serviceCommand } from './command.js';
import { loadUserView, type UserView } from './views.js';

export const deleteUserCommand = serviceCommand<{ email: string }, UserView>({
  name: 'delete-user',
  summary: 'Deactivate a user, delete the tenants they own and remove them from every tenant.',
  description:
    'Deletes a user softly, in one transaction: every tenant the user owns is deleted (its ' +
    "ownership moves to the public tenant's owner), the user leaves every other tenant, the " +
    'account is deactivated and its sessions are revoked. The row and its email stay, so the ' +
    "email cannot be reused. The public tenant's owner cannot be deleted " +
    '(PUBLIC_OWNER_PROTECTED).',
  options: [
    {
      name: 'email',
      kind: 'string',
      valueName: 'EMAIL',
      required: true,
      description: 'Email of the user to delete.',
    },
  ],

  async parse(values) {
    return { email: requiredString(values, 'email') };
  },

  async run(ctx, input) {
    const user = await deleteUser(ctx, input.email);

    return loadUserView(ctx.em, user);
  },

  render(user) {
    return `Deleted the user ${user.email}.`;
  },
});
