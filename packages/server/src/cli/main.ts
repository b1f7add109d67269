import { ConfigError, GatehouseError } from '@gatehouse/core';
import { Command, CommanderError } from 'commander';
import { stringify as toYaml } from 'yaml';
import { apiKeyView } from '../api-keys/api-keys.js';
import { verifyAuditChain } from '../audit/verify-audit.js';
import { readFileSync } from 'node:fs';
import { clientView } from '../clients/client-registry.js';
import { sessionView } from '../admin/user-routes.js';
import { notFoundError } from '../storage/errors.js';
import { userView } from '../users/user-directory.js';
import { digestSecret, generateClientSecret } from '../clients/client-secrets.js';
import { loadConfig } from '../config/load-config.js';
import { readPolicyDir } from '../policy/policy-dir.js';
import { runPolicyTests } from '../policy/policy-test-runner.js';
import { createRuntime, VERSION } from '../runtime.js';
import { startServer } from './start.js';

/** Output sinks, injectable so tests can capture what the CLI prints. */
export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
  /** Reads standard input to the end (passwords never go on the command line). */
  readStdin?: () => Promise<string>;
}

const defaultIo: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
};

/** Runs the `gatehouse` command line; resolves to the exit code. */
export async function main(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const program = new Command('gatehouse')
    .version(VERSION)
    .description('Gatehouse: authentication and authorization for microservices')
    .option('-c, --config <file>', 'YAML config file (or GATEHOUSE_CONFIG); none = embedded default')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });

  const configFile = (): string | null =>
    program.opts<{ config?: string }>().config ?? process.env.GATEHOUSE_CONFIG ?? null;
  const withRuntime = async <T>(
    fn: (runtime: Awaited<ReturnType<typeof createRuntime>>) => Promise<T>,
  ): Promise<T> => {
    const config = loadConfig({ file: configFile() });
    const runtime = await createRuntime(
      { ...config, example_client: false, log: { level: 'warn' } },
      { defaultMetrics: false },
    );
    try {
      return await fn(runtime);
    } finally {
      await runtime.close();
    }
  };
  let exitCode = 0;

  program
    .command('start')
    .description('start Gatehouse all-in-one (issuer) and serve until SIGTERM')
    .action(async () => {
      exitCode = await startServer(loadConfig({ file: configFile() }), io);
    });

  const config = program.command('config').description('configuration tools');
  config
    .command('check <file>')
    .description('validate a config file (with GATEHOUSE_* overrides) and report every bad key')
    .action((file: string) => {
      loadConfig({ file });
      io.out(`${file}: configuration is valid`);
    });

  const clients = program.command('clients').description('manage OAuth clients');
  clients.command('list').action(() =>
    withRuntime(async (runtime) => {
      for (const c of await runtime.clients.list()) {
        io.out(`${c.id}\t${c.source}\tscopes=${c.scopes.join(' ') || '-'}\tformat=${c.accessTokenFormat}`);
      }
    }),
  );
  clients
    .command('create <id>')
    .description('create a client with a generated secret (printed once)')
    .option('--scopes <scopes>', 'space-separated scopes the client may request', '')
    .option('--resources <uris>', 'space-separated RFC 8707 resources the client may request', '')
    .option('--audience <uri>', 'default audience')
    .option('--opaque', 'issue opaque reference access tokens instead of JWTs')
    .option('--print-config', 'print a YAML snippet for the config file instead of writing to the store')
    .action(
      async (
        id: string,
        opts: {
          scopes: string;
          resources: string;
          audience?: string;
          opaque?: boolean;
          printConfig?: boolean;
        },
      ) => {
        const split = (s: string) => s.split(/\s+/).filter(Boolean);
        if (opts.printConfig) {
          const secret = generateClientSecret();
          const entry = {
            id,
            secret_digest: digestSecret(secret),
            scopes: split(opts.scopes),
            resources: split(opts.resources),
            ...(opts.audience && { audience: opts.audience }),
            ...(opts.opaque && { access_token_format: 'opaque' }),
          };
          io.out(`# client_secret (shown once, store it in your secret manager): ${secret}`);
          io.out(toYaml({ clients: [entry] }).trimEnd());
          return;
        }
        await withRuntime(async (runtime) => {
          const { record, secret } = await runtime.clients.create({
            id,
            scopes: split(opts.scopes),
            resources: split(opts.resources),
            audience: opts.audience ?? null,
            accessTokenFormat: opts.opaque ? 'opaque' : 'jwt',
          });
          await runtime.audit.record({
            actor: 'cli',
            action: 'client.created',
            target: record.id,
            details: { scopes: record.scopes },
          });
          io.out(JSON.stringify({ client: clientView(record), client_secret: secret }, null, 2));
        });
      },
    );
  clients
    .command('reset-secret <id>')
    .description('replace a client secret; the new one is printed once')
    .action((id: string) =>
      withRuntime(async (runtime) => {
        const { secret } = await runtime.clients.resetSecret(id);
        await runtime.audit.record({ actor: 'cli', action: 'client.secret_reset', target: id });
        io.out(JSON.stringify({ client_id: id, client_secret: secret }));
      }),
    );
  clients.command('delete <id>').action((id: string) =>
    withRuntime(async (runtime) => {
      await runtime.clients.delete(id);
      await runtime.audit.record({ actor: 'cli', action: 'client.deleted', target: id });
      io.out(`deleted client ${id}`);
    }),
  );

  const keys = program.command('keys').description('manage signing keys');
  keys.command('list').action(() =>
    withRuntime(async (runtime) => {
      for (const k of runtime.keys.list())
        io.out(`${k.kid}\t${k.alg}\t${k.state}\tactivates_at=${k.activates_at}`);
    }),
  );
  keys
    .command('rotate')
    .description('publish a new signing key; it signs after the activation delay')
    .option(
      '--activation-delay <seconds>',
      'seconds before the new key signs (default: keys.activation_delay)',
    )
    .action((opts: { activationDelay?: string }) =>
      withRuntime(async (runtime) => {
        const delay = opts.activationDelay === undefined ? undefined : Number(opts.activationDelay);
        if (delay !== undefined && (!Number.isInteger(delay) || delay < 0)) {
          throw new GatehouseError(
            'ERR_REQUEST_INVALID',
            '--activation-delay must be a whole number of seconds ≥ 0',
            { status: 400 },
          );
        }
        const key = await runtime.keys.rotate(delay);
        await runtime.audit.record({
          actor: 'cli',
          action: 'key.rotated',
          target: key.kid,
          details: { activates_at: key.activates_at },
        });
        io.out(
          `published key ${key.kid} (${key.alg}); it signs from ${new Date(key.activates_at * 1000).toISOString()}`,
        );
      }),
    );

  const readPassword = async (): Promise<string> => {
    if (!io.readStdin)
      throw new GatehouseError('ERR_REQUEST_INVALID', 'no standard input to read the password from', {
        status: 400,
      });
    // One trailing newline is what `echo` or a heredoc adds; it is not part of the password.
    return (await io.readStdin()).replace(/\r?\n$/, '');
  };
  const list = (value: string | undefined) =>
    value
      ? value
          .split(',')
          .map((v) => v.trim())
          .filter(Boolean)
      : [];
  const users = program.command('users').description('manage users (passwords are read from standard input)');
  users.command('list').action(() =>
    withRuntime(async (runtime) => {
      let after: string | null = null;
      for (;;) {
        const page = await runtime.users.list(after, 500);
        for (const u of page)
          io.out(
            `${u.id}\t${u.username}\t${u.disabled ? 'disabled' : 'enabled'}\troles=${u.roles.join(',') || '-'}`,
          );
        if (page.length < 500) break;
        after = page.at(-1)?.id ?? null;
      }
    }),
  );
  users
    .command('create <username>')
    .option('--roles <list>', 'comma-separated roles')
    .option('--groups <list>', 'comma-separated groups')
    .option('--password-stdin', 'read the password from standard input')
    .option('--disabled', 'create the user disabled')
    .action(
      (
        username: string,
        opts: { roles?: string; groups?: string; passwordStdin?: boolean; disabled?: boolean },
      ) =>
        withRuntime(async (runtime) => {
          const password = opts.passwordStdin ? await readPassword() : undefined;
          const user = await runtime.users.create(
            {
              username,
              ...(password !== undefined && { password }),
              roles: list(opts.roles),
              groups: list(opts.groups),
              disabled: opts.disabled ?? false,
            },
            'cli',
          );
          io.out(JSON.stringify({ user: userView(user) }));
        }),
    );
  users
    .command('passwd <id>')
    .description('set a new password, read from standard input')
    .action((id: string) =>
      withRuntime(async (runtime) => {
        await runtime.users.setPassword(id, await readPassword(), 'cli');
        io.out(`password changed for ${id}`);
      }),
    );
  for (const [name, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    users.command(`${name} <id>`).action((id: string) =>
      withRuntime(async (runtime) => {
        await runtime.users.setDisabled(id, disabled, 'cli');
        io.out(`${name}d ${id}`);
      }),
    );
  }
  users
    .command('sessions <id>')
    .description("list the user's live sessions")
    .action((id: string) =>
      withRuntime(async (runtime) => {
        io.out(JSON.stringify({ sessions: (await runtime.families.listLive(id)).map(sessionView) }));
      }),
    );
  users
    .command('logout <id>')
    .description('end every session of the user (refresh and access tokens)')
    .action((id: string) =>
      withRuntime(async (runtime) => {
        if (!(await runtime.users.get(id))) throw notFoundError(`user "${id}"`);
        io.out(`ended ${await runtime.families.endAllFor(id, 'admin', 'cli')} sessions of ${id}`);
      }),
    );
  users.command('delete <id>').action((id: string) =>
    withRuntime(async (runtime) => {
      await runtime.users.delete(id, 'cli');
      io.out(`deleted user ${id}`);
    }),
  );
  users
    .command('import <file>')
    .description(
      'bulk import from JSON, JSON Lines or CSV; bad rows are reported and skipped (exit 1 if any)',
    )
    .option('--format <format>', 'json, csv or auto', 'auto')
    .action((file: string, opts: { format: string }) =>
      withRuntime(async (runtime) => {
        if (!['json', 'csv', 'auto'].includes(opts.format)) {
          throw new GatehouseError('ERR_REQUEST_INVALID', '--format must be json, csv or auto', {
            status: 400,
          });
        }
        const text = readFileSync(file, 'utf8');
        const report = await runtime.users.import(
          text,
          opts.format as 'json' | 'csv' | 'auto',
          'cli',
          (done, total) => io.err(`import: ${done}/${total} rows`),
        );
        for (const e of [...report.errors, ...report.failed])
          io.out(`row ${e.row}\t${e.field}\t${e.message}`);
        io.out(`imported ${report.imported} users; ${report.refused} rows refused`);
        if (report.refused > 0) exitCode = 1;
      }),
    );

  const apiKeys = program.command('api-keys').description('manage API keys for services (sk_<id>.<secret>)');
  apiKeys.command('list').action(() =>
    withRuntime(async (runtime) => {
      for (const k of await runtime.apiKeys.list()) {
        const state =
          k.revokedAt !== null ? 'revoked' : k.replacedBy !== null ? `rotated->${k.replacedBy}` : 'active';
        io.out(`${k.id}\t${k.owner}\t${k.name}\t${state}\tscopes=${k.scopes.join(' ') || '-'}`);
      }
    }),
  );
  apiKeys
    .command('create <owner> <name>')
    .option('--scopes <scopes>', 'space-separated scopes', '')
    .option('--expires-in <seconds>', 'lifetime in seconds (default: no expiry)')
    .action((owner: string, name: string, opts: { scopes: string; expiresIn?: string }) =>
      withRuntime(async (runtime) => {
        const expiresIn = opts.expiresIn === undefined ? null : Number(opts.expiresIn);
        if (expiresIn !== null && (!Number.isSafeInteger(expiresIn) || expiresIn < 1)) {
          throw new GatehouseError(
            'ERR_REQUEST_INVALID',
            '--expires-in must be a whole number of seconds ≥ 1',
            { status: 400 },
          );
        }
        const { record, key } = await runtime.apiKeys.create(
          { name, owner, scopes: opts.scopes.split(/\s+/).filter(Boolean), expiresIn },
          'cli',
        );
        io.out(JSON.stringify({ api_key: apiKeyView(record), key }));
      }),
    );
  apiKeys
    .command('rotate <id>')
    .option('--overlap <seconds>', 'how long the old key keeps working (default 7 days)')
    .action((id: string, opts: { overlap?: string }) =>
      withRuntime(async (runtime) => {
        const overlap = opts.overlap === undefined ? undefined : Number(opts.overlap);
        if (overlap !== undefined && (!Number.isSafeInteger(overlap) || overlap < 0)) {
          throw new GatehouseError('ERR_REQUEST_INVALID', '--overlap must be a whole number of seconds ≥ 0', {
            status: 400,
          });
        }
        const { record, key } = await runtime.apiKeys.rotate(id, 'cli', overlap);
        io.out(JSON.stringify({ api_key: apiKeyView(record), key }));
      }),
    );
  apiKeys.command('revoke <id>').action((id: string) =>
    withRuntime(async (runtime) => {
      await runtime.apiKeys.revoke(id, 'cli');
      io.out(`revoked API key ${id}`);
    }),
  );

  program
    .command('revoke <kind> <value>')
    .description(
      'revoke a token (jti), a session (refresh family id), or everything of a subject or client issued up to now',
    )
    .action((kind: string, value: string) =>
      withRuntime(async (runtime) => {
        const maxExpiry =
          Math.floor(Date.now() / 1000) +
          runtime.config.tokens.max_access_token_ttl +
          runtime.config.tokens.clock_skew;
        let seq: number | undefined;
        if (kind === 'subject' || kind === 'client') {
          seq = (await runtime.revocations.revokeAllOf(kind === 'subject' ? 'sub' : 'client', value)).seq;
        } else if (kind === 'session') {
          if (!(await runtime.families.endById(value, 'admin', 'cli'))) {
            seq = (await runtime.revocations.revokeSession(value, maxExpiry)).seq;
          }
        } else if (kind === 'token') {
          seq = (await runtime.revocations.revoke(value, maxExpiry)).seq;
        } else {
          throw new GatehouseError('ERR_REQUEST_INVALID', 'kind must be token, session, subject or client', {
            status: 400,
          });
        }
        await runtime.audit.record({
          actor: 'cli',
          action: 'revocation.created',
          target: value,
          details: { kind },
        });
        io.out(`revoked ${kind} ${value}${seq === undefined ? '' : ` (seq ${seq})`}`);
      }),
    );

  const policy = program.command('policy').description('Cedar policies of the policy decision point');
  policy
    .command('test <dir>')
    .description(
      "run DIR's *.test.yaml cases (request → expected decision) against DIR's policies; exit 1 on any failure",
    )
    .action(async (dir: string) => {
      const results = await runPolicyTests(dir);
      for (const r of results) {
        const why = r.passed ? '' : ` — ${r.detail ?? 'failed'}`;
        io.out(
          `${r.passed ? 'ok  ' : 'FAIL'} ${r.file}: ${r.name} (${r.actual}${r.policies.length > 0 ? ` by ${r.policies.join(', ')}` : ''})${why}`,
        );
      }
      const failed = results.filter((r) => !r.passed).length;
      io.out(`${results.length - failed} passed, ${failed} failed`);
      if (failed > 0) exitCode = 1;
    });
  policy
    .command('load <dir>')
    .description(
      "validate DIR's policies and schema and store them as the next policy-set version (announced to every instance)",
    )
    .action((dir: string) =>
      withRuntime(async (runtime) => {
        const { record, changed } = await runtime.policy.publish(readPolicyDir(dir), `cli:${dir}`);
        if (changed) {
          await runtime.audit.record({
            actor: 'system',
            action: 'policy.updated',
            target: `v${record.version}`,
            details: { digest: record.digest, from: 'cli' },
          });
        }
        io.out(
          changed
            ? `stored policy-set version ${record.version}`
            : `unchanged: version ${record.version} holds these policies`,
        );
      }),
    );

  const audit = program.command('audit').description('the append-only audit log');
  audit
    .command('verify')
    .description(
      'check the hash chain from the first entry; exit 1 at the first altered, inserted or missing entry',
    )
    .option(
      '--expected-head <seq>',
      'the last sequence number known from elsewhere (catches entries cut from the end)',
    )
    .action((opts: { expectedHead?: string }) =>
      withRuntime(async (runtime) => {
        const expectedHeadSeq = opts.expectedHead === undefined ? undefined : Number(opts.expectedHead);
        if (expectedHeadSeq !== undefined && !Number.isSafeInteger(expectedHeadSeq)) {
          throw new GatehouseError('ERR_REQUEST_INVALID', '--expected-head must be a whole number', {
            status: 400,
          });
        }
        const result = await verifyAuditChain(runtime.store, runtime.auditKey, {
          onProgress: (checked) => io.err(`audit verify: ${checked} entries checked`),
          ...(expectedHeadSeq !== undefined && { expectedHeadSeq }),
        });
        if (result.ok) {
          io.out(`audit log intact: ${result.entries} entries, head at ${result.headSeq}`);
        } else {
          io.out(
            `audit log TAMPERED: entry ${result.seq} ${result.problem} (${result.detail}); ${result.entries} entries before it are intact`,
          );
          exitCode = 1;
        }
      }),
    );

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof ConfigError) {
      io.err(err.message);
      return 2;
    }
    if (err instanceof GatehouseError) {
      io.err(`error ${err.code}: ${err.message}`);
      return 1;
    }
    io.err(`error: ${(err as Error).message}`);
    return 1;
  }
}
