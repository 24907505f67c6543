/**
 * Limits and restrictions for job containers, turned into the fields of
 * the Docker engine's container create request (`HostConfig` and `User`).
 *
 * Defaults keep ordinary shell and PowerShell scripts working: no new
 * privileges, not privileged, 1 GiB of memory without extra swap, one CPU,
 * 512 processes, the default bridge network, a writable root file system
 * and the image's user. Dropping every capability is off by default,
 * because it breaks `chown`, `ping` and package installs that switch users.
 * It also stops root in the container from reading files of another host
 * user, such as a certificate file of mode 0600 when the daemon is not root.
 *
 * @module
 */

/** Hardening settings, one field per `ContainerSettings` key. */
export interface ContainerHardening {
  /** `MemoryLimitMb`: memory limit in MiB, swap included; 0 turns it off. */
  memoryLimitMb: number;
  /** `CpuLimit`: CPUs the container may use, such as 0.5; 0 turns it off. */
  cpuLimit: number;
  /** `PidsLimit`: maximum processes and threads; 0 turns it off. */
  pidsLimit: number;
  /** `NetworkMode`: `bridge`, `none`, `host` or a network's name. */
  networkMode: string;
  /** `ReadOnlyRootFilesystem`: mount the image read-only, with a tmpfs at /tmp. */
  readOnlyRootFilesystem: boolean;
  /** `TmpfsSizeMb`: size of that tmpfs in MiB; it counts against the memory limit. */
  tmpfsSizeMb: number;
  /** `User`: `name`, `uid` or `uid:gid`; empty keeps the image's user. */
  user: string;
  /** `DropCapabilities`: drop every Linux capability. */
  dropCapabilities: boolean;
  /** `NoNewPrivileges`: forbid gaining privileges through setuid binaries. */
  noNewPrivileges: boolean;
}

/** The defaults of every `ContainerSettings` hardening key. */
export const DEFAULT_CONTAINER_HARDENING: Readonly<ContainerHardening> = Object
  .freeze({
    memoryLimitMb: 1024,
    cpuLimit: 1,
    pidsLimit: 512,
    networkMode: "bridge",
    readOnlyRootFilesystem: false,
    tmpfsSizeMb: 64,
    user: "",
    dropCapabilities: false,
    noNewPrivileges: true,
  });

/** Smallest memory limit the Docker engine accepts, in MiB (engine 20.10.24 rejects 5). */
export const MIN_MEMORY_LIMIT_MB = 6;

const MIB = 1024 * 1024;

/** The `HostConfig` fields that hardening sets, as the engine API names them. */
export interface HardeningHostConfig {
  Privileged: false;
  SecurityOpt: string[];
  /** Bytes. */
  Memory?: number;
  /** Bytes of memory plus swap; equal to `Memory`, so no swap is used. */
  MemorySwap?: number;
  /** CPUs times 10^9. */
  NanoCpus?: number;
  PidsLimit?: number;
  NetworkMode: string;
  ReadonlyRootfs: boolean;
  Tmpfs?: Record<string, string>;
  CapDrop?: string[];
}

function requireRange(
  name: string,
  value: number,
  options: { min: number; max: number; integer: boolean; unit: string },
): void {
  const { min, max, integer, unit } = options;
  const valid = value === 0 ||
    (Number.isFinite(value) && value >= min && value <= max &&
      (!integer || Number.isInteger(value)));
  if (!valid) {
    const kind = integer ? "a whole number" : "a number";
    throw new RangeError(
      `ContainerSettings:${name} "${value}" is invalid; expected 0 (off) or ` +
        `${kind} of ${unit} from ${min} to ${max}`,
    );
  }
}

/**
 * Checks hardening settings, so that the engine does not reject every
 * container later.
 *
 * @throws {RangeError} for a value out of range
 * @throws {TypeError} for a network mode or user with white space
 */
export function validateHardening(hardening: ContainerHardening): void {
  requireRange("MemoryLimitMb", hardening.memoryLimitMb, {
    min: MIN_MEMORY_LIMIT_MB,
    max: 1024 * 1024,
    integer: true,
    unit: "MiB",
  });
  requireRange("CpuLimit", hardening.cpuLimit, {
    min: 0.01,
    max: 1024,
    integer: false,
    unit: "CPUs",
  });
  requireRange("PidsLimit", hardening.pidsLimit, {
    min: 1,
    max: 4_194_304,
    integer: true,
    unit: "processes",
  });
  if (
    !Number.isInteger(hardening.tmpfsSizeMb) || hardening.tmpfsSizeMb < 1 ||
    hardening.tmpfsSizeMb > 65536
  ) {
    throw new RangeError(
      `ContainerSettings:TmpfsSizeMb "${hardening.tmpfsSizeMb}" is invalid; ` +
        `expected a whole number of MiB from 1 to 65536`,
    );
  }
  if (hardening.networkMode === "" || /\s/.test(hardening.networkMode)) {
    throw new TypeError(
      `ContainerSettings:NetworkMode "${hardening.networkMode}" is invalid; ` +
        `expected bridge, none, host or a network name without spaces`,
    );
  }
  if (
    hardening.user !== "" &&
    !/^[A-Za-z0-9_.-]+(?::[A-Za-z0-9_.-]+)?$/.test(hardening.user)
  ) {
    throw new TypeError(
      `ContainerSettings:User "${hardening.user}" is invalid; expected a ` +
        `name, uid or uid:gid without spaces, or empty for the image's user`,
    );
  }
}

