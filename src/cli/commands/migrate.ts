import { loadConfig } from '../../config.js';
import type { CliIo, CliOptions, PassthroughCommand } from './command.js';

export const migrateCommand: PassthroughCommand = {
  kind: 'passthrough',
  name: 'migrate',
  summary:
    'Apply pending migrations to public and to every tenant schema; run "migrate --help" for ' +
    'its options.',

  async run(args: string[], io: CliIo, options: CliOptions): Promise<number> {
    // Imported on use, so that the other commands do not load the migration runner.
    const { runMigrateCommand, runMigrateCommandWith } = await import('../migrate.js');
    if (!options.extensions && !options.tenantTypes) {
      return runMigrateCommand(args, io);
    }

    // An application's own tenant types decide which migrations its tenant schemas get.
    return runMigrateCommandWith(args, io, {
      config: loadConfig({ ...io.env }),
      extensions: options.extensions,
      tenantTypes: options.tenantTypes,
    });
  },
};
