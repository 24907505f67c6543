import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { MIGRATIONS, SCHEMA_VERSION } from "../../src/state/migrations.ts";
import {
  type OutboxItem,
  StateStore,
  StateStoreError,
} from "../../src/state/state_store.ts";
import type { LogEntry } from "../../src/iam_api/job.ts";

const JOB_A = "0d6f1a7e-8a34-4c57-9f0e-1b2c3d4e5f60";
const JOB_B = "7b1e9c42-3f5d-4e8a-a1b2-c3d4e5f60718";

async function withTempDir(test: (directory: string) => void | Promise<void>) {
  const directory = await Deno.makeTempDir({ prefix: "state_store_test_" });
  try {
    await test(directory);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
}

function logEntry(jobId: string, message: string): LogEntry {
  return { jobId, message, level: "Info", source: "container" };
}

function logItem(jobId: string, message: string): OutboxItem {
  return { kind: "log", jobId, entry: logEntry(jobId, message) };
}

/** Opens the database file directly, to inspect or damage it. */
function rawDatabase(directory: string): DatabaseSync {
  return new DatabaseSync(join(directory, "orchestrator.db"));
}

function countRows(directory: string, table: string): number {
  const database = rawDatabase(directory);
  try {
    const row = database.prepare(`SELECT count(*) AS n FROM ${table}`).get();
    return Number(row?.n);
  } finally {
    database.close();
  }
}

// --- Opening and schema ----------------------------------------------------

Deno.test("StateStore.open creates directory and schema", async () => {
  await withTempDir((parent) => {
    const directory = join(parent, "nested", "state");
    const store = StateStore.open(directory);
    store.close();

    const info = Deno.statSync(directory);
    assert.ok(info.isDirectory);
    if (Deno.build.os !== "windows") {
      assert.equal(info.mode! & 0o777, 0o700);
      const fileMode = Deno.statSync(join(directory, "orchestrator.db")).mode!;
      assert.equal(fileMode & 0o777, 0o600);
    }

    const database = rawDatabase(directory);
    const version = database.prepare("PRAGMA user_version").get();
    const journal = database.prepare("PRAGMA journal_mode").get();
    database.close();
    assert.equal(version?.user_version, SCHEMA_VERSION);
    assert.equal(journal?.journal_mode, "wal");
  });
});

Deno.test("StateStore.open migrates an empty file", async () => {
  await withTempDir((directory) => {
    Deno.writeFileSync(join(directory, "orchestrator.db"), new Uint8Array());
    const store = StateStore.open(directory);
    assert.equal(store.outboxDepth(), 0);
    assert.deepEqual(store.listSchedules(), []);
    store.close();
  });
});

Deno.test("StateStore.open keeps data and id on reopen", async () => {
  await withTempDir((directory) => {
    const first = StateStore.open(directory);
    const id = first.orchestratorId();
    first.recordFinished(JOB_A, {
      status: "Completed",
      finishedAt: new Date("2024-05-01T10:00:00Z"),
    });
    first.close();

    const second = StateStore.open(directory);
    assert.equal(second.orchestratorId(), id);
    assert.deepEqual(second.finishedJob(JOB_A), {
      status: "Completed",
      finishedAt: new Date("2024-05-01T10:00:00Z"),
    });
    second.close();
  });
});

Deno.test("StateStore.orchestratorId generates a UUID", async () => {
  await withTempDir((directory) => {
    const store = StateStore.open(directory);
    assert.match(
      store.orchestratorId(),
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    store.close();
  });
});

Deno.test("StateStore.orchestratorId stores an explicit id", async () => {
  await withTempDir((directory) => {
    StateStore.open(directory).close();
    const explicit = StateStore.open(directory, { orchestratorId: "node-7" });
    assert.equal(explicit.orchestratorId(), "node-7");
    explicit.close();

    const reopened = StateStore.open(directory);
    assert.equal(reopened.orchestratorId(), "node-7");
    reopened.close();
  });
});

Deno.test("StateStore.open rejects an empty orchestratorId", async () => {
  await withTempDir((directory) => {
    assert.throws(
      () => StateStore.open(directory, { orchestratorId: " " }),
      TypeError,
    );
  });
});

Deno.test("StateStore.open rejects a newer schema version", async () => {
  await withTempDir((directory) => {
    StateStore.open(directory).close();
    const database = rawDatabase(directory);
    database.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    database.close();

    assert.throws(
      () => StateStore.open(directory),
      (error) => {
        assert.ok(error instanceof StateStoreError);
        assert.ok(error.message.includes(join(directory, "orchestrator.db")));
        assert.ok(error.message.includes(`version ${SCHEMA_VERSION + 1}`));
        return true;
      },
    );
  });
});

Deno.test("StateStore.open rejects a file of garbage bytes", async () => {
  await withTempDir((directory) => {
    const path = join(directory, "orchestrator.db");
    const garbage = new Uint8Array(8192);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 131 + 7) % 256;
    Deno.writeFileSync(path, garbage);

    assert.throws(
      () => StateStore.open(directory),
      (error) => {
        assert.ok(error instanceof StateStoreError);
        assert.ok(error.message.includes(`"${path}"`));
        assert.ok(error.message.includes("not a SQLite database"));
        assert.ok(error.message.includes("Move it aside"));
        assert.ok(error.cause instanceof Error);
        return true;
      },
    );
  });
});

Deno.test("StateStore.open rejects a file with damaged pages", async () => {
  await withTempDir((directory) => {
    const store = StateStore.open(directory);
    for (let i = 0; i < 2000; i++) {
      store.enqueue({ kind: "status", jobId: `job-${i}`, status: "Running" });
    }
    store.close();

    // Closing checkpoints the WAL, so every page is in the main file. Pages
    // 4 and 5 (of 4096 bytes) lie past the header and schema page.
    const path = join(directory, "orchestrator.db");
    const bytes = Deno.readFileSync(path);
    assert.ok(bytes.length > 4096 * 5);
    for (let i = 4096 * 3; i < 4096 * 5; i++) bytes[i] = (i * 7919) & 0xff;
    Deno.writeFileSync(path, bytes);

    assert.throws(
      () => StateStore.open(directory),
      (error) => {
        assert.ok(error instanceof StateStoreError);
        assert.ok(error.message.includes(`"${path}"`));
        assert.ok(error.message.includes("corrupt"));
        return true;
      },
    );
  });
});

Deno.test("StateStore.open rejects a file as directory", async () => {
  await withTempDir((directory) => {
    const path = join(directory, "not-a-directory");
    Deno.writeTextFileSync(path, "");
    assert.throws(
      () => StateStore.open(path),
      (error) => {
        assert.ok(error instanceof StateStoreError);
        assert.ok(error.message.includes(`"${path}"`));
        return true;
      },
    );
  });
});

// The test task grants write access to /tmp and the Docker socket only, so
// these directories, outside both, can never be written. Each test skips
// only when it runs with broader permissions than that.
const NEW_DIRECTORY = "/var/lib/iam-orchestrator-test-not-writable";
const EXISTING_DIRECTORY = "/var/lib";

function writable(path: string): boolean {
  return Deno.permissions.querySync({ name: "write", path }).state ===
    "granted";
}

Deno.test({
  name: "StateStore.open names the --allow-write flag",
  ignore: writable(NEW_DIRECTORY),
  fn: () => {
    assert.throws(
      () => StateStore.open(NEW_DIRECTORY),
      (error) => {
        assert.ok(error instanceof StateStoreError);
        assert.ok(error.message.includes(`--allow-write=${NEW_DIRECTORY}`));
        assert.ok(error.cause instanceof Deno.errors.NotCapable);
        return true;
      },
    );
  },
});

Deno.test({
  name: "StateStore.open names the flag for an existing directory",
  ignore: writable(EXISTING_DIRECTORY),
  fn: () => {
    assert.throws(
      () => StateStore.open(EXISTING_DIRECTORY),
      (error) => {
        assert.ok(error instanceof StateStoreError);
        assert.ok(
          error.message.includes(`--allow-write=${EXISTING_DIRECTORY}`),
        );
        return true;
      },
    );
  },
});

Deno.test("StateStore.open rejects invalid maxFinishedJobs", async () => {
  await withTempDir((directory) => {
    for (const maxFinishedJobs of [0, -1, 1.5, Number.NaN]) {
      assert.throws(
        () => StateStore.open(directory, { maxFinishedJobs }),
        RangeError,
      );
    }
  });
});

Deno.test("StateStore methods throw after close", async () => {
  await withTempDir((directory) => {
    const store = StateStore.open(directory);
    store.close();
    store.close();
    assert.throws(() => store.outboxDepth());
  });
});

// --- Finished jobs ---------------------------------------------------------

Deno.test("StateStore finished jobs record, replace and forget", async () => {
  await withTempDir((directory) => {
    const store = StateStore.open(directory);
    assert.equal(store.finishedJob(JOB_A), null);

    store.recordFinished(JOB_A, {
      status: "Failed",
      finishedAt: new Date(1000),
    });
    store.recordFinished(JOB_A, {
      status: "Completed",
      finishedAt: new Date(2000),
    });
    assert.deepEqual(store.finishedJob(JOB_A), {
      status: "Completed",
      finishedAt: new Date(2000),
    });

    store.forgetFinished(JOB_A);
    assert.equal(store.finishedJob(JOB_A), null);
    store.close();
  });
});

Deno.test("StateStore.recordFinished rejects invalid input", async () => {
  await withTempDir((directory) => {
    const store = StateStore.open(directory);
    assert.throws(
      () =>
        store.recordFinished(JOB_A, {
          status: "Running" as "Completed",
          finishedAt: new Date(),
        }),
      TypeError,
    );
    assert.throws(
      () =>
        store.recordFinished(JOB_A, {
          status: "Completed",
          finishedAt: new Date(Number.NaN),
        }),
      TypeError,
    );
    assert.throws(
      () =>
        store.recordFinished("", {
          status: "Completed",
          finishedAt: new Date(),
        }),
      TypeError,
    );
    store.close();
  });
});

Deno.test("StateStore prunes the oldest finished jobs", async () => {
  await withTempDir((directory) => {
    const store = StateStore.open(directory, { maxFinishedJobs: 10 });
    // Insertion order differs from time order: pruning goes by finishedAt.
    const minutes = Array.from({ length: 100 }, (_, i) => (i * 37) % 100);
    for (const minute of minutes) {
      store.recordFinished(`job-${minute}`, {
        status: "Completed",
        finishedAt: new Date(Date.UTC(2024, 0, 1, 0, minute)),
      });
    }

    assert.equal(countRows(directory, "finished_jobs"), 10);
    for (let minute = 90; minute < 100; minute++) {
      assert.notEqual(store.finishedJob(`job-${minute}`), null);
    }
    assert.equal(store.finishedJob("job-89"), null);
    assert.equal(store.finishedJob("job-0"), null);
    store.close();
  });
});

Deno.test("StateStore.open prunes to a lower maxFinishedJobs", async () => {
  await withTempDir((directory) => {
    const store = StateStore.open(directory);
    for (let i = 0; i < 20; i++) {
      store.recordFinished(`job-${i}`, {
        status: "Failed",
        finishedAt: new Date(i * 1000),
      });
    }
    store.close();

    const smaller = StateStore.open(directory, { maxFinishedJobs: 5 });
    assert.equal(countRows(directory, "finished_jobs"), 5);
    assert.notEqual(smaller.finishedJob("job-19"), null);
    assert.equal(smaller.finishedJob("job-14"), null);
    smaller.close();
  });
});

// --- Running jobs ----------------------------------------------------------

Deno.test("StateStore running jobs record, list and remove", async () => {
  await withTempDir((directory) => {
    const store = StateStore.open(directory);
    store.recordRunning({
      jobId: JOB_B,
      containerId: "c-b",
      startedAt: new Date(2000),
      jobJson: '{"id":"b"}',
    });
    store.recordRunning({
      jobId: JOB_A,
      containerId: "c-a",
      startedAt: new Date(1000),
      jobJson: '{"id":"a"}',
    });
    assert.deepEqual(store.runningJobs(), [
      {
        jobId: JOB_A,
        containerId: "c-a",
        startedAt: new Date(1000),
        jobJson: '{"id":"a"}',
      },
      {
        jobId: JOB_B,
        containerId: "c-b",
        startedAt: new Date(2000),
        jobJson: '{"id":"b"}',
      },
    ]);

    store.removeRunning(JOB_A);
    assert.deepEqual(store.runningJobs().map((job) => job.jobId), [JOB_B]);
    store.close();
  });
});

Deno.test("StateStore log progress saves and reads", async () => {
  await withTempDir((directory) => {
    const store = StateStore.open(directory);
    assert.equal(store.logProgress(JOB_A), null);

    store.saveLogProgress(JOB_A, { stdoutLines: 10, stderrLines: 0 });
    assert.deepEqual(store.logProgress(JOB_A), {
      stdoutLines: 10,
      stderrLines: 0,
    });

    store.saveLogProgress(JOB_A, {
      stdoutLines: 2048,
      stderrLines: 17,
      lastTimestamp: "2024-05-01T10:00:00.123456789Z",
    });
    assert.deepEqual(store.logProgress(JOB_A), {
      stdoutLines: 2048,
      stderrLines: 17,
      lastTimestamp: "2024-05-01T10:00:00.123456789Z",
    });

    assert.throws(
      () => store.saveLogProgress(JOB_A, { stdoutLines: -1, stderrLines: 0 }),
      RangeError,
    );
    store.close();
  });
});

Deno.test("StateStore.removeRunning removes log progress", async () => {
  await withTempDir((directory) => {
    const store = StateStore.open(directory);
    store.recordRunning({
      jobId: JOB_A,
      containerId: "c-a",
      startedAt: new Date(1000),
      jobJson: "{}",
    });
    store.saveLogProgress(JOB_A, { stdoutLines: 5, stderrLines: 6 });
    store.removeRunning(JOB_A);
    assert.equal(store.logProgress(JOB_A), null);
    assert.deepEqual(store.runningJobs(), []);
    store.close();
  });
});

// --- Schedules -------------------------------------------------------------

Deno.test("StateStore schedules upsert, delete and list", async () => {
  await withTempDir((directory) => {
    const store = StateStore.open(directory);
    store.saveSchedule({
      jobId: JOB_B,
      expression: "0 3 * * *",
      timeZone: "Europe/Berlin",
      lastFireAt: null,
    });
    store.saveSchedule({
      jobId: JOB_A,
      expression: "*/5 * * * *",
      timeZone: "UTC",
      lastFireAt: new Date("2024-05-01T10:05:00Z"),
    });
    store.saveSchedule({
      jobId: JOB_B,
      expression: "0 4 * * *",
      timeZone: "Europe/Berlin",
      lastFireAt: new Date("2024-05-01T02:00:00Z"),
    });

    assert.deepEqual(store.listSchedules(), [
      {
        jobId: JOB_A,
        expression: "*/5 * * * *",
        timeZone: "UTC",
        lastFireAt: new Date("2024-05-01T10:05:00Z"),
      },
      {
        jobId: JOB_B,
        expression: "0 4 * * *",
        timeZone: "Europe/Berlin",
        lastFireAt: new Date("2024-05-01T02:00:00Z"),
      },
    ]);

    store.deleteSchedule(JOB_A);
    store.deleteSchedule("not-scheduled");
    assert.deepEqual(store.listSchedules().map((s) => s.jobId), [JOB_B]);
    store.close();
  });
});

Deno.test("StateStore schedules survive reopen with null", async () => {
  await withTempDir((directory) => {
    const store = StateStore.open(directory);
    store.saveSchedule({
      jobId: JOB_A,
      expression: "0 * * * *",
      timeZone: "UTC",
      lastFireAt: null,
    });
    store.close();

    const reopened = StateStore.open(directory);
    assert.deepEqual(reopened.listSchedules(), [
      {
        jobId: JOB_A,
        expression: "0 * * * *",
        timeZone: "UTC",
        lastFireAt: null,
      },
    ]);
    reopened.close();
  });
});

// --- Outbox ----------------------------------------------------------------

Deno.test("StateStore outbox keeps order across kinds and jobs", async () => {
  await withTempDir((directory) => {
    const store = StateStore.open(directory);
    const items: OutboxItem[] = [
      logItem(JOB_A, "a1"),
      logItem(JOB_B, "b1"),
      { kind: "status", jobId: JOB_B, status: "Running" },
      logItem(JOB_A, "a2"),
      { kind: "status", jobId: JOB_A, status: "Completed" },
      logItem(JOB_B, "b2"),
      { kind: "status", jobId: JOB_B, status: "Failed" },
    ];
    const seqs = items.map((item) => store.enqueue(item));
    for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1]);

    const pending = store.pending(100);
    assert.deepEqual(pending.map(({ seq }) => seq), seqs);
    assert.deepEqual(pending.map(({ seq: _, ...item }) => item), items);
    assert.deepEqual(store.pending(2).map(({ seq }) => seq), seqs.slice(0, 2));

    assert.deepEqual(store.pendingForJob(JOB_A), [
      { seq: seqs[0], ...items[0] },
      { seq: seqs[3], ...items[3] },
      { seq: seqs[4], ...items[4] },
    ]);
    assert.equal(store.outboxDepth(), 7);
    store.close();
  });
});

