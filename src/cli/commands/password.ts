import { StringDecoder } from 'node:string_decoder';

import { UsageError, type CliIo, type OptionSpec, type OptionValues } from './command.js';
import { PromptAbortedError } from './output.js';

/** `--no-input`: never prompt, for scripts that run in a terminal. */
export const NO_INPUT_OPTION: OptionSpec = {
  name: 'no-input',
  kind: 'flag',
  description:
    'Never prompt for a password, even on a terminal; without a password variable the account ' +
    'then has no password.',
};

/**
 * Builds the option that names the environment variable that contains a password, such as
 * `--password-env`. `possessive` names the account's holder in the help text: `the owner's`.
 */
export function passwordEnvOption(name: string, possessive: string): OptionSpec {
  return {
    name,
    kind: 'string',
    valueName: 'VAR',
    description:
      `Name of the environment variable that contains ${possessive} password. Without it, the ` +
      'password is prompted for when stdin is a terminal; otherwise the account has no ' +
      'password and cannot log in until one is set.',
  };
}

/**
 * Reads a password from the environment variable named by the `optionName` option, or prompts
 * for it (twice, without echo) when stdin is a terminal and `--no-input` is absent. Returns null
 * for no password: an empty answer at the prompt, or no terminal to prompt on.
 *
 * A password is never a command-line value, because other users of the machine can read command
 * lines in the process list.
 */
export async function readPassword(
  values: OptionValues,
  io: CliIo,
  optionName: string,
): Promise<string | null> {
  const variable = values[optionName];
  if (typeof variable === 'string') {
    const password = io.env[variable];
    if (password === undefined || password === '') {
      throw new UsageError(
        `The environment variable ${variable}, named by --${optionName}, is not set or is empty.`,
        optionName,
      );
    }
    return password;
  }

  if (values['no-input'] === true || !io.stdin.isTTY) {
    return null;
  }

  const password = await promptHidden(io, 'Password (empty for none): ');
  if (password === '') {
    return null;
  }
  const repeated = await promptHidden(io, 'Password again: ');
  if (repeated !== password) {
    throw new UsageError('The two passwords differ.', optionName);
  }

  return password;
}

/** Reads one line from the terminal in raw mode, so that the typed characters are not echoed. */
function promptHidden(io: CliIo, question: string): Promise<string> {
  const { stdin, stderr } = io;
  const decoder = new StringDecoder('utf8');
  let value = '';

  return new Promise((resolve, reject) => {
    const finish = (error?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      stderr.write('\n');
      if (error) {
        reject(error);
      } else {
        resolve(value);
      }
    };

    const onData = (chunk: Buffer) => {
      for (const character of decoder.write(chunk)) {
        if (character === '\r' || character === '\n') {
          return finish();
        }
        // Ctrl-C and Ctrl-D: raw mode turns them into input instead of a signal or end of file.
        if (character === '\u0003' || character === '\u0004') {
          return finish(new PromptAbortedError());
        }
        if (character === '\u007f' || character === '\b') {
          value = Array.from(value).slice(0, -1).join('');
        } else if (character === '\u001b') {
          // An escape sequence, such as an arrow key, arrives as one chunk: drop all of it.
          return;
        } else if (character >= ' ') {
          value += character;
        }
      }
    };

    // Echo is off before the prompt appears, so an answer typed at once is not shown either.
    stdin.setRawMode(true);
    stdin.on('data', onData);
    stdin.resume();
    stderr.write(question);
  });
}
