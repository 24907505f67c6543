import assert from "node:assert/strict";
// @ts-types="@types/sinonjs__fake-timers"
import FakeTimers from "@sinonjs/fake-timers";
import { configureSync, type LogRecord, resetSync } from "@logtape/logtape";
import {
  OutboxSender,
  type OutboxSenderOptions,
  type SendOutboxItem,
} from "../../src/state/outbox_sender.ts";
import {
  type OutboxItem,
  type PendingOutboxItem,
  StateStore,
} from "../../src/state/state_store.ts";

const JOB_A = "0d6f1a7e-8a34-4c57-9f0e-1b2c3d4e5f60";
const JOB_B = "7b1e9c42-3f5d-4e8a-a1b2-c3d4e5f60718";

type Clock = ReturnType<typeof FakeTimers.install>;

interface Fixture {
  store: StateStore;
  clock: Clock;
  records: LogRecord[];
}

/**
 * Runs a test with a store in a temporary directory, fake timers and a
 * LogTape sink that collects the sender's records.
 */
async function withFixture(test: (fixture: Fixture) => Promise<void>) {
  const directory = await Deno.makeTempDir({ prefix: "outbox_sender_test_" });
  const records: LogRecord[] = [];
  configureSync({
    reset: true,
    sinks: { test: (record) => records.push(record) },
    loggers: [
      {
        category: ["iam-orchestrator", "state"],
        sinks: ["test"],
        lowestLevel: "debug",
      },
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "warning" },
    ],
  });
  const clock = FakeTimers.install({
    toFake: ["setTimeout", "clearTimeout", "Date"],
  });
  const store = StateStore.open(directory);
  try {
    await test({ store, clock, records });
  } finally {
    store.close();
    clock.uninstall();
    resetSync();
    await Deno.remove(directory, { recursive: true });
  }
}

function logItem(jobId: string, message: string): OutboxItem {
  return {
    kind: "log",
    jobId,
    entry: { jobId, message, level: "Info", source: "container" },
  };
}

function enqueueSample(store: StateStore): number[] {
  return [
    store.enqueue(logItem(JOB_A, "a1")),
    store.enqueue(logItem(JOB_B, "b1")),
    store.enqueue(logItem(JOB_A, "a2")),
    store.enqueue({ kind: "status", jobId: JOB_A, status: "Completed" }),
    store.enqueue({ kind: "status", jobId: JOB_B, status: "Failed" }),
  ];
}

/** A send function that records each attempt and fails when `shouldFail`. */
function recordingSend(shouldFail: (item: PendingOutboxItem) => boolean) {
  const attempts: number[] = [];
  const delivered: PendingOutboxItem[] = [];
  const send: SendOutboxItem = (item) => {
    attempts.push(item.seq);
    if (shouldFail(item)) {
      return Promise.reject(new Error("IAM API returned 503"));
    }
    delivered.push(item);
    return Promise.resolve();
  };
  return { send, attempts, delivered };
}

function countLevel(records: LogRecord[], level: LogRecord["level"]) {
  return records.filter((record) => record.level === level).length;
}

const FIXED_DELAYS: OutboxSenderOptions = {
  baseDelayMs: 1000,
  maxDelayMs: 1000,
  random: () => 0.999,
};

Deno.test("OutboxSender sends items in sequence order", async () => {
  await withFixture(async ({ store }) => {
    const seqs = enqueueSample(store);
    const { send, delivered } = recordingSend(() => false);
    const sender = new OutboxSender(store, send);
    sender.start();

    assert.equal(await sender.drain({ deadlineMs: 10_000 }), true);
    assert.deepEqual(delivered.map((item) => item.seq), seqs);
    assert.equal(delivered[3].kind, "status");
    assert.equal(store.outboxDepth(), 0);
    await sender.stop();
  });
});

Deno.test("OutboxSender retries an item before later ones", async () => {
  await withFixture(async ({ store, clock }) => {
    const seqs = enqueueSample(store);
    let failuresLeft = 3;
    const { send, attempts, delivered } = recordingSend(() =>
      failuresLeft-- > 0
    );
    const sender = new OutboxSender(store, send, { random: () => 0.5 });
    sender.start();

    const drained = sender.drain({ deadlineMs: 60_000 });
    await clock.tickAsync(60_000);
    assert.equal(await drained, true);
    assert.deepEqual(attempts, [seqs[0], seqs[0], seqs[0], ...seqs]);
    assert.deepEqual(delivered.map((item) => item.seq), seqs);
    await sender.stop();
  });
});