Deno.test("StateStore.acknowledge removes one item", async () => {
  await withTempDir((directory) => {
    const store = StateStore.open(directory);
    const first = store.enqueue(logItem(JOB_A, "one"));
    const second = store.enqueue(logItem(JOB_A, "two"));

    assert.equal(store.acknowledge(first), true);
    assert.equal(store.acknowledge(first), false);
    assert.equal(store.outboxDepth(), 1);
    assert.deepEqual(store.pending(10).map(({ seq }) => seq), [second]);
    store.close();
  });
});

Deno.test("StateStore sequence numbers are not reused", async () => {
  await withTempDir((directory) => {
    const store = StateStore.open(directory);
    const first = store.enqueue(logItem(JOB_A, "one"));
    store.acknowledge(first);
    store.close();

    const reopened = StateStore.open(directory);
    const second = reopened.enqueue(logItem(JOB_A, "two"));
    assert.ok(second > first);
    reopened.close();
  });
});

Deno.test("StateStore.enqueueMany stores all or none", async () => {
  await withTempDir((directory) => {
    const store = StateStore.open(directory);
    const seqs = store.enqueueMany([
      logItem(JOB_A, "one"),
      { kind: "status", jobId: JOB_A, status: "Completed" },
    ]);
    assert.equal(seqs.length, 2);
    assert.ok(seqs[1] > seqs[0]);

    const invalid = {
      kind: "status",
      jobId: JOB_B,
      status: "Done",
    } as unknown as OutboxItem;
    assert.throws(
      () => store.enqueueMany([logItem(JOB_B, "lost"), invalid]),
      TypeError,
    );
    assert.equal(store.outboxDepth(), 2);
    assert.deepEqual(store.pendingForJob(JOB_B), []);
    store.close();
  });
});

