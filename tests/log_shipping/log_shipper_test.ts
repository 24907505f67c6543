import assert from "node:assert/strict";
// @ts-types="@types/sinonjs__fake-timers"
import FakeTimers from "@sinonjs/fake-timers";
import type { LogEntry, LogLevel } from "../../src/iam_api/job.ts";
import {
  LogShipper,
  type LogShipperOptions,
  type LogSink,
} from "../../src/log_shipping/log_shipper.ts";

type Clock = FakeTimers.InstalledClock;

/** A sink that fails its first `failures` calls and records what it got. */
class FakeSink implements LogSink {
  entries: LogEntry[] = [];
  calls = 0;
  inFlight = 0;
  maxInFlight = 0;
  attemptTimes: number[] = [];
  failureTimes: number[] = [];
  failures: number;
  latencyMs: number;

  constructor(options: { failures?: number; latencyMs?: number } = {}) {
    this.failures = options.failures ?? 0;
    this.latencyMs = options.latencyMs ?? 5;
  }

  async send(entry: LogEntry): Promise<void> {
    this.calls++;
    this.attemptTimes.push(Date.now());
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
      if (this.failures > 0) {
        this.failures--;
        this.failureTimes.push(Date.now());
        throw new Error("IAM API unavailable");
      }
      this.entries.push({ ...entry });
    } finally {
      this.inFlight--;
    }
  }

  /** Returns every line received, with the level and source of its entry. */
  lines(): { text: string; level: LogLevel; source: string }[] {
    return this.entries.flatMap((entry) =>
      entry.message.split("\n").map((text) => ({
        text,
        level: entry.level,
        source: entry.source,
      }))
    );
  }
}

const JOB_ID = "0b6f3c1e-2d4a-4f8e-9c3b-5a7d1e2f3a4b";

async function withSetup(
  test: (clock: Clock, directory: string) => Promise<void>,
): Promise<void> {
  const directory = await Deno.makeTempDir({ prefix: "log-shipper-test-" });
  const clock = FakeTimers.install({
    toFake: ["setTimeout", "clearTimeout", "Date"],
    loopLimit: 1_000_000,
  });
  try {
    await test(clock, directory);
  } finally {
    clock.uninstall();
    await Deno.remove(directory, { recursive: true });
  }
}

function createShipper(
  sink: LogSink,
  directory: string,
  options: Partial<LogShipperOptions> = {},
): LogShipper {
  return new LogShipper(JOB_ID, sink, {
    spoolDirectory: directory,
    ...options,
  });
}

/** Closes the shipper while running the fake clock until it is idle. */
async function closeAndRun(
  shipper: LogShipper,
  clock: Clock,
  deadlineMs?: number,
): Promise<number> {
  const closed = shipper.close({ deadlineMs });
  await clock.runAllAsync();
  return await closed;
}

function filesIn(directory: string): string[] {
  return [...Deno.readDirSync(directory)].map((entry) => entry.name);
}

Deno.test("LogShipper keeps order across levels through failures", async () => {
  await withSetup(async (clock, directory) => {
    const sink = new FakeSink({ failures: 5 });
    const shipper = createShipper(sink, directory);
    const levelOf = (index: number): LogLevel =>
      Math.floor(index / 37) % 2 === 0 ? "Info" : "Error";
    for (let index = 0; index < 10_000; index++) {
      shipper.append(`line ${index}`, levelOf(index));
      if (index % 1000 === 999) await clock.tickAsync(100);
    }
    assert.equal(await closeAndRun(shipper, clock), 0);

    const lines = sink.lines();
    assert.equal(lines.length, 10_000);
    for (let index = 0; index < 10_000; index++) {
      assert.equal(lines[index].text, `line ${index}`);
      assert.equal(lines[index].level, levelOf(index), `line ${index}`);
      assert.equal(lines[index].source, "container");
    }
    for (const entry of sink.entries) assert.equal(entry.jobId, JOB_ID);
    assert.equal(sink.maxInFlight, 1);
    assert.equal(shipper.stats.sendFailures, 5);
    assert.equal(shipper.stats.linesShipped, 10_000);
    assert.equal(shipper.stats.linesDropped, 0);
    assert.equal(shipper.stats.linesPending, 0);
  });
});

Deno.test("LogShipper sends three entries for three runs", async () => {
  await withSetup(async (clock, directory) => {
    const sink = new FakeSink();
    const shipper = createShipper(sink, directory);
    shipper.append("out 1", "Info");
    shipper.append("err 1", "Error");
    shipper.append("out 2", "Info");
    await closeAndRun(shipper, clock);
    assert.deepEqual(
      sink.entries.map((entry) => [entry.level, entry.message]),
      [["Info", "out 1"], ["Error", "err 1"], ["Info", "out 2"]],
    );
  });
});

