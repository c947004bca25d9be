import { UserError } from '../util/errors.js';

/**
 * misc.c's percent_dollar_expand: `${VAR}` from the environment (when
 * `env` is given) and `%x` from `tokens`. ssh stops on a token it does not
 * know and on a variable that is not set; so does this, naming `what`.
 */
export function percentExpand(text: string, tokens: Record<string, string>, what: string, env?: NodeJS.ProcessEnv, written = text): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (env && c === '$' && text[i + 1] === '{') {
      const end = text.indexOf('}', i + 2);
      const name = end < 0 ? '' : text.slice(i + 2, end);
      if (!name) throw new UserError(`ssh_config: ${what} "${written}": \${ without a variable name and a closing }`);
      const value = env[name];
      if (value === undefined) throw new UserError(`ssh_config: ${what} "${written}": \${${name}} is not set`);
      out += value;
      i = end;
    } else if (c === '%') {
      const k = text[++i];
      const value = k === undefined ? undefined : tokens[k];
      if (value === undefined) throw new UserError(`ssh_config: ${what} "${written}": ssh knows no token %${k ?? ''} there`);
      out += value;
    } else out += c;
  }
  return out;
}
