/**
 * The checks that hold README.md and docs/*.md to the code: each returns its problems as
 * `file:line: what`, an empty list when the documents are right. The convention they enforce:
 *
 * - a block whose fence follows `<!-- file: examples/x.ts -->` is that file, character for character
 *   (paths from the repository root); with `#name`, the lines between `// #region name` and its
 *   `// #endregion`, less their common indentation and any region markers nested inside;
 * - any other `ts`/`typescript` block is a complete ES module (its own imports and declarations),
 *   type-checked with the project's TypeScript: strict, module `nodenext`, `im-rate-limit` and its
 *   subpaths resolved to src/ (no build needed), every other package to node_modules. A block that
 *   imports `@nestjs/…` or `im-rate-limit/nestjs` is compiled as NestJS needs it
 *   (`experimentalDecorators`, `emitDecoratorMetadata`); every other one with standard decorators;
 * - a `sh`/`bash` block is commands: `npm run X` (and `npm test`, `npm start`…) names a script of
 *   package.json, `npm X` otherwise an npm command, and a relative path in it (a word with a `/`,
 *   unquoted) exists in the repository, or is built from a file that does (`dist-demo/server.js` from
 *   `demo/server.ts`). A block after `<!-- run -->` is also run (test/docs/commands.test.ts);
 * - a `json` block parses; other languages (`text`, `http`, `js`…) are not checked;
 * - docs/options.md's tables `option | type | default | unit | what it does` list exactly the
 *   properties of an options interface each (see `optionTableProblems`).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { type Block, fencedBlocks, type Table, tables } from './markdown.js';

export const root = fileURLToPath(new URL('../..', import.meta.url));

/** README.md and every docs/*.md, relative to the root. */
export function documentation(): string[] {
  const docs = existsSync(join(root, 'docs'))
    ? readdirSync(join(root, 'docs'))
        .filter((name) => name.endsWith('.md'))
        .sort()
        .map((name) => `docs/${name}`)
    : [];
  return ['README.md', ...docs];
}

export function blocksOf(docs: readonly string[]): Block[] {
  return docs.flatMap((doc) => fencedBlocks(doc, readFileSync(join(root, doc), 'utf8')));
}

const at = (block: Block, offset = 0): string => `${block.doc}:${block.line + offset}`;

// --- blocks that are a file, or a region of one ---

const regionStart = /^\s*\/\/ #region (\S+)\s*$/;
const regionEnd = /^\s*\/\/ #endregion\b/;

/** The lines of region `name` in `text`, less their common indentation; undefined without one. */
export function regionOf(text: string, name: string): string | undefined {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => regionStart.exec(line)?.[1] === name);
  if (start < 0) return undefined;
  const inside: string[] = [];
  let depth = 0;
  for (const line of lines.slice(start + 1)) {
    if (regionEnd.test(line)) {
      if (depth === 0) {
        const indent = Math.min(...inside.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)?.[0].length ?? 0));
        return inside.map((l) => l.slice(Math.min(indent, l.length))).join('\n');
      }
      depth--;
    } else if (regionStart.test(line)) depth++;
    else inside.push(line);
  }
  return undefined;
}

export function fileBlockProblems(blocks: readonly Block[]): string[] {
  const problems: string[] = [];
  for (const block of blocks) {
    if (block.marker?.kind !== 'file') continue;
    const { path, region } = block.marker;
    const name = region === undefined ? path : `${path}#${region}`;
    if (!existsSync(join(root, path))) {
      problems.push(`${at(block)}: ${path} does not exist`);
      continue;
    }
    const text = readFileSync(join(root, path), 'utf8');
    const expected = region === undefined ? text : regionOf(text, region);
    if (expected === undefined) {
      problems.push(`${at(block)}: ${path} has no region ${region} (// #region ${region} … // #endregion)`);
      continue;
    }
    const want = expected.replace(/\n+$/, '').split('\n');
    const have = block.body === '' ? [] : block.body.replace(/\n+$/, '').split('\n');
    const differs = Array.from({ length: Math.max(want.length, have.length) }, (_, i) => i).find(
      (i) => want[i] !== have[i],
    );
    if (differs !== undefined) {
      const quote = (line: string | undefined) => (line === undefined ? 'nothing' : JSON.stringify(line));
      problems.push(
        `${at(block, 1 + differs)}: differs from ${name} at its line ${differs + 1}: ${quote(want[differs])} there, ${quote(have[differs])} here`,
      );
    }
  }
  return problems;
}

