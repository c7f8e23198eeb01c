// Which `docker` the container tests run: the real one when `docker info` answers; otherwise
// ../shared/container/bin/docker (podman behind the same command lines), put first on PATH.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../support/server.ts';

const shared = join(ROOT, '..', 'shared', 'container', 'bin');
/** A real Docker engine answers (else podman stands in, with its own workarounds). */
export const dockerAnswers = spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0;
if (!dockerAnswers && !existsSync(join(shared, 'docker'))) {
  throw new Error(`no Docker engine answers and there is no ${shared}/docker to stand in for it`);
}

/** The environment every docker (or podman) command of these tests runs with. */
export const DOCKER_ENV: NodeJS.ProcessEnv = { ...process.env, PATH: dockerAnswers ? process.env.PATH : `${shared}:${process.env.PATH}` };

/** A docker (or podman) command's output, trimmed; its failure throws with what it printed. */
export const docker = (...args: string[]): string => execFileSync('docker', args, { env: DOCKER_ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
