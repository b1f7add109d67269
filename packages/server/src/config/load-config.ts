import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, configSchema, GatehouseError, type GatehouseConfig } from '@gatehouse/core';
import { parse as parseYaml, YAMLParseError } from 'yaml';

/** Environment variables with the prefix that are not config overrides. */
const RESERVED_ENV = new Set(['GATEHOUSE_KEK', 'GATEHOUSE_CONFIG']);
const ENV_PREFIX = 'GATEHOUSE_';

/** A validated configuration with every derived value filled in. */
export interface ResolvedConfig extends GatehouseConfig {
  issuer: string;
  storage: GatehouseConfig['storage'] & {
    store:
      | Exclude<GatehouseConfig['storage']['store'], { kind: 'embedded' }>
      | { kind: 'embedded'; path: string };
  };
  server: GatehouseConfig['server'] & { public_url: string };
  /** Absolute path of the data directory. */
  data_dir: string;
  /** Whether a config file was given (the no-file embedded default prints dev warnings). */
  from_file: string | null;
  example_client: boolean;
}

/** Where a config comes from. */
export interface ConfigSource {
  /** Path of a YAML file, or null for the embedded default. */
  file: string | null;
  env?: NodeJS.ProcessEnv;
  /** Base directory for relative paths; defaults to the process cwd. */
  cwd?: string;
}

/**
 * Reads the YAML file (if any), applies `GATEHOUSE_*` overrides (`__` separates levels, values
 * are YAML scalars), validates against the schema and fills derived defaults. Throws a
 * {@link ConfigError} whose issues name the dotted path of every bad key.
 */
export function loadConfig(source: ConfigSource): ResolvedConfig {
  const env = source.env ?? process.env;
  const cwd = source.cwd ?? process.cwd();
  let raw: unknown = {};
  if (source.file) {
    let text: string;
    try {
      text = readFileSync(source.file, 'utf8');
    } catch (cause) {
      throw new GatehouseError('ERR_CONFIG_UNREADABLE', `cannot read config file ${source.file}`, { cause });
    }
    try {
      raw = parseYaml(text, { uniqueKeys: true }) ?? {};
    } catch (cause) {
      const where = cause instanceof YAMLParseError ? ` at line ${cause.linePos?.[0]?.line ?? '?'}` : '';
      throw new ConfigError(
        [{ path: '(file)', message: `not valid YAML${where}: ${(cause as Error).message}` }],
        cause,
      );
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new ConfigError([{ path: '(root)', message: 'expected a mapping of settings' }]);
    }
  }
  raw = applyEnvOverrides(raw as Record<string, unknown>, env, kekEnvName(raw));
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => ({ path: dottedPath(issue.path), message: issue.message })),
      parsed.error,
    );
  }
  return resolveDerived(parsed.data, source.file, cwd);
}

function resolveDerived(config: GatehouseConfig, file: string | null, cwd: string): ResolvedConfig {
  const dataDir = resolve(cwd, config.data_dir);
  const displayHost =
    config.server.host === '0.0.0.0' || config.server.host === '::' ? '127.0.0.1' : config.server.host;
  const publicUrl = (config.server.public_url ?? `http://${displayHost}:${config.server.port}`).replace(
    /\/+$/,
    '',
  );
  const store =
    config.storage.store.kind === 'embedded'
      ? {
          kind: 'embedded' as const,
          path: resolve(dataDir, config.storage.store.path ?? join(dataDir, 'gatehouse.db')),
        }
      : config.storage.store;
  const issuer = config.issuer ?? publicUrl;
  if (!config.login.cookie_secure && !isLoopbackUrl(issuer)) {
    throw new ConfigError([
      {
        path: 'login.cookie_secure',
        message: `may be false only for a loopback issuer (http://127.0.0.1, localhost); ${issuer} is not`,
      },
    ]);
  }
  const allowedOrigins = config.login.allowed_origins.length > 0 ? config.login.allowed_origins : [issuer];
  return {
    ...config,
    login: { ...config.login, allowed_origins: [...new Set(allowedOrigins.map((o) => new URL(o).origin))] },
    issuer,
    server: { ...config.server, public_url: publicUrl },
    data_dir: dataDir,
    storage: { ...config.storage, store },
    from_file: file,
    example_client: config.example_client ?? file === null,
  };
}

/** True for http(s) URLs on 127.0.0.0/8, ::1 or localhost. */
export function isLoopbackUrl(value: string): boolean {
  const host = new URL(value).hostname;
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** `['clients', 0, 'id']` → `clients[0].id`. */
export function dottedPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, part) => {
    if (typeof part === 'number') return `${out}[${part}]`;
    return out ? `${out}.${String(part)}` : String(part);
  }, '');
}

/** The variable named by keys.kek.env in the file holds the KEK itself, not a config override. */
function kekEnvName(raw: unknown): string | undefined {
  const keys = (raw as { keys?: { kek?: { env?: unknown } } }).keys;
  return typeof keys?.kek?.env === 'string' ? keys.kek.env : undefined;
}

/** Largest list index an override may name; a huge one would build a sparse array to validate. */
const MAX_OVERRIDE_INDEX = 999;

/**
 * An override's value: a YAML scalar (`9000`, `true`, `null`, a string), or a flow list or
 * mapping when written as one (`[a, b]`, `{a: 1}`). Anything else stays the text it is: `gh:`
 * (the default cache key prefix) would otherwise read as a mapping, `- a` as a list.
 */
function overrideValue(text: string): unknown {
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch {
    return text;
  }
  if (typeof value === 'object' && value !== null) {
    const start = text.trimStart()[0];
    if (Array.isArray(value) ? start !== '[' : start !== '{') return text;
  }
  return value;
}

function applyEnvOverrides(
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  kekEnv: string | undefined,
): Record<string, unknown> {
  const out = structuredClone(raw);
  const names = Object.keys(env)
    .filter((name) => name.startsWith(ENV_PREFIX) && !RESERVED_ENV.has(name) && name !== kekEnv)
    .sort();
  for (const name of names) {
    const segments = name.slice(ENV_PREFIX.length).toLowerCase().split('__');
    if (segments.some((s) => s === '' || s === '__proto__' || s === 'constructor' || s === 'prototype')) {
      throw new ConfigError([{ path: name, message: 'malformed environment override name' }]);
    }
    const value = overrideValue(env[name] ?? '');
    let node: Record<string, unknown> | unknown[] = out;
    segments.forEach((segment, index) => {
      const numeric = /^\d+$/.test(segment);
      if (Array.isArray(node) !== numeric || (numeric && Number(segment) > MAX_OVERRIDE_INDEX)) {
        throw new ConfigError([
          {
            path: name,
            message: `"${segment}" cannot index ${Array.isArray(node) ? 'a list (0–999 expected)' : 'a mapping'}`,
          },
        ]);
      }
      const key: string | number = numeric ? Number(segment) : segment;
      const container = node as Record<string | number, unknown>;
      if (index === segments.length - 1) {
        container[key] = value;
        return;
      }
      const next = container[key];
      if (typeof next !== 'object' || next === null) {
        container[key] = /^\d+$/.test(segments[index + 1] ?? '') ? [] : {};
      }
      node = container[key] as Record<string, unknown>;
    });
  }
  return out;
}