/** Returns the memory limit in bytes, or null when it is off. */
export function memoryLimitBytes(hardening: ContainerHardening): number | null {
  return hardening.memoryLimitMb === 0 ? null : hardening.memoryLimitMb * MIB;
}

/**
 * Builds the `HostConfig` fields for a job container. Merge them with the
 * fields the backend sets itself (`Binds`, `AutoRemove`).
 *
 * @throws {RangeError | TypeError} as {@linkcode validateHardening}
 */
export function hardeningHostConfig(
  hardening: ContainerHardening,
): HardeningHostConfig {
  validateHardening(hardening);
  const config: HardeningHostConfig = {
    Privileged: false,
    SecurityOpt: hardening.noNewPrivileges ? ["no-new-privileges:true"] : [],
    NetworkMode: hardening.networkMode,
    ReadonlyRootfs: hardening.readOnlyRootFilesystem,
  };
  const memory = memoryLimitBytes(hardening);
  if (memory !== null) {
    config.Memory = memory;
    config.MemorySwap = memory;
  }
  if (hardening.cpuLimit !== 0) {
    config.NanoCpus = Math.round(hardening.cpuLimit * 1e9);
  }
  if (hardening.pidsLimit !== 0) config.PidsLimit = hardening.pidsLimit;
  if (hardening.readOnlyRootFilesystem) {
    // Scripts write temporary files; /tmp stays writable but cannot hold
    // setuid programs or device files.
    config.Tmpfs = {
      "/tmp": `rw,nosuid,nodev,mode=1777,size=${hardening.tmpfsSizeMb}m`,
    };
  }
  if (hardening.dropCapabilities) config.CapDrop = ["ALL"];
  return config;
}

/**
 * Builds the create-request fields for a job container: `HostConfig` and,
 * when a user is set, `User` (a field of the container, not of the host).
 */
export function hardeningContainerOptions(
  hardening: ContainerHardening,
): { User?: string; HostConfig: HardeningHostConfig } {
  const HostConfig = hardeningHostConfig(hardening);
  return hardening.user === ""
    ? { HostConfig }
    : { User: hardening.user, HostConfig };
}

/** Formats MiB for messages: `512 MiB`, `1 GiB`, `1.5 GiB`. */
function formatMib(mib: number): string {
  if (mib >= 1024) {
    const gib = mib / 1024;
    return `${Number.isInteger(gib) ? gib : gib.toFixed(1)} GiB`;
  }
  return `${Number.isInteger(mib) ? mib : mib.toFixed(1)} MiB`;
}

/** Returns one line for a debug log that lists the hardening in effect. */
export function describeHardening(hardening: ContainerHardening): string {
  const parts = [
    hardening.memoryLimitMb === 0
      ? "memory unlimited"
      : `memory ${formatMib(hardening.memoryLimitMb)} without swap`,
    hardening.cpuLimit === 0 ? "CPU unlimited" : `${hardening.cpuLimit} CPU`,
    hardening.pidsLimit === 0
      ? "processes unlimited"
      : `at most ${hardening.pidsLimit} processes`,
    `network ${hardening.networkMode}`,
    hardening.noNewPrivileges ? "no-new-privileges" : "new privileges allowed",
    hardening.readOnlyRootFilesystem
      ? `read-only root file system with ${
        formatMib(hardening.tmpfsSizeMb)
      } tmpfs at /tmp`
      : "writable root file system",
    hardening.user === "" ? "image's user" : `user ${hardening.user}`,
    hardening.dropCapabilities
      ? "all capabilities dropped"
      : "engine's default capabilities",
  ];
  return `Container hardening: ${parts.join(", ")}`;
}

/**
 * Returns the message for a container that the kernel killed for lack of
 * memory. `limitBytes` is the container's limit, or null when none was
 * set, in which case the host itself ran out of memory.
 */
export function memoryKillMessage(
  limitBytes: number | null,
  exitCode: number,
): string {
  if (limitBytes === null) {
    return `Container was killed because the host ran out of memory ` +
      `(exit code ${exitCode}); it had no memory limit, so set ` +
      `ContainerSettings:MemoryLimitMb to keep one job from starving the host`;
  }
  return `Container was killed for exceeding its memory limit of ` +
    `${formatMib(limitBytes / MIB)} (exit code ${exitCode}); raise ` +
    `ContainerSettings:MemoryLimitMb or lower the job's memory use`;
}