Deno.test("LogShipper coalesces up to maxEntryBytes", async () => {
  await withSetup(async (clock, directory) => {
    const sink = new FakeSink();
    const shipper = createShipper(sink, directory, { maxEntryBytes: 1000 });
    for (let index = 0; index < 50; index++) {
      shipper.append(String(index).padStart(100, "a"), "Info");
    }
    shipper.append("b".repeat(1500), "Info");
    shipper.append("last", "Info");
    await closeAndRun(shipper, clock);

    const sizes = sink.entries.map((entry) => entry.message.split("\n").length);
    // Nine lines of 100 bytes and their eight separators make 908 bytes.
    assert.deepEqual(sizes, [9, 9, 9, 9, 9, 5, 1, 1]);
    for (const entry of sink.entries.slice(0, 6)) {
      assert.ok(new TextEncoder().encode(entry.message).length <= 1000);
    }
    assert.equal(sink.entries[6].message, "b".repeat(1500));
    assert.equal(sink.lines().length, 52);
  });
});

Deno.test("LogShipper waits flushIntervalMs before sending", async () => {
  await withSetup(async (clock, directory) => {
    const sink = new FakeSink();
    const shipper = createShipper(sink, directory, { flushIntervalMs: 200 });
    shipper.append("a", "Info");
    await clock.tickAsync(199);
    assert.equal(sink.calls, 0);
    shipper.append("b", "Info");
    await clock.tickAsync(1);
    assert.equal(sink.calls, 1);
    await closeAndRun(shipper, clock);
    assert.deepEqual(sink.entries.map((entry) => entry.message), ["a\nb"]);
  });
});

Deno.test("LogShipper sends at once when the level changes", async () => {
  await withSetup(async (clock, directory) => {
    const sink = new FakeSink();
    const shipper = createShipper(sink, directory);
    shipper.append("out", "Info");
    assert.equal(sink.calls, 0);
    shipper.append("err", "Error");
    assert.equal(sink.calls, 1);
    await closeAndRun(shipper, clock);
    assert.equal(sink.entries.length, 2);
  });
});

Deno.test("LogShipper backs off exponentially with jitter", async () => {
  await withSetup(async (clock, directory) => {
    const sink = new FakeSink({ failures: 8 });
    const shipper = createShipper(sink, directory, { random: () => 0.5 });
    shipper.append("x", "Info");
    await closeAndRun(shipper, clock);
    const gaps = sink.failureTimes.map((time, index) =>
      sink.attemptTimes[index + 1] - time
    );
    // Half of min(10 s, 250 ms * 2 ** (failures - 1)).
    assert.deepEqual(gaps, [125, 250, 500, 1000, 2000, 4000, 5000, 5000]);
    assert.equal(shipper.stats.sendFailures, 8);
    assert.equal(sink.entries.length, 1);
  });
});

Deno.test("LogShipper reports lines over maxJobLogBytes", async () => {
  await withSetup(async (clock, directory) => {
    const sink = new FakeSink();
    const shipper = createShipper(sink, directory, { maxJobLogBytes: 100 });
    for (let index = 0; index < 5; index++) {
      shipper.append(String(index).repeat(30), "Info");
    }
    shipper.appendOrchestrator("Job finished", "Info");
    shipper.append("short", "Info");
    await closeAndRun(shipper, clock);

    const lines = sink.lines();
    assert.deepEqual(lines.slice(0, 4).map((line) => line.text), [
      "0".repeat(30),
      "1".repeat(30),
      "2".repeat(30),
      "Job finished",
    ]);
    assert.equal(lines.length, 5);
    const notice = sink.entries[sink.entries.length - 1];
    assert.equal(notice.level, "Warning");
    assert.equal(notice.source, "orchestrator");
    assert.match(notice.message, /limit of 100 bytes/);
    assert.match(notice.message, /last 3 lines \(65 bytes\)/);
    assert.equal(shipper.stats.linesDropped, 3);
    assert.equal(shipper.stats.bytesDropped, 65);
    assert.equal(shipper.stats.linesShipped, 5);
  });
});