// --- TypeScript blocks ---

const entryPoints: Record<string, string> = {
  'im-rate-limit': 'src/index.ts',
  'im-rate-limit/catalog': 'src/catalog.ts',
  'im-rate-limit/store': 'src/store/index.ts',
  'im-rate-limit/nestjs': 'src/nestjs/index.ts',
};

/** What a consumer's strict ES module project compiles with; the entry points resolve to src/. */
const consumerOptions: ts.CompilerOptions = ts.convertCompilerOptionsFromJson(
  {
    strict: true,
    module: 'nodenext',
    moduleResolution: 'nodenext',
    moduleDetection: 'force', // a block without imports is a module too, so top-level await and names stay its own
    target: 'es2022',
    lib: ['es2023'],
    types: ['node'],
    skipLibCheck: true,
    noEmit: true,
    paths: Object.fromEntries(Object.entries(entryPoints).map(([name, path]) => [name, [join(root, path)]])),
  },
  root,
).options;

const nestOptions: ts.CompilerOptions = {
  ...consumerOptions,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
};

/** Source files parsed once for every program here: lib, @types and src are the bulk of the work. */
const parsed = new Map<string, ts.SourceFile | undefined>();

/** A program over `files` (path → text, read from memory: never written) and what they import. */
function programOf(files: ReadonlyMap<string, string>, options: ts.CompilerOptions, roots: readonly string[] = []) {
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (path) => files.has(path) || fileExists.call(host, path);
  host.readFile = (path) => files.get(path) ?? readFile.call(host, path);
  host.getSourceFile = (path, language, onError) => {
    const text = files.get(path);
    if (text !== undefined) return ts.createSourceFile(path, text, language, true);
    if (!parsed.has(path)) parsed.set(path, getSourceFile.call(host, path, language, onError));
    return parsed.get(path);
  };
  return ts.createProgram({ rootNames: [...files.keys(), ...roots], options, host });
}

/** Where a block is compiled: a path in the repository (so packages resolve from its node_modules), never written. */
const snippetPath = (block: Block): string =>
  join(root, '.snippets', `${block.doc.replace(/[^\w]/g, '_')}_${block.line}.ts`);

const isTypeScript = (block: Block): boolean =>
  block.marker === undefined && (block.lang === 'ts' || block.lang === 'typescript');
const isNest = (block: Block): boolean => /from ['"](?:@nestjs\/|im-rate-limit\/nestjs['"])/.test(block.body);

function diagnosticsOf(program: ts.Program, blocks: ReadonlyMap<string, Block>): string[] {
  const problems = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()].map(
    (diagnostic) => `(snippets): TS${diagnostic.code}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ')}`,
  );
  for (const [path, block] of blocks) {
    const file = program.getSourceFile(path) as ts.SourceFile;
    for (const diagnostic of [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)]) {
      const { line } = file.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
      const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ');
      problems.push(`${at(block, 1 + line)}: TS${diagnostic.code}: ${message}`);
    }
  }
  return problems;
}

/** Type-checks every TypeScript block without a marker: one program for NestJS blocks, one for the rest. */
export function typeProblems(blocks: readonly Block[]): string[] {
  const groups = [
    { options: consumerOptions, blocks: blocks.filter((block) => isTypeScript(block) && !isNest(block)) },
    { options: nestOptions, blocks: blocks.filter((block) => isTypeScript(block) && isNest(block)) },
  ];
  return groups.flatMap((group) => {
    if (group.blocks.length === 0) return [];
    const byPath = new Map(group.blocks.map((block) => [snippetPath(block), block]));
    const program = programOf(new Map([...byPath].map(([path, block]) => [path, block.body])), group.options);
    return diagnosticsOf(program, byPath);
  });
}

// --- shell blocks ---

interface Word {
  readonly text: string;
  /** Some of it was quoted: a string, not a path or a command name. */
  readonly quoted: boolean;
  /** The target of a redirection (`> out.txt`): a file the command writes or reads, not checked. */
  readonly redirected: boolean;
  /** Its line in the script, 0-based. */
  readonly line: number;
}

