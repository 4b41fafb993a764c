// The `mlsecrets` command line: argument parsing and exit codes; each command lives in its own file.
import { Command, CommanderError, Option } from 'commander';
import { KubeApiError } from '../runtime/http.ts';
import { readFileSync } from 'node:fs';
import { accessCommand } from './access.command.ts';
import { auditCommand } from './audit.command.ts';
import { EXIT, packageVersion, UsageError, type CliIo } from './cli-io.ts';
import { Cluster, loadKubeConfig } from './cluster.ts';
import { parseAge } from './format.ts';
import { statusCommand } from './status.command.ts';
import { validateCommand } from './validate.command.ts';

const EXIT_CODES_HELP = `
Exit codes:
  0  fine
  1  problems found (invalid manifests, flagged Secrets, resources not Ready)
  2  usage error, or the command could not run (unreadable file, unreachable cluster)`;

/**
 * Runs the CLI with `argv` (without the node and script paths) and resolves the exit code.
 * Never calls process.exit: main.ts does, and tests call this directly.
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end with exit code 0; everything else commander rejects is usage.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof UsageError) {
      io.stderr(`error: ${error.message}\n`);
      return EXIT.usage;
    }
    if (error instanceof KubeApiError) {
      io.stderr(
        `error: the Kubernetes API refused the request (${error.status} ${error.reason}): ${error.message}\n`,
      );
      return EXIT.usage;
    }
    io.stderr(`error: ${(error as Error)?.message ?? String(error)}\n`);
    return EXIT.usage;
  }
}

function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command('mlsecrets')
    .description('Check mlsecrets manifests, audit managed and long-lived Secrets, and summarise status.')
    .version(packageVersion(), '-v, --version', 'print the version')
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
    .addHelpText('after', EXIT_CODES_HELP)
    .showSuggestionAfterError()
    // --kubeconfig is global; listing it under each command's help says it applies there too.
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) });

  const connect = (command: Command) => () => {
    const { kubeconfig } = command.optsWithGlobals<{ kubeconfig?: string }>();
    return new Cluster(loadKubeConfig(kubeconfig, io.env));
  };

  program
    .command('validate')
    .summary('check manifests: schema, spec rules and store policy, offline or against a cluster')
    .description(
      `Check mlsecrets manifests (SecretBinding, SecretStore, ClusterSecretStore) against the CRD schemas and the rules they cannot express offline: one provider, ttl >= refreshInterval, cron and time zone, duplicate secretKeys, regexps, and the policy of each binding's store when that store is in the files. Other documents (Namespaces, Secrets, ...) are skipped with a note.

With --cluster, also a server-side dry run of every document (which runs the CRDs' CEL rules and admission), and each binding is checked against its store's policy, the store taken from the files if it is there and from the cluster otherwise: validating a changed store together with the bindings that use it simulates the policy change before it is rolled out.

FILE may be a directory (its *.yaml, *.yml and *.json files) or - for standard input. Problems are printed as FILE:DOCUMENT KIND/NAMESPACE/NAME: problem (documents numbered from 1).`,
    )
    .argument('<files...>', 'manifest files, directories, or - for stdin')
    .option('--cluster', 'also dry-run against the cluster and use its stores and namespaces', false)
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText('after', EXIT_CODES_HELP)
    .action(
      async (files: string[], options: { cluster: boolean; output: 'text' | 'json' }, command: Command) => {
        setExit(await validateCommand(files, options, io, connect(command)));
      },
    );

  program
    .command('audit')
    .summary('list managed Secrets by age and expiry; flag long-lived Secrets no binding manages')
    .description(
      `List the Secrets mlsecrets manages (label app.kubernetes.io/managed-by=mlsecrets) with their binding, age, last issue (rotation or renewal), expiry and time left, and flag:
- Secrets no binding manages that are older than --max-age: the long-lived credentials ML security practice warns about (service-account tokens, Helm release records, bootstrap tokens and the operator's own Secrets are not counted);
- managed Secrets whose expires-at has passed.

Secret values are never read: only metadata is requested from the API server. Namespaces default to the kubeconfig context's namespace.`,
    )
    .addOption(
      new Option('-n, --namespace <namespace>', 'a namespace to audit (repeatable)')
        .argParser((value: string, previous: string[] = []) => [...previous, value])
        .conflicts('allNamespaces'),
    )
    .option('-A, --all-namespaces', 'audit every namespace', false)
    .option('--max-age <age>', 'flag unmanaged Secrets at least this old: 30d, 12h, 1d12h, 0s', '30d')
    .option(
      '--access',
      'instead: recent reads of managed Secrets by Secret and reader, unexpected ones first (access audit)',
      false,
    )
    .option('--since <age>', 'with --access: reads at most this old', '24h')
    .option(
      '--audit-log <file>',
      'with --access: a file of audit records ("-": stdin) instead of the operator pods\' logs',
    )
    .option('--operator-namespace <namespace>', 'with --access: where the operator runs', 'mlsecrets-system')
    .option(
      '--operator-selector <selector>',
      "with --access: the operator pods' labels",
      'app.kubernetes.io/name=mlsecrets',
    )
    .addOption(
      new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'),
    )
    .addHelpText('after', EXIT_CODES_HELP)
    .action(
      async (
        options: {
          namespace?: string[];
          allNamespaces: boolean;
          maxAge: string;
          output: 'table' | 'json';
          access: boolean;
          since: string;
          auditLog?: string;
          operatorNamespace: string;
          operatorSelector: string;
        },
        command: Command,
      ) => {
        if (options.access) {
          let sinceMs: number;
          try {
            sinceMs = parseAge(options.since);
          } catch (error) {
            throw new UsageError(`--since: ${(error as Error).message}`);
          }
          const access = { ...options, namespaces: options.namespace ?? [], sinceMs };
          setExit(await accessCommand(access, io, connect(command), (file) => readFileSync(file, 'utf8')));
          return;
        }
        let maxAgeMs: number;
        try {
          maxAgeMs = parseAge(options.maxAge);
        } catch (error) {
          throw new UsageError(`--max-age: ${(error as Error).message}`);
        }
        const audit = {
          namespaces: options.namespace ?? [],
          allNamespaces: options.allNamespaces,
          maxAge: options.maxAge,
          maxAgeMs,
          output: options.output,
        };
        setExit(await auditCommand(audit, io, connect(command)()));
      },
    );

  program
    .command('status')
    .summary('SecretBindings and stores by Ready reason, with the not-Ready ones and why')
    .description(
      `Count SecretBindings by the reason of their Ready condition, list the ones that are not Ready with their messages, and the same for SecretStores and ClusterSecretStores. Without --namespace: every namespace. Exit code 1 when anything is not Ready.`,
    )
    .option('-n, --namespace <namespace>', 'only this namespace (ClusterSecretStores are always shown)')
    .addOption(
      new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'),
    )
    .addHelpText('after', EXIT_CODES_HELP)
    .action(async (options: { namespace?: string; output: 'table' | 'json' }, command: Command) => {
      setExit(await statusCommand(options, io, connect(command)()));
    });

  return program;
}