Deno.test("OutboxSender waits the backoff delay", async () => {
  await withFixture(async ({ store, clock }) => {
    store.enqueue(logItem(JOB_A, "a1"));
    const { send, attempts } = recordingSend(() => true);
    const sender = new OutboxSender(store, send, {
      baseDelayMs: 1000,
      maxDelayMs: 3000,
      random: () => 0.5,
    });
    sender.start();
    await clock.tickAsync(0);
    assert.equal(attempts.length, 1);

    // Ceilings 1000, 2000, then capped at 3000. The sender waits half of each.
    for (const [delay, expected] of [[500, 2], [1000, 3], [1500, 4]]) {
      await clock.tickAsync(delay - 1);
      assert.equal(attempts.length, expected - 1);
      await clock.tickAsync(1);
      assert.equal(attempts.length, expected);
    }
    await sender.stop();
  });
});

Deno.test("OutboxSender rate-limits failure warnings", async () => {
  await withFixture(async ({ store, clock, records }) => {
    store.enqueue(logItem(JOB_A, "a1"));
    let apiDown = true;
    const { send, attempts } = recordingSend(() => apiDown);
    const sender = new OutboxSender(store, send, {
      ...FIXED_DELAYS,
      warnAfterFailures: 3,
      reminderIntervalMs: 60_000,
    });
    sender.start();

    // About 120 attempts, 999 ms apart: the first warning at the third
    // failure, one reminder a minute later.
    await clock.tickAsync(120_000);
    assert.ok(attempts.length > 100);
    assert.equal(countLevel(records, "warning"), 2);
    assert.equal(countLevel(records, "error"), 0);
    assert.equal(countLevel(records, "info"), 0);

    const warning = records.find((record) => record.level === "warning");
    assert.equal(warning?.properties.failures, 3);
    assert.equal(warning?.properties.jobId, JOB_A);
    assert.equal(warning?.properties.outboxDepth, 1);

    apiDown = false;
    await clock.tickAsync(1000);
    assert.equal(store.outboxDepth(), 0);
    assert.equal(countLevel(records, "info"), 1);

    store.enqueue(logItem(JOB_A, "a2"));
    sender.kick();
    assert.equal(await sender.drain({ deadlineMs: 1000 }), true);
    assert.equal(countLevel(records, "info"), 1);
    assert.equal(countLevel(records, "warning"), 2);
    await sender.stop();
  });
});

Deno.test("OutboxSender stays quiet below the warning threshold", async () => {
  await withFixture(async ({ store, clock, records }) => {
    store.enqueue(logItem(JOB_A, "a1"));
    let failuresLeft = 2;
    const { send } = recordingSend(() => failuresLeft-- > 0);
    const sender = new OutboxSender(store, send, {
      ...FIXED_DELAYS,
      warnAfterFailures: 3,
    });
    sender.start();

    await clock.tickAsync(5000);
    assert.equal(store.outboxDepth(), 0);
    assert.equal(countLevel(records, "warning"), 0);
    assert.equal(countLevel(records, "info"), 0);
    assert.equal(countLevel(records, "debug"), 2);
    await sender.stop();
  });
});

