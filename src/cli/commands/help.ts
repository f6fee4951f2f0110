import { COMMON_OPTIONS, type Command, type OptionSpec, type ServiceCommand } from './command.js';

export const PROGRAM_NAME = 'tenant-users';

const LINE_WIDTH = 100;
const INDENT = '  ';

/** Help text of the program: usage, configuration, the command list and the exit codes. */
export function renderProgramHelp(commands: readonly Command[]): string {
  const nameWidth = Math.max(...commands.map((command) => command.name.length));
  const rows = commands.map((command) =>
    hangingIndent(`${INDENT}${command.name.padEnd(nameWidth)}  `, command.summary),
  );

  return [
    `Usage: ${PROGRAM_NAME} <command> [options]`,
    '',
    wrap(
      'Operator commands for the tenant-users server. The configuration comes from the ' +
        'environment and from a .env file in the current directory, as for `npm start`: ' +
        'DATABASE_URL, or else the embedded PostgreSQL whose cluster is in ' +
        'TENANT_USERS_DATA_DIR (default ./.data, relative to the current directory). Logs go to ' +
        'stderr at LOG_LEVEL (default warn).',
    ),
    '',
    'Commands:',
    ...rows,
    '',
    `Run "${PROGRAM_NAME} <command> --help" for the options of a command.`,
    'Exit codes: 0 on success, 1 when the operation failed, 2 when the command line is invalid.',
    '',
  ].join('\n');
}

/** Help text of one command: usage line, description and every option. */
export function renderCommandHelp(command: ServiceCommand): string {
  const options = [...command.options, ...COMMON_OPTIONS];
  const labels = options.map(optionLabel);
  const labelWidth = Math.max(...labels.map((label) => label.length));
  const rows = options.map((option, index) =>
    hangingIndent(`${INDENT}${labels[index]!.padEnd(labelWidth)}  `, optionDescription(option)),
  );

  return [
    usageLine(command),
    '',
    ...command.description.split('\n\n').flatMap((paragraph) => [wrap(paragraph), '']),
    'Options:',
    ...rows,
    '',
  ].join('\n');
}

function usageLine(command: ServiceCommand): string {
  const required = command.options
    .filter((option) => option.required)
    .map((option) => `--${option.name} ${option.valueName ?? 'VALUE'}`);

  return hangingIndent(
    `Usage: ${PROGRAM_NAME} ${command.name} `,
    [...required, '[options]'].join(' '),
  );
}

function optionLabel(option: OptionSpec): string {
  if (option.name === 'help') {
    return '-h, --help';
  }
  if (option.kind === 'string') {
    return `--${option.name} ${option.valueName ?? 'VALUE'}`;
  }
  if (option.kind === 'switch') {
    return `--[no-]${option.name}`;
  }

  return `--${option.name}`;
}

function optionDescription(option: OptionSpec): string {
  return option.required ? `${option.description} Required.` : option.description;
}

/** Wraps `text` after `prefix`, indenting continuation lines to the prefix's width. */
function hangingIndent(prefix: string, text: string): string {
  const lines = wrapWords(text, LINE_WIDTH - prefix.length);

  return lines
    .map((line, index) => (index === 0 ? prefix : ' '.repeat(prefix.length)) + line)
    .join('\n');
}

function wrap(text: string): string {
  return wrapWords(text, LINE_WIDTH).join('\n');
}

function wrapWords(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  lines.push(line);

  return lines;
}
