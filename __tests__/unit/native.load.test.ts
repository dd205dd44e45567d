import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { inspect } from 'util';
import { loadAddon, platformAbi } from '../../src/native';

/**
 * loadAddon against package folders made here, each with the real napi-rs loader (index.js) and
 * the addon missing, broken, foreign, or installed as the platform package `tasker-node-<abi>`.
 */

const REPO = path.resolve(__dirname, '..', '..');
const ABI = platformAbi();
const BINARY = `tasker-node.${ABI}.node`;
const PLATFORM_PACKAGE = `tasker-node-${ABI}`;
const README = '(see the README, "Installing in another project")';

const made: string[] = [];
afterAll(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

/** A package folder with the generated loader; `clone` adds a Cargo.toml (sources to build). */
function packageDir(opts: { binaries?: Record<string, string | Buffer>; clone?: boolean }) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tasker-load-'));
  made.push(root);
  fs.writeFileSync(path.join(root, 'package.json'), '{"name":"tasker-node","version":"0.1.0"}');
  fs.copyFileSync(path.join(REPO, 'index.js'), path.join(root, 'index.js'));
  if (opts.clone === true) fs.writeFileSync(path.join(root, 'Cargo.toml'), '');
  for (const [name, content] of Object.entries(opts.binaries ?? {})) {
    fs.writeFileSync(path.join(root, name), content);
  }
  return root;
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

describe('loading the native addon', () => {
  it('says an installed package has no addon, and names the platform package to add', () => {
    const root = packageDir({});
    const err = thrown(() => loadAddon(root));
    expect(err.message).toBe(
      `tasker-node: there is no native addon in ${root} (no *.node file, and ${PLATFORM_PACKAGE} ` +
        `is not installed); install the prebuilt package ${PLATFORM_PACKAGE} beside it ` +
        `(\`npm run pack:all\` in a clone of tasker-node makes its tarball), or install ` +
        `tasker-node from a git URL to build it from source ${README}`,
    );
    // napi-rs's advice about npm's optional dependencies, and its list of places it looked, are
    // not passed on: the sentence is the whole error.
    expect(err.cause).toBeUndefined();
    expect(inspect(err)).not.toMatch(/npm has a bug|Cannot find/);
  });

  it('tells a clone to build its addon', () => {
    const root = packageDir({ clone: true });
    expect(thrown(() => loadAddon(root)).message).toBe(
      `tasker-node: there is no native addon in ${root} (no *.node file, and ${PLATFORM_PACKAGE} ` +
        `is not installed); build it with \`npm run build:native\` in ${root} (needs Rust with ` +
        `cargo and a C compiler) ${README}`,
    );
  });

  it('names an addon built for another platform', () => {
    const root = packageDir({ binaries: { 'tasker-node.linux-arm64-gnu.node': '' } });
    expect(thrown(() => loadAddon(root)).message).toContain(
      `tasker-node: the native addon (${path.join(root, 'tasker-node.linux-arm64-gnu.node')}) ` +
        `cannot be loaded on ${ABI}; install the prebuilt package ${PLATFORM_PACKAGE} beside it`,
    );
  });

  it("gives the dynamic loader's reason when this platform's addon is there but does not load", () => {
    const root = packageDir({ binaries: { [BINARY]: 'not an ELF file' } });
    const err = thrown(() => loadAddon(root));
    const file = path.join(root, BINARY);
    expect(err.message).toMatch(
      new RegExp(
        `^tasker-node: the native addon \\(${file}\\) cannot be loaded on ${ABI} \\(${file}: [^)]+\\); `,
      ),
    );
    expect(inspect(err)).not.toMatch(/npm has a bug/);
  });

  it('keeps any other error thrown while loading as the cause', () => {
    const root = packageDir({});
    fs.writeFileSync(path.join(root, 'index.js'), "throw new TypeError('boom');");
    const err = thrown(() => loadAddon(root));
    expect(err.message).toContain(`tasker-node: there is no native addon in ${root}`);
    expect((err.cause as Error).message).toBe('boom');
  });

  it('loads the addon from the platform package installed beside the main one', () => {
    const root = packageDir({});
    const pkg = path.join(root, 'node_modules', PLATFORM_PACKAGE);
    fs.mkdirSync(pkg, { recursive: true });
    fs.writeFileSync(
      path.join(pkg, 'package.json'),
      JSON.stringify({ name: PLATFORM_PACKAGE, version: '0.1.0', main: BINARY }),
    );
    fs.copyFileSync(path.join(REPO, BINARY), path.join(pkg, BINARY));
    expect(typeof loadAddon(root).openEngine).toBe('function');
  });

  it('loads a built addon', () => {
    expect(typeof loadAddon(REPO).openEngine).toBe('function');
  });
});