Deno.test("OutboxSender.drain returns false at the deadline", async () => {
  await withFixture(async ({ store, clock }) => {
    enqueueSample(store);
    const { send } = recordingSend(() => true);
    const sender = new OutboxSender(store, send, FIXED_DELAYS);

    const drained = sender.drain({ deadlineMs: 5000 });
    await clock.tickAsync(5000);
    assert.equal(await drained, false);
    assert.equal(store.outboxDepth(), 5);
    await sender.stop();
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("OutboxSender.drain retries at once during backoff", async () => {
  await withFixture(async ({ store, clock }) => {
    store.enqueue(logItem(JOB_A, "a1"));
    let apiDown = true;
    const { send, attempts } = recordingSend(() => apiDown);
    const sender = new OutboxSender(store, send, {
      ...FIXED_DELAYS,
      baseDelayMs: 30_000,
      maxDelayMs: 30_000,
    });
    sender.start();
    await clock.tickAsync(0);
    assert.equal(attempts.length, 1);

    apiDown = false;
    const drained = sender.drain({ deadlineMs: 1000 });
    await clock.tickAsync(0);
    assert.equal(attempts.length, 2);
    assert.equal(await drained, true);
    await sender.stop();
  });
});

Deno.test("OutboxSender.drain on an empty outbox returns true", async () => {
  await withFixture(async ({ store }) => {
    const { send, attempts } = recordingSend(() => false);
    const sender = new OutboxSender(store, send);
    assert.equal(await sender.drain({ deadlineMs: 1000 }), true);
    assert.equal(attempts.length, 0);
    await sender.stop();
  });
});

Deno.test("OutboxSender.kick wakes an idle sender", async () => {
  await withFixture(async ({ store, clock }) => {
    const { send, delivered } = recordingSend(() => false);
    const sender = new OutboxSender(store, send);
    sender.start();
    await clock.tickAsync(0);

    const seq = store.enqueue(logItem(JOB_A, "a1"));
    await clock.tickAsync(1000);
    assert.equal(delivered.length, 0);

    sender.kick();
    await clock.tickAsync(0);
    assert.deepEqual(delivered.map((item) => item.seq), [seq]);
    await sender.stop();
  });
});

Deno.test("OutboxSender.stop leaves no timers", async () => {
  await withFixture(async ({ store, clock }) => {
    store.enqueue(logItem(JOB_A, "a1"));
    const { send } = recordingSend(() => true);
    const sender = new OutboxSender(store, send, FIXED_DELAYS);
    sender.start();
    const drained = sender.drain({ deadlineMs: 60_000 });
    await clock.tickAsync(10);
    assert.ok(clock.countTimers() > 0);

    await sender.stop();
    assert.equal(clock.countTimers(), 0);
    assert.equal(await drained, false);
    assert.equal(store.outboxDepth(), 1);

    // A stopped sender ignores start and kick.
    sender.start();
    sender.kick();
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("OutboxSender.stop aborts the send in flight", async () => {
  await withFixture(async ({ store, clock }) => {
    store.enqueue(logItem(JOB_A, "a1"));
    let aborted = false;
    const send: SendOutboxItem = (_item, { signal }) =>
      new Promise((_resolve, reject) => {
        signal.addEventListener("abort", () => {
          aborted = true;
          reject(signal.reason);
        });
      });
    const sender = new OutboxSender(store, send);
    sender.start();
    await clock.tickAsync(0);

    await sender.stop();
    assert.equal(aborted, true);
    assert.equal(store.outboxDepth(), 1);
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("OutboxSender acknowledges a send that ends after stop", async () => {
  await withFixture(async ({ store, clock }) => {
    store.enqueue(logItem(JOB_A, "a1"));
    let finishSend = () => {};
    const send: SendOutboxItem = () =>
      new Promise((resolve) => {
        finishSend = resolve;
      });
    const sender = new OutboxSender(store, send);
    sender.start();
    await clock.tickAsync(0);

    const stopped = sender.stop();
    finishSend();
    await stopped;
    assert.equal(store.outboxDepth(), 0);
  });
});

class RejectedItemError extends Error {}

Deno.test("OutboxSender drops a permanently rejected item", async () => {
  await withFixture(async ({ store, records }) => {
    const rejected = store.enqueue(logItem(JOB_A, "malformed"));
    const accepted = store.enqueue(logItem(JOB_A, "fine"));
    const delivered: number[] = [];
    const send: SendOutboxItem = (item) => {
      if (item.seq === rejected) {
        return Promise.reject(new RejectedItemError("400 Bad Request"));
      }
      delivered.push(item.seq);
      return Promise.resolve();
    };
    const sender = new OutboxSender(store, send, {
      isPermanentFailure: (error) => error instanceof RejectedItemError,
    });

    assert.equal(await sender.drain({ deadlineMs: 1000 }), true);
    assert.deepEqual(delivered, [accepted]);
    assert.equal(countLevel(records, "error"), 1);
    await sender.stop();
  });
});

Deno.test("OutboxSender rejects invalid options", () => {
  const source = {
    pending: () => [],
    acknowledge: () => true,
    outboxDepth: () => 0,
  };
  const send: SendOutboxItem = () => Promise.resolve();
  const invalid: OutboxSenderOptions[] = [
    { baseDelayMs: -1 },
    { maxDelayMs: Number.NaN },
    { reminderIntervalMs: Number.POSITIVE_INFINITY },
    { warnAfterFailures: 0 },
  ];
  for (const options of invalid) {
    assert.throws(() => new OutboxSender(source, send, options), RangeError);
  }
});

// Real timers: the test sanitizers fail the test if a timer outlives it.
Deno.test("OutboxSender with real timers leaves none behind", async () => {
  const directory = await Deno.makeTempDir({ prefix: "outbox_sender_test_" });
  const store = StateStore.open(directory);
  try {
    const seqs = enqueueSample(store);
    let failuresLeft = 2;
    const { send, delivered } = recordingSend(() => failuresLeft-- > 0);
    const sender = new OutboxSender(store, send, {
      baseDelayMs: 1,
      maxDelayMs: 2,
    });
    sender.start();
    assert.equal(await sender.drain({ deadlineMs: 60_000 }), true);
    assert.deepEqual(delivered.map((item) => item.seq), seqs);
    await sender.stop();
  } finally {
    store.close();
    await Deno.remove(directory, { recursive: true });
  }
});
