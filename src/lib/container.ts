// Whether this process runs in a container, and the address a neighbour outside it (Docker's host,
// a proxy in another container on the same bridge) reaches it from: the default route's gateway.
// A setting that is right on a host (HOST=127.0.0.1, loopback-only allow-lists) is wrong there.
import { existsSync, readFileSync } from 'node:fs';

/** Files container runtimes leave at the root: Docker's, and podman's (and CRI-O's). */
const MARKERS = ['/.dockerenv', '/run/.containerenv'];

/**
 * How we know, or null when nothing says so. `declared` is IN_CONTAINER (the image sets it to 1;
 * 0 says no whatever the markers say, e.g. a sidecar proxy that shares the network namespace);
 * `containerVariable` is systemd's `container=` convention (podman and systemd-nspawn set it).
 */
export function containerEvidence(declared: boolean | null, containerVariable: string | undefined, exists: (path: string) => boolean = existsSync): string | null {
  if (declared === false) return null;
  if (declared === true) return 'IN_CONTAINER=1';
  const marker = MARKERS.find((path) => exists(path));
  if (marker) return marker;
  return containerVariable ? `container=${containerVariable}` : null;
}

/**
 * The gateway of the default route in a /proc/net/route table, as a dotted IPv4 address; null when
 * there is none. The kernel writes each address as the hex of its 32 bits in the machine's byte
 * order, little-endian on x86 and arm64: "010011AC" is 172.17.0.1.
 */
export function defaultGateway(routeTable: string): string | null {
  for (const line of routeTable.split('\n').slice(1)) {
    const [, destination, gateway, flags, , , , mask] = line.trim().split(/\s+/);
    if (destination !== '00000000' || mask !== '00000000' || !gateway || !/^[0-9A-Fa-f]{8}$/.test(gateway)) continue;
    // RTF_UP (1) and RTF_GATEWAY (2): a live route through a gateway.
    if ((Number.parseInt(flags ?? '0', 16) & 3) !== 3) continue;
    const n = Number.parseInt(gateway, 16);
    return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join('.');
  }
  return null;
}

/** This machine's default gateway, from /proc/net/route; null where there is none (or no /proc). */
export function readDefaultGateway(path = '/proc/net/route'): string | null {
  try {
    return defaultGateway(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
}
