import { createUser, type CreateUserInput } from '../../services/users.service.js';
import { booleanOption, jsonObjectOption, requiredString, serviceCommand } from './command.js';
import { NO_INPUT_OPTION, passwordEnvOption, readPassword } from './password.js';
import { describeUser, loadUserView, type UserView } from './views.js';

export const createUserCommand = serviceCommand<CreateUserInput, UserView>({
  name: 'create-user',
  summary: 'Create a user, a member of the public tenant.',
  description:
    'Creates a user, who becomes a member of the public tenant. --staff and --superuser set ' +
    "the user's flags there, which make them platform staff or a platform admin. The public " +
    'tenant must exist. An email that is taken, by an active or a deleted user, fails with ' +
    'ALREADY_EXISTS.',
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
    { name: 'staff', kind: 'flag', description: 'Make the user staff of the public tenant.' },
    {
      name: 'superuser',
      kind: 'flag',
      description: 'Make the user superuser of the public tenant (platform admin).',
    },
    { name: 'verified', kind: 'flag', description: 'Mark the email address as verified.' },
    {
      name: 'metadata',
      kind: 'string',
      valueName: 'JSON',
      description: 'Metadata of the user, a JSON object.',
    },
  ],

  async parse(values, io) {
    return {
      email: requiredString(values, 'email'),
      password: await readPassword(values, io, 'password-env'),
      isStaff: booleanOption(values, 'staff'),
      isSuperuser: booleanOption(values, 'superuser'),
      isVerified: booleanOption(values, 'verified'),
      metadata: jsonObjectOption(values, 'metadata'),
    };
  },

  async run(ctx, input) {
    const user = await createUser(ctx, input);

    return loadUserView(ctx.em, user);
  },

  render(user) {
    return `Created the user ${user.email} (${describeUser(user)}).`;
  },
});