Deno.test("LogShipper keeps orchestrator messages in order", async () => {
  await withSetup(async (clock, directory) => {
    const sink = new FakeSink();
    const shipper = createShipper(sink, directory);
    shipper.append("before", "Info");
    shipper.appendOrchestrator("Container exited with code 1", "Info");
    shipper.append("after", "Info");
    await closeAndRun(shipper, clock);
    assert.deepEqual(
      sink.entries.map((entry) => [entry.source, entry.message]),
      [
        ["container", "before"],
        ["orchestrator", "Container exited with code 1"],
        ["container", "after"],
      ],
    );
  });
});

Deno.test("LogShipper spools while the API is down", async () => {
  await withSetup(async (clock, directory) => {
    const sink = new FakeSink({ failures: 40 });
    const shipper = createShipper(sink, directory, { maxBufferedBytes: 1000 });
    let maxSpooled = 0;
    let sawSpoolFile = false;
    for (let batch = 0; batch < 10; batch++) {
      for (let index = 0; index < 500; index++) {
        const number = batch * 500 + index;
        shipper.append(`line ${number}`, number % 3 === 0 ? "Error" : "Info");
      }
      maxSpooled = Math.max(maxSpooled, shipper.stats.linesSpooled);
      sawSpoolFile ||= filesIn(directory).length > 0;
      await clock.tickAsync(1000);
    }
    assert.ok(maxSpooled > 4000, `at most ${maxSpooled} lines spooled`);
    assert.ok(sawSpoolFile);
    assert.ok(sink.failures > 0, "the sink recovered before the end");

    assert.equal(await closeAndRun(shipper, clock), 0);
    const lines = sink.lines();
    assert.equal(lines.length, 5000);
    for (let number = 0; number < 5000; number++) {
      assert.equal(lines[number].text, `line ${number}`);
      assert.equal(
        lines[number].level,
        number % 3 === 0 ? "Error" : "Info",
        `line ${number}`,
      );
    }
    assert.equal(sink.maxInFlight, 1);
    assert.deepEqual(filesIn(directory), []);
  });
});

Deno.test("LogShipper keeps lines when the spool fails", async () => {
  await withSetup(async (clock, directory) => {
    const sink = new FakeSink({ failures: 3 });
    const shipper = createShipper(sink, `${directory}/missing`, {
      maxBufferedBytes: 20,
    });
    for (let index = 0; index < 100; index++) {
      shipper.append(`line ${index}`, "Info");
    }
    await closeAndRun(shipper, clock);
    const texts = sink.lines().map((line) => line.text);
    assert.deepEqual(
      texts,
      Array.from({ length: 100 }, (_, index) => `line ${index}`),
    );
  });
});

Deno.test("LogShipper close gives up at the deadline", async () => {
  await withSetup(async (clock, directory) => {
    const sink = new FakeSink({ failures: Infinity });
    const shipper = createShipper(sink, directory, { maxBufferedBytes: 50 });
    for (let index = 0; index < 20; index++) {
      shipper.append(`line ${index}`, "Info");
    }
    assert.ok(filesIn(directory).length > 0);
    assert.equal(await closeAndRun(shipper, clock, 60_000), 20);
    assert.equal(shipper.stats.linesDropped, 20);
    assert.equal(shipper.stats.linesPending, 0);
    assert.equal(sink.entries.length, 0);
    assert.deepEqual(filesIn(directory), []);
    const calls = sink.calls;
    await clock.runAllAsync();
    assert.equal(sink.calls, calls);
  });
});

Deno.test("LogShipper close resolves with nothing queued", async () => {
  await withSetup(async (clock, directory) => {
    const sink = new FakeSink();
    const shipper = createShipper(sink, directory);
    assert.equal(await closeAndRun(shipper, clock), 0);
    assert.equal(await shipper.close(), 0);
    assert.equal(sink.calls, 0);
  });
});

Deno.test("LogShipper rejects append after close", async () => {
  await withSetup(async (clock, directory) => {
    const shipper = createShipper(new FakeSink(), directory);
    await closeAndRun(shipper, clock);
    assert.throws(() => shipper.append("late", "Info"), /is closed/);
    assert.throws(
      () => shipper.appendOrchestrator("late", "Info"),
      /is closed/,
    );
  });
});

Deno.test("LogShipper rejects invalid options", () => {
  const sink = new FakeSink();
  for (
    const options of [
      { maxEntryBytes: 0 },
      { flushIntervalMs: -1 },
      { maxJobLogBytes: 1.5 },
      { maxBufferedBytes: Number.NaN },
      { retryBaseMs: 0 },
      { retryMaxMs: 0 },
    ]
  ) {
    assert.throws(
      () => createShipper(sink, "/tmp", options),
      RangeError,
      JSON.stringify(options),
    );
  }
});
