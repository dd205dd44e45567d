import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { platformAbi } from '../../src/native';

/**
 * scripts/build-native.js, run as npm runs it (`build:native`, and `prepare` with --if-needed),
 * in a child process against a package folder made here: a missing tool is one sentence and exit
 * code 1, a prebuilt addon is kept, and otherwise it hands over to the napi CLI (a fake one that
 * prints its arguments).
 */

const SCRIPT = path.resolve(__dirname, '..', '..', 'scripts', 'build-native.js');
const BINARY = `tasker-node.${platformAbi()}.node`;
const README = 'see "Installing in another project" in the README';

const made: string[] = [];
function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

interface PackageOptions {
  /** Rust sources (Cargo.toml, src/lib.rs): a clone rather than a packed package. */
  sources?: boolean;
  /** The addon for this platform: newer or older than the Rust sources. */
  binary?: 'fresh' | 'stale';
  /** node_modules/@napi-rs/cli and node_modules/typescript. */
  devDependencies?: boolean;
  /** Exit code of the fake napi CLI. */
  napiExit?: number;
}

function makePackage(opts: PackageOptions): string {
  const root = tempDir('tasker-build-');
  fs.mkdirSync(path.join(root, 'scripts'));
  fs.copyFileSync(SCRIPT, path.join(root, 'scripts', 'build-native.js'));
  fs.writeFileSync(path.join(root, 'package.json'), '{"name":"tasker-node","version":"0.1.0"}');
  const sourceTime = new Date('2030-01-01T00:00:00Z');
  if (opts.sources ?? true) {
    fs.writeFileSync(path.join(root, 'Cargo.toml'), '[package]\nname = "tasker-node"\n');
    fs.mkdirSync(path.join(root, 'src'));
    fs.writeFileSync(path.join(root, 'src', 'lib.rs'), '');
    for (const f of ['Cargo.toml', 'src/lib.rs']) {
      fs.utimesSync(path.join(root, f), sourceTime, sourceTime);
    }
  }
  if (opts.binary !== undefined) {
    const file = path.join(root, BINARY);
    fs.writeFileSync(file, '');
    const t = new Date(sourceTime.getTime() + (opts.binary === 'fresh' ? 60_000 : -60_000));
    fs.utimesSync(file, t, t);
  }
  if (opts.devDependencies ?? true) {
    const cli = path.join(root, 'node_modules', '@napi-rs', 'cli');
    fs.mkdirSync(cli, { recursive: true });
    fs.writeFileSync(
      path.join(cli, 'package.json'),
      '{"name":"@napi-rs/cli","version":"3.0.0","bin":{"napi":"cli.js"}}',
    );
    fs.writeFileSync(
      path.join(cli, 'cli.js'),
      `console.log('FAKE napi ' + process.argv.slice(2).join(' ') + ' in ' + process.cwd());\n` +
        `process.exit(${opts.napiExit ?? 0});\n`,
    );
    const ts = path.join(root, 'node_modules', 'typescript');
    fs.mkdirSync(ts, { recursive: true });
    fs.writeFileSync(path.join(ts, 'package.json'), '{"name":"typescript","version":"5.9.3"}');
  }
  return root;
}