Deno.test("StateStore.enqueue rejects an entry of another job", async () => {
  await withTempDir((directory) => {
    const store = StateStore.open(directory);
    assert.throws(
      () =>
        store.enqueue({
          kind: "log",
          jobId: JOB_A,
          entry: logEntry(JOB_B, "x"),
        }),
      TypeError,
    );
    assert.throws(() => store.pending(0), RangeError);
    assert.equal(store.outboxDepth(), 0);
    store.close();
  });
});

Deno.test("StateStore keeps pending items after a crash", async () => {
  await withTempDir((directory) => {
    // The first store is never closed, as when the process dies.
    const crashed = StateStore.open(directory);
    const seq = crashed.enqueue(logItem(JOB_A, "last words"));
    crashed.enqueue({ kind: "status", jobId: JOB_A, status: "Failed" });

    const restarted = StateStore.open(directory);
    const pending = restarted.pending(10);
    assert.equal(pending.length, 2);
    assert.deepEqual(pending[0], { seq, ...logItem(JOB_A, "last words") });
    assert.equal(pending[1].kind, "status");
    restarted.close();
    crashed.close();
  });
});

Deno.test("StateStore.enqueueContainerLog counts lines per stream", async () => {
  const directory = await Deno.makeTempDir();
  const store = StateStore.open(directory);
  try {
    const entry = (message: string, level: "Info" | "Error") => ({
      kind: "log" as const,
      jobId: "job-lines",
      entry: {
        jobId: "job-lines",
        message,
        level,
        source: "container" as const,
      },
    });
    store.enqueueContainerLog(entry("a\nb\nc", "Info"), "stdout");
    store.enqueueContainerLog(entry("oops", "Error"), "stderr");
    store.enqueueContainerLog(entry("d", "Info"), "stdout");
    assert.deepEqual(store.logProgress("job-lines"), {
      stdoutLines: 4,
      stderrLines: 1,
    });
    assert.equal(store.pendingForJob("job-lines").length, 3);
  } finally {
    store.close();
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("StateStore migrates log progress to line counts", async () => {
  const directory = await Deno.makeTempDir();
  try {
    // A database as the first schema version left it.
    const database = new DatabaseSync(join(directory, "orchestrator.db"));
    database.exec(MIGRATIONS[0].sql);
    database.exec("PRAGMA user_version = 1");
    database.exec(
      "INSERT INTO log_progress (job_id, stdout_bytes, stderr_bytes) " +
        "VALUES ('job-old', 7, 2)",
    );
    database.close();
    const store = StateStore.open(directory);
    assert.deepEqual(store.logProgress("job-old"), {
      stdoutLines: 7,
      stderrLines: 2,
    });
    store.close();
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});
