import assert from "node:assert/strict";
import {
  Counter,
  escapeHelp,
  escapeLabelValue,
  formatSampleValue,
  Gauge,
  Histogram,
  PROMETHEUS_TEXT_CONTENT_TYPE,
  renderExposition,
} from "../../src/operations/prometheus_exposition.ts";

Deno.test("formatSampleValue prints integers without decimals", () => {
  assert.equal(formatSampleValue(0), "0");
  assert.equal(formatSampleValue(-0), "0");
  assert.equal(formatSampleValue(42), "42");
  assert.equal(formatSampleValue(-7), "-7");
  assert.equal(formatSampleValue(123456789012), "123456789012");
});

Deno.test("formatSampleValue prints fractions and exponents", () => {
  assert.equal(formatSampleValue(0.25), "0.25");
  assert.equal(formatSampleValue(0.1 + 0.2), "0.30000000000000004");
  assert.equal(formatSampleValue(1e21), "1e+21");
  assert.equal(formatSampleValue(1e-7), "1e-7");
});

Deno.test("formatSampleValue prints infinities and NaN", () => {
  assert.equal(formatSampleValue(Infinity), "+Inf");
  assert.equal(formatSampleValue(-Infinity), "-Inf");
  assert.equal(formatSampleValue(NaN), "NaN");
});

Deno.test("escapeHelp escapes backslash and line feed", () => {
  assert.equal(escapeHelp("a\\b\nc"), "a\\\\b\\nc");
  // A double quote stays as it is in HELP text.
  assert.equal(escapeHelp('say "hi"'), 'say "hi"');
});

Deno.test("escapeLabelValue escapes backslash, quote and line feed", () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  assert.equal(escapeLabelValue("β-ü, x:y"), "β-ü, x:y");
});

Deno.test("PROMETHEUS_TEXT_CONTENT_TYPE is text format 0.0.4", () => {
  assert.equal(
    PROMETHEUS_TEXT_CONTENT_TYPE,
    "text/plain; version=0.0.4; charset=utf-8",
  );
});

Deno.test("Counter without labels starts at zero", () => {
  const counter = new Counter({ name: "x_total", help: "Things" });
  assert.equal(
    counter.render(),
    "# HELP x_total Things\n# TYPE x_total counter\nx_total 0",
  );
  counter.inc({});
  counter.inc({}, 2.5);
  assert.equal(counter.render().split("\n")[2], "x_total 3.5");
});

Deno.test("Counter with labels prints a label set once seen", () => {
  const counter = new Counter({
    name: "x_total",
    help: "Things",
    labelNames: ["b", "a"],
  });
  assert.equal(
    counter.render(),
    "# HELP x_total Things\n# TYPE x_total counter",
  );

  counter.inc({ a: "2", b: "1" });
  counter.inc({ a: "0", b: "9" }, 0);
  counter.inc({ a: "2", b: "1" });
  // Labels print in labelNames order, series in the order first seen, and
  // an increment of 0 still makes a series.
  assert.deepEqual(counter.render().split("\n").slice(2), [
    'x_total{b="1",a="2"} 2',
    'x_total{b="9",a="0"} 0',
  ]);
});

Deno.test("Counter keeps label values with separators apart", () => {
  const counter = new Counter({
    name: "x_total",
    help: "Things",
    labelNames: ["a", "b"],
  });
  counter.inc({ a: "p,b:q", b: "r" });
  counter.inc({ a: "p", b: "q,b:r" });
  assert.deepEqual(counter.render().split("\n").slice(2), [
    'x_total{a="p,b:q",b="r"} 1',
    'x_total{a="p",b="q,b:r"} 1',
  ]);
});

Deno.test("Counter escapes label values and HELP", () => {
  const counter = new Counter({
    name: "x_total",
    help: "Back\\slash and\nnew line",
    labelNames: ["a"],
  });
  counter.inc({ a: 'q"b\\n\nl' });
  assert.equal(
    counter.render(),
    "# HELP x_total Back\\\\slash and\\nnew line\n" +
      "# TYPE x_total counter\n" +
      'x_total{a="q\\"b\\\\n\\nl"} 1',
  );
});

Deno.test("Counter rejects a negative or non-finite increment", () => {
  const counter = new Counter({ name: "x_total", help: "Things" });
  assert.throws(() => counter.inc({}, -1), RangeError);
  assert.throws(() => counter.inc({}, NaN), RangeError);
  assert.throws(() => counter.inc({}, Infinity), RangeError);
  assert.equal(counter.render().split("\n")[2], "x_total 0");
});

Deno.test("Counter rejects labels other than its own", () => {
  const counter = new Counter({
    name: "x_total",
    help: "Things",
    labelNames: ["a"],
  });
  const wrong = { b: "1" } as unknown as { a: string };
  assert.throws(() => counter.inc(wrong), TypeError);
  const extra = { a: "1", b: "2" } as unknown as { a: string };
  assert.throws(() => counter.inc(extra), TypeError);
  assert.throws(() => counter.inc({} as { a: string }), TypeError);
  const number = { a: 1 } as unknown as { a: string };
  assert.throws(() => counter.inc(number), TypeError);
});

