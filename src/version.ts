import { readFileSync } from 'node:fs';

/** servelab's own version, read once from package.json (works from src/ and dist/). */
export const SERVELAB_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    return pkg.version;
  } catch {
    return '0.0.0-unknown';
  }
})();
