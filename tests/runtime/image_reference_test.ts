import assert from "node:assert/strict";
import {
  formatImageReference,
  parseImageReference,
  withRegistry,
} from "../../src/runtime/image_reference.ts";

const DIGEST = "sha256:" + "a".repeat(64);

const CASES: Array<
  [string, string | null, string, string | null, string | null, string]
> = [
  ["busybox", null, "busybox", null, null, "busybox:latest"],
  ["busybox:1.36", null, "busybox", "1.36", null, "busybox:1.36"],
  [
    "library/busybox",
    null,
    "library/busybox",
    null,
    null,
    "library/busybox:latest",
  ],
  [
    "host:5000/repo:tag",
    "host:5000",
    "repo",
    "tag",
    null,
    "host:5000/repo:tag",
  ],
  ["host:5000/repo", "host:5000", "repo", null, null, "host:5000/repo:latest"],
  [
    "localhost/team/tools/pwsh:7.4",
    "localhost",
    "team/tools/pwsh",
    "7.4",
    null,
    "localhost/team/tools/pwsh:7.4",
  ],
  [
    "registry.example.com/a/b",
    "registry.example.com",
    "a/b",
    null,
    null,
    "registry.example.com/a/b:latest",
  ],
  [`repo@${DIGEST}`, null, "repo", null, DIGEST, `repo@${DIGEST}`],
  [
    `host:5000/repo:tag@${DIGEST}`,
    "host:5000",
    "repo",
    "tag",
    DIGEST,
    `host:5000/repo:tag@${DIGEST}`,
  ],
  [
    "[::1]:5000/repo",
    "[::1]:5000",
    "repo",
    null,
    null,
    "[::1]:5000/repo:latest",
  ],
];

Deno.test("parseImageReference splits registry, path, tag, digest", () => {
  for (const [text, registry, repository, tag, digest, formatted] of CASES) {
    const image = parseImageReference(text);
    assert.equal(image.registry, registry, text);
    assert.equal(image.repository, repository, text);
    assert.equal(image.tag, tag, text);
    assert.equal(image.digest, digest, text);
    assert.equal(formatImageReference(image), formatted, text);
  }
});

Deno.test("parseImageReference rejects invalid references", () => {
  for (
    const text of [
      "",
      "UPPER/case",
      "repo:",
      "repo:bad tag",
      "repo@sha256:xyz",
      "a//b",
      "repo:tag:more",
    ]
  ) {
    assert.throws(
      () => parseImageReference(text),
      TypeError,
      JSON.stringify(text),
    );
  }
});

Deno.test("parseImageReference names the reference in its error", () => {
  assert.throws(
    () => parseImageReference("Repo:1"),
    /Invalid image reference "Repo:1": path component "Repo"/,
  );
});

Deno.test("withRegistry prefixes only a reference without registry", () => {
  const plain = withRegistry(
    parseImageReference("tools/pwsh:7"),
    "https://reg.example:5000/",
  );
  assert.equal(formatImageReference(plain), "reg.example:5000/tools/pwsh:7");
  const named = withRegistry(
    parseImageReference("other:5000/pwsh"),
    "reg.example",
  );
  assert.equal(formatImageReference(named), "other:5000/pwsh:latest");
});