/**
 * The simple commands of a shell script, as words: split at `|`, `&&`, `;`, `&`, parentheses,
 * `$(`, backquotes and line ends; comments dropped, line continuations joined. Enough for what
 * documentation runs, not a shell.
 */
export function shellCommands(script: string): Word[][] {
  const commands: Word[][] = [];
  let command: Word[] = [];
  let text = '';
  let quoted = false;
  let inWord = false;
  let redirectNext = false;
  let line = 0;
  let wordLine = 0;
  const endWord = () => {
    if (inWord) command.push({ text, quoted, redirected: redirectNext, line: wordLine });
    if (inWord) redirectNext = false;
    text = '';
    quoted = false;
    inWord = false;
  };
  const endCommand = () => {
    endWord();
    if (command.length > 0) commands.push(command);
    command = [];
  };
  const source = script;
  for (let i = 0; i < source.length; i++) {
    const char = source[i] as string;
    if (!inWord) wordLine = line;
    if (char === '\n') line++;
    if (char === '\\' && source[i + 1] === '\n') {
      endWord(); // a line continuation
      line++;
      i++;
    } else if (char === "'" || char === '"') {
      const close = source.indexOf(char, i + 1);
      const end = close < 0 ? source.length : close;
      text += source.slice(i + 1, end);
      line += source.slice(i + 1, end).split('\n').length - 1;
      quoted = true;
      inWord = true;
      i = end;
    } else if (char === '#' && !inWord) {
      const newline = source.indexOf('\n', i);
      i = (newline < 0 ? source.length : newline) - 1; // the line end itself ends the command
    } else if (char === '\\' && i + 1 < source.length) {
      text += source[++i];
      inWord = true;
    } else if (/\s/.test(char) && char !== '\n') {
      endWord();
    } else if ('\n|&;()`'.includes(char) || (char === '$' && source[i + 1] === '(')) {
      endCommand();
      if (char === '$') i++;
    } else if (char === '>' || char === '<') {
      // `2>`, `&>`: the descriptor before it is part of the operator
      if (/^\d+$/.test(text) && !quoted) {
        text = '';
        inWord = false;
      }
      endWord();
      redirectNext = true;
      if (source[i + 1] === '&') i++;
    } else {
      text += char;
      inWord = true;
    }
  }
  endCommand();
  return commands;
}

/** npm's commands and their aliases (npm 10 and 11): `npm X` with X among them runs npm, not a script. */
const npmCommands = new Set(
  (
    'access adduser audit bugs cache ci completion config dedupe deprecate diff dist-tag docs doctor edit exec ' +
    'explain explore find-dupes fund get help help-search hook init install install-ci-test install-test link ll ' +
    'login logout ls org outdated owner pack ping pkg prefix profile prune publish query rebuild repo restart root ' +
    'run run-script sbom search set shrinkwrap star stars start stop team test token undeprecate uninstall ' +
    'unpublish unstar update version view whoami ' +
    'i in ins inst insta instal isnt isntal isntall add c cit clean-install clean-install-test sit it ln list la ' +
    'r rm un unlink remove up upgrade udpate v info show home issues x t tst rum urn run-script create innit ' +
    'author cit s se find verison why'
  ).split(' '),
);
/** `npm X` that runs the script X. */
const lifecycle: Record<string, string> = {
  test: 'test',
  t: 'test',
  tst: 'test',
  start: 'start',
  stop: 'stop',
  restart: 'restart',
};

/** What each build's outDir is built from (tsconfig.build.json, demo/tsconfig.json). */
const builtFrom: Record<string, string> = { dist: 'src', 'dist-demo': 'demo' };

/** Whether `path` is in the repository, or is a build's output of a file that is. */
function pathExists(path: string): boolean {
  const normal = posix.normalize(path).replace(/\/$/, '');
  if (existsSync(join(root, normal))) return true;
  const [top = '', ...rest] = normal.split('/');
  const source = builtFrom[top];
  if (source === undefined) return false;
  const base = rest.join('/').replace(/(\.d)?\.(js|ts)(\.map)?$/, '');
  return existsSync(join(root, source, `${base}.ts`)) || existsSync(join(root, source, base));
}

