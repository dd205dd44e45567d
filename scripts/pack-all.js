#!/usr/bin/env node
/**
 * Packs tasker-node the napi-rs way, as tarballs in pack/ (run after `npm run build`; the npm
 * script `pack:all` does both):
 *
 * - pack/tasker-node-<abi>-<version>.tgz: the platform package npm/<abi>/ with this machine's
 *   addon, `tasker-node.<abi>.node`;
 * - pack/tasker-node-<version>.tgz: the main package without any addon, naming every platform
 *   package under npm/ in `optionalDependencies` at its own version, as `napi prepublish` writes
 *   them at publish time. They are not in the repository's package.json: those packages are on no
 *   registry, and `npm ci` refuses a package.json whose optional dependency the lock file lacks.
 *
 * Install both tarballs together; the main one alone fails at its first call with one sentence
 * naming the missing package (npm skips an optional dependency it cannot fetch).
 */
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.resolve(__dirname, '..');
const OUT = path.join(ROOT, 'pack');

function fail(sentence) {
  process.stderr.write(`tasker-node pack:all: ${sentence}\n`);
  process.exit(1);
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/** Runs npm (the one running this script, when there is one) and returns its stdout. */
function npm(args, cwd) {
  const execPath = process.env.npm_execpath;
  const [cmd, argv] =
    execPath !== undefined && execPath.endsWith('.js')
      ? [process.execPath, [execPath, ...args]]
      : ['npm', args];
  const r = spawnSync(cmd, argv, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    shell: process.platform === 'win32' && cmd === 'npm',
  });
  if (r.status !== 0) fail(`\`npm ${args.join(' ')}\` failed in ${cwd}`);
  return r.stdout;
}

/** `npm pack` of `dir` into OUT; returns the tarball's path. */
function pack(dir) {
  const [info] = JSON.parse(
    npm(['pack', '--json', '--ignore-scripts', '--pack-destination', OUT], dir),
  );
  return path.join(OUT, info.filename);
}

function main() {
  const rootPkg = readJson(path.join(ROOT, 'package.json'));
  const binaryName = rootPkg.napi?.binaryName ?? rootPkg.name;
  const npmDir = path.join(ROOT, 'npm');
  const platforms = fs
    .readdirSync(npmDir)
    .filter((d) => fs.existsSync(path.join(npmDir, d, 'package.json')));
  if (platforms.length === 0) fail(`there is no platform package under ${npmDir}`);

  const optionalDependencies = {};
  const tarballs = [];
  fs.mkdirSync(OUT, { recursive: true });
  for (const abi of platforms) {
    const dir = path.join(npmDir, abi);
    const pkg = readJson(path.join(dir, 'package.json'));
    if (pkg.version !== rootPkg.version) {
      fail(
        `${pkg.name} is at ${pkg.version} but tasker-node at ${rootPkg.version}; run \`npx napi version\` to align npm/*/package.json`,
      );
    }
    optionalDependencies[pkg.name] = pkg.version;
    const addon = `${binaryName}.${abi}.node`;
    if (!fs.existsSync(path.join(ROOT, addon))) {
      // Only the platform the addon was built on can be packed here.
      console.log(`tasker-node pack:all: no ${addon} here, ${pkg.name} is not packed`);
      continue;
    }
    fs.copyFileSync(path.join(ROOT, addon), path.join(dir, addon));
    tarballs.push(pack(dir));
  }
  if (tarballs.length === 0) fail('no platform addon is built here; run `npm run build` first');
  if (!fs.existsSync(path.join(ROOT, 'dist', 'src', 'index.js'))) {
    fail('dist/src is not built; run `npm run build` first');
  }

  // The main package: the files `npm pack` would take, less the addons, in a staging folder.
  const [listing] = JSON.parse(npm(['pack', '--dry-run', '--json', '--ignore-scripts'], ROOT));
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'tasker-node-pack-'));
  try {
    for (const { path: file } of listing.files) {
      if (file.endsWith('.node')) continue;
      fs.mkdirSync(path.join(stage, path.dirname(file)), { recursive: true });
      fs.copyFileSync(path.join(ROOT, file), path.join(stage, file));
    }
    // Its scripts need the sources, which are not packed; npm would only list `prepare` as an
    // install script not yet approved.
    const { scripts: _scripts, ...published } = rootPkg;
    const staged = { ...published, optionalDependencies };
    fs.writeFileSync(path.join(stage, 'package.json'), JSON.stringify(staged, null, 2) + '\n');
    tarballs.push(pack(stage));
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }

  const rel = tarballs.map((t) => path.relative(process.cwd(), t));
  console.log(`tasker-node pack:all: wrote ${rel.join(' and ')}; install them together:`);
  console.log(`  npm install ${tarballs.join(' ')}`);
}

main();
