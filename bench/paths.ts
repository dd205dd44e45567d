/** Paths of the repository, the same from bench/*.ts (ts-jest) and dist/bench/*.js. */
import * as fs from 'fs';
import * as path from 'path';

function findRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      const name = (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name;
      if (name === 'tasker-node') return dir;
    }
    if (path.dirname(dir) === dir) {
      throw new Error(`no tasker-node package.json above ${from}`);
    }
  }
}

export const ROOT = findRoot(__dirname);
export const TEMPLATES = path.join(ROOT, 'bench', 'templates');
export const DEFAULT_RESULTS = path.join(ROOT, 'bench-results', 'latest.json');
/** The compiled child entry point (the parent always forks the built JavaScript). */
export const CHILD = path.join(ROOT, 'dist', 'bench', 'child.js');
