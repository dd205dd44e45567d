#!/usr/bin/env node
/**
 * Builds the native addon with `napi build`, after checking that the tools it needs are there, so
 * that a missing tool is one sentence saying what to install instead of `napi: not found` or the
 * napi CLI's "Internal Error" stack.
 *
 *   node scripts/build-native.js [extra napi build args]   (`npm run build:native`): always builds.
 *   node scripts/build-native.js --if-needed               (`prepare`): builds only when there is
 *     no addon for this platform or it is older than the Rust sources; a package without Rust
 *     sources (a packed tarball) keeps its prebuilt addon.
 *
 * Exit code 1, with one sentence on stderr, when something is missing.
 */
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.resolve(__dirname, '..');
const BINARY_NAME = 'tasker-node';
const NAPI_ARGS = ['build', '--platform', '--release', '--js', 'index.js', '--dts', 'index.d.ts'];
const README = 'see "Installing in another project" in the README';

/** napi-rs's name for this platform, as in `tasker-node.<abi>.node` and `tasker-node-<abi>`. */
function platformAbi() {
  const { platform, arch } = process;
  if (platform === 'win32') return `win32-${arch}-msvc`;
  if (platform !== 'linux') return `${platform}-${arch}`;
  const header = process.report?.getReport()?.header;
  const libc = header?.glibcVersionRuntime ? 'gnu' : 'musl';
  return arch === 'arm' ? `linux-arm-${libc}eabihf` : `linux-${arch}-${libc}`;
}

/** The full path of `command` on PATH, or undefined. */
function onPath(command) {
  const exts = process.platform === 'win32' ? (process.env.PATHEXT ?? '.EXE').split(';') : [''];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    for (const ext of exts) {
      const candidate = path.join(dir, command + ext);
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        if (fs.statSync(candidate).isFile()) return candidate;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

/** The newest modification time (ms) of the files the addon is built from. */
function newestSource() {
  let newest = 0;
  const visit = (p, filter) => {
    let stat;
    try {
      stat = fs.statSync(p);
    } catch {
      return;
    }
    if (stat.isDirectory()) {
      const name = path.basename(p);
      if (name === 'target' || name === 'node_modules') return;
      for (const entry of fs.readdirSync(p)) visit(path.join(p, entry), filter);
    } else if (filter(p)) {
      newest = Math.max(newest, stat.mtimeMs);
    }
  };
  const any = () => true;
  for (const f of ['Cargo.toml', 'Cargo.lock', 'build.rs']) visit(path.join(ROOT, f), any);
  visit(path.join(ROOT, 'crates'), any);
  visit(path.join(ROOT, 'src'), (p) => p.endsWith('.rs'));
  return newest;
}

/** The napi CLI's entry script, resolved from this package, or undefined. */
function napiCli() {
  try {
    const pkgPath = require.resolve('@napi-rs/cli/package.json', { paths: [ROOT] });
    const pkg = JSON.parse(fs.readFileSync(pkgPath, 'utf8'));
    const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin?.napi;
    return bin === undefined ? undefined : path.join(path.dirname(pkgPath), bin);
  } catch {
    return undefined;
  }
}

function resolvable(request) {
  try {
    require.resolve(request, { paths: [ROOT] });
    return true;
  } catch {
    return false;
  }
}

/** Why the addon cannot be built here, as clauses of one sentence (empty when it can). */
function missingTools(ifNeeded) {
  const missing = [];
  if (onPath('cargo') === undefined) {
    const cargoHome = process.env.CARGO_HOME ?? path.join(os.homedir(), '.cargo');
    const installed = path.join(
      cargoHome,
      'bin',
      process.platform === 'win32' ? 'cargo.exe' : 'cargo',
    );
    missing.push(
      fs.existsSync(installed)
        ? `cargo is not on PATH (it is in ${path.dirname(installed)}: add that folder to PATH)`
        : 'cargo is not on PATH (install Rust with rustup, https://rustup.rs)',
    );
  }
  if (process.platform !== 'win32') {
    const cc = process.env.CC;
    const found =
      cc !== undefined && cc !== ''
        ? path.isAbsolute(cc)
          ? fs.existsSync(cc)
          : onPath(cc) !== undefined
        : ['cc', 'gcc', 'clang'].some((c) => onPath(c) !== undefined);
    if (!found) {
      missing.push(
        'no C compiler (cc, gcc or clang) is on PATH (install one, e.g. `apt-get install build-essential` or `xcode-select --install`)',
      );
    }
  }
  const devDeps = [];
  if (napiCli() === undefined) devDeps.push('@napi-rs/cli');
  if (ifNeeded && !resolvable('typescript/package.json')) devDeps.push('typescript');
  if (devDeps.length > 0) {
    missing.push(
      `its devDependencies (${devDeps.join(', ')}) are not installed (run \`npm install\` in ${ROOT} first: installing a folder from another project does not install them)`,
    );
  }
  return missing;
}

function fail(clauses) {
  process.stderr.write(
    `tasker-node: cannot build the native addon in ${ROOT} because ${clauses.join(', and ')}; the alternative is a prebuilt tarball (${README}).\n`,
  );
  process.exit(1);
}

function main(argv) {
  const ifNeeded = argv.includes('--if-needed');
  const extra = argv.filter((a) => a !== '--if-needed');
  const abi = platformAbi();
  const binaryFile = `${BINARY_NAME}.${abi}.node`;
  const binary = path.join(ROOT, binaryFile);
  const hasBinary = fs.existsSync(binary);

  if (ifNeeded) {
    if (!fs.existsSync(path.join(ROOT, 'Cargo.toml'))) {
      // A packed package: nothing to build from, only a prebuilt addon to use.
      if (hasBinary || resolvable(`${BINARY_NAME}-${abi}/package.json`)) {
        console.log(`tasker-node: using the prebuilt native addon for ${abi}`);
        return 0;
      }
      process.stderr.write(
        `tasker-node: this package has no native addon for ${abi} and no Rust sources to build one from; install ${BINARY_NAME}-${abi} beside it or install from a clone or a git URL (${README}).\n`,
      );
      return 1;
    }
    if (hasBinary && fs.statSync(binary).mtimeMs >= newestSource()) {
      console.log(
        `tasker-node: ${binaryFile} is newer than the Rust sources, not rebuilding it (\`npm run build:native\` forces a build)`,
      );
      return 0;
    }
  }

  const missing = missingTools(ifNeeded);
  if (missing.length > 0) {
    if (ifNeeded && hasBinary && missing.every((m) => m.startsWith('cargo'))) {
      process.stderr.write(
        `tasker-node: cargo is not on PATH, so ${binaryFile} stays as it is although it is older than the Rust sources; install Rust (https://rustup.rs) and run \`npm run build:native\` to rebuild it.\n`,
      );
      return 0;
    }
    fail(missing);
  }

  const result = spawnSync(process.execPath, [napiCli(), ...NAPI_ARGS, ...extra], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (result.error) fail([`the napi CLI could not be started (${result.error.message})`]);
  return result.status ?? 1;
}

process.exitCode = main(process.argv.slice(2));
