import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadAddon } from '../../src/native';

/** A package folder whose napi-rs loader fails as it does when no binary matches. */
function brokenPackage(binaries: string[]): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tasker-load-'));
  fs.writeFileSync(path.join(root, 'package.json'), '{"name":"tasker-node"}');
  fs.writeFileSync(
    path.join(root, 'index.js'),
    "throw new Error('Cannot find native binding. npm has a bug related to optional dependencies');",
  );
  for (const b of binaries) fs.writeFileSync(path.join(root, b), '');
  return root;
}

describe('loading the native addon', () => {
  const platform = `${process.platform}-${process.arch}`;

  it('says there is no addon, and how to build one, when none was built', () => {
    const root = brokenPackage([]);
    expect(() => loadAddon(root)).toThrow(
      `tasker-node: there is no native addon (*.node) in ${root}; build it with \`npm run build:native\` ` +
        `in that folder (needs Rust with cargo and a C compiler; see the README, "Installing"), ` +
        `or install a build made for ${platform}`,
    );
  });

  it('names the addon that cannot be loaded, and keeps the loader error as the cause', () => {
    const root = brokenPackage(['tasker-node.linux-arm64-gnu.node']);
    let thrown: unknown;
    try {
      loadAddon(root);
    } catch (err) {
      thrown = err;
    }
    expect((thrown as Error).message).toContain(
      `the native addon in ${root} (tasker-node.linux-arm64-gnu.node) cannot be loaded on ${platform}`,
    );
    expect(((thrown as Error).cause as Error).message).toMatch(/Cannot find native binding/);
  });

  it('loads a built addon', () => {
    const root = path.resolve(__dirname, '..', '..');
    expect(typeof loadAddon(root).openEngine).toBe('function');
  });
});
