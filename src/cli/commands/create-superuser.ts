import { createSuperuser } from '../../services/user-lifecycle.service.js';
import { requiredString, serviceCommand } from './command.js';
import { NO_INPUT_OPTION, passwordEnvOption, readPassword } from './password.js';
import { describeUser, loadUserView, type UserView } from './views.js';

interface CreateSuperuserInput {
  email: string;
  password: string | null;
}

export const createSuperuserCommand = serviceCommand<CreateSuperuserInput, UserView>({
  name: 'create-superuser',
  summary: 'Create a platform admin: a verified user, staff and superuser of the public tenant.',
  description:
    'Creates a verified user who is staff and superuser of the public tenant, that is a ' +
    'platform admin. The public tenant must exist. An email that is taken, by an active or a ' +
    'deleted user, fails with ALREADY_EXISTS.',
  options: [
    {
      name: 'email',
      kind: 'string',
      valueName: 'EMAIL',
      required: true,
      description: 'Email of the new user.',
    },
    passwordEnvOption('password-env', "the user's"),
    NO_INPUT_OPTION,
  ],

  async parse(values, io) {
    return {
      email: requiredString(values, 'email'),
      password: await readPassword(values, io, 'password-env'),
    };
  },

  async run(ctx, input) {
    const user = await createSuperuser(ctx, input.email, input.password);

    return loadUserView(ctx.em, user);
  },

  render(user) {
    return `Created the superuser ${user.email} (${describeUser(user)}).`;
  },
});