/** A folder of fake executables, to be the whole PATH. */
function toolsDir(tools: string[]): string {
  const dir = tempDir('tasker-tools-');
  for (const t of tools) {
    fs.writeFileSync(path.join(dir, t), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  }
  return dir;
}

/** A HOME with no ~/.cargo, or with ~/.cargo/bin/cargo. */
function home(withCargo = false): string {
  const dir = tempDir('tasker-home-');
  if (withCargo) {
    fs.mkdirSync(path.join(dir, '.cargo', 'bin'), { recursive: true });
    fs.writeFileSync(path.join(dir, '.cargo', 'bin', 'cargo'), '#!/bin/sh\n', { mode: 0o755 });
  }
  return dir;
}

function run(root: string, args: string[], env: { PATH: string; HOME: string }) {
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-native.js'), ...args], {
    env, // nothing else: no CARGO_HOME, no CC
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const unix = process.platform === 'win32' ? describe.skip : describe;

unix('scripts/build-native.js', () => {
  it('says in one sentence that cargo is missing, and exits 1', () => {
    const root = makePackage({});
    const r = run(root, [], { PATH: toolsDir(['cc']), HOME: home() });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `tasker-node: cannot build the native addon in ${root} because cargo is not on PATH ` +
        `(install Rust with rustup, https://rustup.rs); the alternative is a prebuilt tarball ` +
        `(${README}).\n`,
    );
  });

  it('points at ~/.cargo/bin when Rust is installed but not on PATH', () => {
    const root = makePackage({});
    const h = home(true);
    const r = run(root, [], { PATH: toolsDir(['cc']), HOME: h });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      `because cargo is not on PATH (it is in ${path.join(h, '.cargo', 'bin')}: add that folder to PATH);`,
    );
  });

  it('names every missing tool in the same sentence', () => {
    const root = makePackage({ devDependencies: false });
    const r = run(root, ['--if-needed'], { PATH: toolsDir([]), HOME: home() });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `tasker-node: cannot build the native addon in ${root} because cargo is not on PATH ` +
        `(install Rust with rustup, https://rustup.rs), and no C compiler (cc, gcc or clang) is on ` +
        `PATH (install one, e.g. \`apt-get install build-essential\` or \`xcode-select --install\`), ` +
        `and its devDependencies (@napi-rs/cli, typescript) are not installed (run \`npm install\` ` +
        `in ${root} first: installing a folder from another project does not install them); the ` +
        `alternative is a prebuilt tarball (${README}).\n`,
    );
  });

  it('says the devDependencies are missing when a folder is installed without them', () => {
    const root = makePackage({ devDependencies: false });
    const r = run(root, ['--if-needed'], { PATH: toolsDir(['cargo', 'gcc']), HOME: home() });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      `because its devDependencies (@napi-rs/cli, typescript) are not installed (run \`npm install\` in ${root} first`,
    );
  });

  it('keeps an addon newer than the Rust sources under --if-needed, without looking for cargo', () => {
    const root = makePackage({ binary: 'fresh' });
    const r = run(root, ['--if-needed'], { PATH: toolsDir([]), HOME: home() });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(
      `tasker-node: ${BINARY} is newer than the Rust sources, not rebuilding it ` +
        `(\`npm run build:native\` forces a build)\n`,
    );
    expect(r.stderr).toBe('');
  });

  it('keeps the prebuilt addon of a packed package, which has no Rust sources', () => {
    const root = makePackage({ sources: false, binary: 'fresh', devDependencies: false });
    const r = run(root, ['--if-needed'], { PATH: toolsDir([]), HOME: home() });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`tasker-node: using the prebuilt native addon for ${platformAbi()}\n`);
  });

  it('fails in one sentence for a packed package without an addon for this platform', () => {
    const root = makePackage({ sources: false, devDependencies: false });
    const r = run(root, ['--if-needed'], { PATH: toolsDir([]), HOME: home() });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `tasker-node: this package has no native addon for ${platformAbi()} and no Rust sources to ` +
        `build one from; install tasker-node-${platformAbi()} beside it or install from a clone or ` +
        `a git URL (${README}).\n`,
    );
  });

  it('rebuilds an addon older than the Rust sources with napi build', () => {
    const root = makePackage({ binary: 'stale' });
    const r = run(root, ['--if-needed'], { PATH: toolsDir(['cargo', 'cc']), HOME: home() });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(
      `FAKE napi build --platform --release --js index.js --dts index.d.ts in ${root}\n`,
    );
  });

  it('keeps a stale addon, with a warning, when only cargo is missing', () => {
    const root = makePackage({ binary: 'stale' });
    const r = run(root, ['--if-needed'], { PATH: toolsDir(['cc']), HOME: home() });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `tasker-node: cargo is not on PATH, so ${BINARY} stays as it is although it is older than ` +
        `the Rust sources; install Rust (https://rustup.rs) and run \`npm run build:native\` to ` +
        `rebuild it.\n`,
    );
  });

  it('always builds without --if-needed, passing extra arguments on, and exits as napi does', () => {
    const root = makePackage({ binary: 'fresh', napiExit: 3 });
    const r = run(root, ['--profile', 'dev'], { PATH: toolsDir(['cargo', 'clang']), HOME: home() });
    expect(r.stdout).toBe(
      `FAKE napi build --platform --release --js index.js --dts index.d.ts --profile dev in ${root}\n`,
    );
    expect(r.status).toBe(3);
  });
});