Deno.test("metric constructors reject invalid names", () => {
  assert.throws(() => new Counter({ name: "1x", help: "h" }), TypeError);
  assert.throws(() => new Gauge({ name: "a-b", help: "h" }), TypeError);
  assert.throws(
    () => new Counter({ name: "x", help: "h", labelNames: ["a b"] }),
    TypeError,
  );
  assert.throws(
    () => new Counter({ name: "x", help: "h", labelNames: ["__a"] }),
    TypeError,
  );
  assert.throws(
    () => new Gauge({ name: "x", help: "h", labelNames: ["a", "a"] }),
    TypeError,
  );
});

Deno.test("Gauge sets, adds and subtracts", () => {
  const gauge = new Gauge({ name: "g", help: "Level" });
  assert.equal(gauge.render(), "# HELP g Level\n# TYPE g gauge\ng 0");
  gauge.inc({});
  gauge.inc({}, 4);
  gauge.dec({});
  assert.equal(gauge.render().split("\n")[2], "g 4");
  gauge.dec({}, 6);
  assert.equal(gauge.render().split("\n")[2], "g -2");
  gauge.set({}, 0.5);
  assert.equal(gauge.render().split("\n")[2], "g 0.5");
});

Deno.test("Gauge rejects a value that is not a number", () => {
  const gauge = new Gauge({ name: "g", help: "Level" });
  const missing = undefined as unknown as number;
  assert.throws(() => gauge.set({}, missing), TypeError);
  assert.throws(() => gauge.inc({}, "1" as unknown as number), TypeError);
  assert.equal(gauge.render().split("\n")[2], "g 0");
});

Deno.test("Gauge prints infinities and NaN", () => {
  const gauge = new Gauge({ name: "g", help: "Level", labelNames: ["k"] });
  gauge.set({ k: "nan" }, NaN);
  gauge.set({ k: "up" }, Infinity);
  gauge.set({ k: "down" }, -Infinity);
  assert.deepEqual(gauge.render().split("\n").slice(2), [
    'g{k="nan"} NaN',
    'g{k="up"} +Inf',
    'g{k="down"} -Inf',
  ]);
});

Deno.test("Histogram prints cumulative buckets, sum and count", () => {
  const histogram = new Histogram({
    name: "h_seconds",
    help: "Durations",
    labelNames: ["k"],
    buckets: [1, 5, 10],
  });
  assert.equal(
    histogram.render(),
    "# HELP h_seconds Durations\n# TYPE h_seconds histogram",
  );

  // 1 is on a bound and counts in that bucket; 20 is above every bound and
  // counts only in +Inf.
  for (const value of [0, 1, 1.5, 10, 20]) {
    histogram.observe({ k: "a" }, value);
  }
  histogram.observe({ k: "b" }, 6);
  assert.deepEqual(histogram.render().split("\n").slice(2), [
    'h_seconds_bucket{le="1",k="a"} 2',
    'h_seconds_bucket{le="5",k="a"} 3',
    'h_seconds_bucket{le="10",k="a"} 4',
    'h_seconds_bucket{le="+Inf",k="a"} 5',
    'h_seconds_sum{k="a"} 32.5',
    'h_seconds_count{k="a"} 5',
    'h_seconds_bucket{le="1",k="b"} 0',
    'h_seconds_bucket{le="5",k="b"} 0',
    'h_seconds_bucket{le="10",k="b"} 1',
    'h_seconds_bucket{le="+Inf",k="b"} 1',
    'h_seconds_sum{k="b"} 6',
    'h_seconds_count{k="b"} 1',
  ]);
});

Deno.test("Histogram without labels starts with zero counts", () => {
  const histogram = new Histogram({
    name: "h",
    help: "Sizes",
    buckets: [0.005, 2.5],
  });
  assert.deepEqual(histogram.render().split("\n").slice(2), [
    'h_bucket{le="0.005"} 0',
    'h_bucket{le="2.5"} 0',
    'h_bucket{le="+Inf"} 0',
    "h_sum 0",
    "h_count 0",
  ]);
});

Deno.test("Histogram rejects bad buckets, le and observations", () => {
  const options = { name: "h", help: "Sizes" };
  assert.throws(() => new Histogram({ ...options, buckets: [] }), RangeError);
  assert.throws(
    () => new Histogram({ ...options, buckets: [2, 1] }),
    RangeError,
  );
  assert.throws(
    () => new Histogram({ ...options, buckets: [1, 1] }),
    RangeError,
  );
  assert.throws(
    () => new Histogram({ ...options, buckets: [1, Infinity] }),
    RangeError,
  );
  assert.throws(
    () => new Histogram({ ...options, buckets: [1], labelNames: ["le"] }),
    TypeError,
  );
  const histogram = new Histogram({ ...options, buckets: [1] });
  assert.throws(() => histogram.observe({}, NaN), RangeError);
  assert.throws(() => histogram.observe({}, Infinity), RangeError);
  assert.equal(histogram.render().split("\n").at(-1), "h_count 0");
});

Deno.test("renderExposition separates families by a blank line", () => {
  const counter = new Counter({ name: "c_total", help: "C" });
  const gauge = new Gauge({ name: "g", help: "G" });
  assert.equal(
    renderExposition([counter, gauge]),
    "# HELP c_total C\n# TYPE c_total counter\nc_total 0\n\n" +
      "# HELP g G\n# TYPE g gauge\ng 0\n",
  );
  assert.equal(renderExposition([]), "\n");
});