/** A word that names a file of this repository: a relative path, not a URL, option, package or pattern. */
const isRepositoryPath = (word: Word): boolean =>
  !word.quoted &&
  !word.redirected &&
  word.text.includes('/') &&
  !/^[-/~@]|^\.\.\//.test(word.text) &&
  !/[:=$*?{}[\]@%]/.test(word.text);

export function shellProblems(blocks: readonly Block[], scripts: Readonly<Record<string, string>>): string[] {
  const problems: string[] = [];
  for (const block of blocks) {
    if (!['sh', 'bash', 'shell'].includes(block.lang) || block.marker?.kind === 'file') continue;
    for (const words of shellCommands(block.body)) {
      const where = at(block, 1 + (words[0]?.line ?? 0));
      const start = words.findIndex((word) => word.quoted || !/^[A-Za-z_]\w*=/.test(word.text)); // after VAR=value
      const [name, ...args] = start < 0 ? [] : words.slice(start);
      if (name?.text === 'npm' && !name.quoted) {
        const [sub, script] = args.filter((word) => !word.text.startsWith('-')).map((word) => word.text);
        if (sub === 'run' || sub === 'run-script' || sub === 'rum' || sub === 'urn') {
          if (script === undefined || !(script in scripts))
            problems.push(`${where}: npm ${sub} ${script ?? ''}: no such script in package.json`);
        } else if (sub !== undefined && sub in lifecycle) {
          if (!((lifecycle[sub] as string) in scripts))
            problems.push(`${where}: npm ${sub}: package.json has no ${lifecycle[sub]} script`);
        } else if (sub !== undefined && !npmCommands.has(sub)) {
          problems.push(
            `${where}: npm ${sub}: not an npm command${sub in scripts ? ` (the script: npm run ${sub})` : ''}`,
          );
        }
      }
      for (const word of words) {
        if (isRepositoryPath(word) && !pathExists(word.text)) {
          problems.push(`${at(block, 1 + word.line)}: ${word.text} does not exist`);
        }
      }
    }
  }
  return problems;
}

// --- JSON blocks ---

export function jsonProblems(blocks: readonly Block[]): string[] {
  return blocks
    .filter((block) => block.lang === 'json' && block.marker === undefined)
    .flatMap((block) => {
      try {
        JSON.parse(block.body);
        return [];
      } catch (error) {
        return [`${at(block)}: not JSON: ${(error as Error).message}`];
      }
    });
}

// --- docs/options.md ---

const optionColumns = ['option', 'type', 'default', 'unit', 'what it does'];

/** The exported types of the package's entry points, by name. */
function exportedTypes(checker: ts.TypeChecker, program: ts.Program): Map<string, ts.Type> {
  const types = new Map<string, ts.Type>();
  for (const path of Object.values(entryPoints)) {
    const module = checker.getSymbolAtLocation(program.getSourceFile(join(root, path)) as ts.SourceFile);
    for (const exported of module === undefined ? [] : checker.getExportsOfModule(module)) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      if (symbol.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias)) {
        types.set(exported.name, checker.getDeclaredTypeOfSymbol(symbol));
      }
    }
  }
  return types;
}

/** The object members of a property's type (`RefusalCacheOptions | false` → RefusalCacheOptions). */
function objectParts(checker: ts.TypeChecker, type: ts.Type): ts.Type[] {
  const nonNull = checker.getNonNullableType(type);
  const parts = nonNull.isUnion() ? nonNull.types : [nonNull];
  return parts.filter((part) => (part.flags & ts.TypeFlags.Object) !== 0 || part.isIntersection());
}

/** Whether `path` (`dailyQuota.timeZone`) names a property below `type`. */
function hasPath(checker: ts.TypeChecker, type: ts.Type, path: readonly string[]): boolean {
  const [head, ...rest] = path;
  if (head === undefined) return true;
  return objectParts(checker, type).some((part) => {
    const property = part.getProperty(head);
    return property !== undefined && hasPath(checker, checker.getTypeOfSymbol(property), rest);
  });
}

