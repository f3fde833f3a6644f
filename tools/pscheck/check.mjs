// Static check of the repository's PowerShell files, standing in for pwsh (which these machines lack):
//   1. syntax: every .ps1/.psm1/.psd1 parses with tree-sitter-powershell without ERROR or MISSING nodes;
//   2. commands: every command named like an E2E command exists in the compiled module;
//   3. parameters: every -Parameter given to an E2E command exists, by name, alias or an unambiguous
//      prefix, exactly as PowerShell's binder resolves them (an ambiguous prefix is an error);
//   4. Pester: 'Should -Throw -ErrorId' is compared with -like against the whole FullyQualifiedErrorId
//      ('Id,Namespace.Command'), so a literal id without ',' or a wildcard can never match.
// The command table (out/commands.json) is written by the module builder from the compiled cmdlets.
//
// Usage: node check.mjs [--root DIR] [--table FILE] [--self-test] [FILE...]
import Parser from 'tree-sitter';
// The explicit entry file: the package's 'main' names a folder, which ES module resolution deprecates.
import PowerShell from 'tree-sitter-powershell/bindings/node/index.js';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join, relative, resolve, dirname, extname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const SCRIPT_EXTENSIONS = new Set(['.ps1', '.psm1', '.psd1']);
const SKIP_DIRS = new Set(['.git', 'node_modules', 'out', 'bin', 'obj', 'TestResults']);
const FIXTURES = resolve(here, 'fixtures');

export function loadTable(path) {
  const raw = JSON.parse(readFileSync(path, 'utf8'));
  const commands = new Map();
  for (const c of raw.commands) {
    commands.set(c.name.toLowerCase(), c);
  }
  return { module: raw.module, commands, common: raw.commonParameters, shouldProcess: raw.shouldProcessParameters };
}

/** Names a parameter token may bind to: each parameter's name and aliases, and whether the command declares it. */
function parameterChoices(command, table) {
  const choice = own => p => ({ name: p.name, own, spellings: [p.name, ...(p.aliases ?? [])].map(s => s.toLowerCase()) });
  return [
    ...command.parameters.map(choice(true)),
    ...table.common.map(choice(false)),
    ...(command.supportsShouldProcess ? table.shouldProcess.map(choice(false)) : []),
  ];
}

/**
 * Resolves '-Tok' as PowerShell's binder does (MergedCommandParameterMetadata.GetMatchingParameter):
 * an exact name or alias wins; otherwise every parameter with a name or alias starting with the token
 * matches, and among several, a single parameter the command declares beats the common ones.
 */
export function resolveParameter(command, token, table) {
  const wanted = token.toLowerCase();
  const choices = parameterChoices(command, table);
  const exact = choices.find(c => c.spellings.includes(wanted));
  if (exact) {
    return { ok: true, name: exact.name };
  }
  const matches = choices.filter(c => c.spellings.some(s => s.startsWith(wanted)));
  if (matches.length === 1) {
    return { ok: true, name: matches[0].name };
  }
  if (matches.length > 1) {
    const own = matches.filter(c => c.own);
    if (own.length === 1) {
      return { ok: true, name: own[0].name };
    }
    return { ok: false, message: `parameter -${token} of ${command.name} is ambiguous: it could be ${matches.map(c => '-' + c.name).join(', ')}` };
  }
  return { ok: false, message: `${command.name} has no parameter -${token}` };
}

function* walk(node) {
  yield node;
  for (const child of node.children) {
    yield* walk(child);
  }
}

/** A command word that claims to be ours: Verb-E2E…, or any name the module exports; module-qualified names too. */
function moduleCommand(nameText, table) {
  const bare = nameText.replace(/^E2E\\/i, '');
  const known = table.commands.get(bare.toLowerCase());
  if (known) {
    return { command: known };
  }
  if (/^[A-Za-z]+-E2E[A-Za-z0-9]*$/.test(bare) || /^E2E\\/i.test(nameText)) {
    return { unknown: bare };
  }
  return null;
}

export function checkSource(text, file, table, parser) {
  const problems = [];
  const tree = parser.parse(text);
  const at = node => `${file}:${node.startPosition.row + 1}:${node.startPosition.column + 1}`;
  let commandUses = 0;

  for (const node of walk(tree.rootNode)) {
    if (node.type === 'ERROR' && node.parent?.type !== 'ERROR') {
      problems.push({ kind: 'syntax', where: at(node), message: `syntax error near '${node.text.slice(0, 40).replace(/\s+/g, ' ')}'` });
    } else if (node.isMissing) {
      problems.push({ kind: 'syntax', where: at(node), message: `missing '${node.type}'` });
    }
    if (node.type !== 'command') {
      continue;
    }
    const nameNode = node.childForFieldName('command_name');
    if (!nameNode || nameNode.type !== 'command_name') {
      continue;
    }
    if (/^should$/i.test(nameNode.text)) {
      const problem = checkErrorId(node.childForFieldName('command_elements'));
      if (problem) {
        problems.push({ kind: 'pester', where: at(problem.node), message: problem.message });
      }
      continue;
    }
    const match = moduleCommand(nameNode.text, table);
    if (!match) {
      continue;
    }
    commandUses++;
    if (match.unknown) {
      problems.push({ kind: 'command', where: at(nameNode), message: `${match.unknown} is not a command of module ${table.module}` });
      continue;
    }
    const elements = node.childForFieldName('command_elements');
    for (const element of elements ? elements.namedChildren : []) {
      if (element.type !== 'command_parameter') {
        continue;
      }
      const token = /^-([^:\s]+)/.exec(element.text)?.[1];
      if (!token) {
        continue;
      }
      const resolved = resolveParameter(match.command, token, table);
      if (!resolved.ok) {
        problems.push({ kind: 'parameter', where: at(element), message: resolved.message });
      }
    }
  }
  return { problems, commandUses };
}