/** The option a row names: the first cell's code span (`` `storeTimeoutMs` ``). */
const optionName = (cell: string | undefined): string | undefined => /^`([^`]+)`/.exec(cell ?? '')?.[1];

/**
 * The option tables of `doc` against the interfaces they document. A table is one whose header
 * begins with `option`; its columns must be `option | type | default | unit | what it does`, each
 * row naming one option in backticks, with a type and a line saying what it does. The interface is
 * the one its heading names in backticks (`` ## `RedisStoreOptions` ``), else the exported options
 * type (`…Options`, `…Settings`) with the most names in common. Its rows list exactly that type's
 * properties; a dotted row (`dailyQuota.timeZone`) may add a property below one. `Options` and every
 * store's options (`…StoreOptions`) must each have a table.
 */
export function optionTableProblems(doc: string): string[] {
  if (!existsSync(join(root, doc))) return [`${doc}: missing (the options reference, checked against src/options.ts)`];
  const program = programOf(
    new Map(),
    consumerOptions,
    Object.values(entryPoints).map((path) => join(root, path)),
  );
  const checker = program.getTypeChecker();
  const types = exportedTypes(checker, program);
  const candidates = [...types.keys()].filter((name) => /(Options|Settings)$/.test(name));
  const required = candidates.filter((name) => name === 'Options' || name.endsWith('StoreOptions'));
  const propertiesOf = (name: string) => checker.getPropertiesOfType(types.get(name) as ts.Type).map((p) => p.name);

  const problems: string[] = [];
  const documented = new Map<string, Table>();
  for (const table of tables(doc, readFileSync(join(root, doc), 'utf8'))) {
    if (table.header[0]?.toLowerCase() !== 'option') continue;
    const where = `${doc}:${table.line}`;
    if (table.header.map((cell) => cell.toLowerCase()).join(' | ') !== optionColumns.join(' | ')) {
      problems.push(`${where}: columns ${table.header.join(' | ')}, not ${optionColumns.join(' | ')}`);
      continue;
    }
    const names: string[] = [];
    for (const row of table.rows) {
      const name = optionName(row.cells[0]);
      if (name === undefined) problems.push(`${doc}:${row.line}: the first cell names no option in backticks`);
      else names.push(name);
      if (row.cells.length !== optionColumns.length || row.cells[1] === '' || row.cells[4] === '') {
        problems.push(`${doc}:${row.line}: ${name ?? 'row'}: a cell per column, with a type and what it does`);
      }
    }
    const named = [...table.heading.matchAll(/`([A-Za-z]\w*)`/g)]
      .map((match) => match[1] as string)
      .find((n) => types.has(n));
    const topLevel = names.filter((name) => !name.includes('.'));
    const overlap = (name: string) => propertiesOf(name).filter((property) => topLevel.includes(property)).length;
    const best = [...candidates].sort(
      (a, b) => overlap(b) - overlap(a) || propertiesOf(a).length - propertiesOf(b).length,
    )[0];
    const subject = named ?? (best !== undefined && overlap(best) > 0 ? best : undefined);
    if (subject === undefined) {
      problems.push(`${where}: documents no options interface (name it in the heading: ## \`RedisStoreOptions\`)`);
      continue;
    }
    if (documented.has(subject)) {
      problems.push(`${where}: a second table of ${subject} (the first at line ${documented.get(subject)?.line})`);
      continue;
    }
    documented.set(subject, table);
    const properties = propertiesOf(subject);
    const missing = properties.filter((property) => !topLevel.includes(property));
    const unknown = topLevel.filter((name) => !properties.includes(name));
    const deep = names.filter(
      (name) => name.includes('.') && !hasPath(checker, types.get(subject) as ts.Type, name.split('.')),
    );
    const twice = topLevel.filter((name, i) => topLevel.indexOf(name) !== i);
    if (missing.length > 0) problems.push(`${where}: ${subject}: missing ${missing.join(', ')}`);
    if (unknown.length > 0) problems.push(`${where}: ${subject} has no ${unknown.join(', ')}`);
    if (deep.length > 0) problems.push(`${where}: ${subject} has no ${deep.join(', ')}`);
    if (twice.length > 0) problems.push(`${where}: ${subject}: ${twice.join(', ')} listed twice`);
  }
  for (const name of required) if (!documented.has(name)) problems.push(`${doc}: no table of ${name}`);
  return problems;
}