/** A literal -ErrorId that names only the id ('ScopeNotFound') never matches the full id Pester compares with. */
function checkErrorId(elements) {
  const children = elements ? elements.namedChildren : [];
  for (let i = 0; i < children.length; i++) {
    if (children[i].type !== 'command_parameter' || !/^-ErrorId$/i.test(children[i].text)) {
      continue;
    }
    const argument = children.slice(i + 1).find(c => c.type !== 'command_argument_sep' && c.type !== 'command_parameter');
    const literal = argument && /^'([^']*)'$|^"([^"$]*)"$/.exec(argument.text.trim());
    const id = literal ? (literal[1] ?? literal[2]) : null;
    if (id !== null && !/[,*?]/.test(id)) {
      return { node: argument, message: `Should -ErrorId '${id}' cannot match: Pester compares it with -like against the full id ('${id},<Namespace.Command>'); write '${id},*'` };
    }
  }
  return null;
}

export function scriptFiles(root) {
  const found = [];
  const visit = dir => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!SKIP_DIRS.has(entry.name) && full !== FIXTURES) {
          visit(full);
        }
      } else if (SCRIPT_EXTENSIONS.has(extname(entry.name).toLowerCase())) {
        found.push(full);
      }
    }
  };
  visit(root);
  return found.sort();
}

function newParser() {
  const parser = new Parser();
  parser.setLanguage(PowerShell);
  return parser;
}

function checkFiles(files, root, table) {
  const parser = newParser();
  const results = files.map(file => ({ file, ...checkSource(readFileSync(file, 'utf8'), relative(root, file), table, parser) }));
  return results;
}

/** Each fixture lists the problems it must produce in '# expect: <kind>: <text>' lines; good fixtures list none. */
function selfTest(table) {
  const parser = newParser();
  let failures = 0;
  const fixtures = readdirSync(FIXTURES).filter(f => f.endsWith('.ps1')).sort();
  for (const name of fixtures) {
    const text = readFileSync(join(FIXTURES, name), 'utf8');
    const expected = [...text.matchAll(/^# expect: (\w+): (.+)$/gm)].map(m => ({ kind: m[1], text: m[2].trim() }));
    const { problems } = checkSource(text, name, table, parser);
    const unmatched = expected.filter(e => !problems.some(p => p.kind === e.kind && p.message.includes(e.text)));
    const unexpected = problems.filter(p => !expected.some(e => p.kind === e.kind && p.message.includes(e.text)));
    const ok = unmatched.length === 0 && unexpected.length === 0;
    if (!ok) {
      failures++;
      console.log(`self-test FAILED ${name}`);
      unmatched.forEach(e => console.log(`  expected ${e.kind}: ${e.text}`));
      unexpected.forEach(p => console.log(`  unexpected ${p.where} ${p.kind}: ${p.message}`));
    }
  }
  console.log(`pscheck self-test: ${fixtures.length - failures} passed, ${failures} failed`);
  return failures === 0 && fixtures.length > 0;
}

function main(argv) {
  const args = [...argv];
  const option = name => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const [, value] = args.splice(i, 2);
    return value;
  };
  const isSelfTest = args.includes('--self-test') && args.splice(args.indexOf('--self-test'), 1);
  const root = resolve(option('--root') ?? resolve(here, '..', '..'));
  const tablePath = resolve(option('--table') ?? join(root, 'out', 'commands.json'));
  if (!existsSync(tablePath)) {
    console.error(`pscheck: no command table at ${tablePath}; run 'dotnet build' first.`);
    return 2;
  }
  const table = loadTable(tablePath);
  if (isSelfTest && !selfTest(table)) {
    return 1;
  }
  const files = args.length > 0 ? args.map(a => resolve(a)) : scriptFiles(root);
  const results = checkFiles(files, root, table);
  const problems = results.flatMap(r => r.problems);
  for (const p of problems) {
    console.log(`${p.where}: ${p.kind}: ${p.message}`);
  }
  const uses = results.reduce((n, r) => n + r.commandUses, 0);
  console.log(`pscheck: ${files.length} files, ${uses} uses of ${table.commands.size} ${table.module} commands checked, ${problems.length} problems`);
  return problems.length === 0 ? 0 : 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
