import assert from "node:assert/strict";
import {
  DEFAULT_SECRET_PATTERNS,
  jobSecrets,
  SecretMasker,
  secretParameterNames,
} from "../../src/log_shipping/secret_masker.ts";

function base64(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) {
    binary += String.fromCharCode(byte);
  }
  return btoa(binary);
}

// Its base64 contains "+" and "/" and ends with "=", so every form differs.
const VALUE = "~~~>>>???ü";

Deno.test("SecretMasker masks a value", () => {
  const masker = new SecretMasker([{ name: "Password", value: VALUE }]);
  assert.equal(
    masker.mask(`login with ${VALUE} and ${VALUE}.`),
    "login with *** and ***.",
  );
});

Deno.test("SecretMasker leaves text without secrets", () => {
  const masker = new SecretMasker([{ name: "Password", value: VALUE }]);
  assert.equal(masker.mask("nothing to hide"), "nothing to hide");
  assert.equal(new SecretMasker([]).mask("plain"), "plain");
});

Deno.test("SecretMasker masks base64 forms", () => {
  const standard = base64(VALUE);
  assert.match(standard, /\+/);
  assert.match(standard, /\//);
  assert.match(standard, /=$/);
  const unpadded = standard.replace(/=+$/, "");
  const urlSafe = standard.replaceAll("+", "-").replaceAll("/", "_");
  const urlSafeUnpadded = urlSafe.replace(/=+$/, "");
  const masker = new SecretMasker([{ name: "Password", value: VALUE }]);
  for (const form of [standard, unpadded, urlSafe, urlSafeUnpadded]) {
    assert.equal(masker.mask(`token: ${form};`), "token: ***;", form);
  }
});

Deno.test("SecretMasker masks the URL-encoded form", () => {
  const encoded = encodeURIComponent(VALUE);
  assert.notEqual(encoded, VALUE);
  const masker = new SecretMasker([{ name: "Password", value: VALUE }]);
  assert.equal(
    masker.mask(`GET /login?password=${encoded}&x=1`),
    "GET /login?password=***&x=1",
  );
});

Deno.test("SecretMasker skips and lists short values", () => {
  const masker = new SecretMasker([
    { name: "Pin", value: "123" },
    { name: "Pin", value: "12" },
    { name: "Empty", value: "" },
    { name: "ApiKey", value: "1234" },
  ]);
  assert.deepEqual(masker.skipped, ["Pin"]);
  assert.equal(masker.mask("123 and 1234"), "123 and ***");
});

Deno.test("SecretMasker honours minLength", () => {
  const masker = new SecretMasker([{ name: "Pin", value: "123" }], {
    minLength: 3,
  });
  assert.deepEqual(masker.skipped, []);
  assert.equal(masker.mask("pin 123"), "pin ***");
  assert.throws(() => new SecretMasker([], { minLength: 0 }), RangeError);
});

Deno.test("SecretMasker masks the longer of two values", () => {
  const masker = new SecretMasker([
    { name: "Short", value: "abcd" },
    { name: "Long", value: "abcdefgh" },
  ]);
  assert.equal(masker.mask("xabcdefghx abcdx"), "x***x ***x");
});

Deno.test("SecretMasker escapes special characters", () => {
  const masker = new SecretMasker([{ name: "Secret", value: "a.b*c(d)|[e]$" }]);
  assert.equal(masker.mask("is a.b*c(d)|[e]$ here"), "is *** here");
  assert.equal(masker.mask("is aXb*c(d)|[e]$ here"), "is aXb*c(d)|[e]$ here");
});

Deno.test("SecretMasker masks each line of a multi-line value", () => {
  const masker = new SecretMasker([
    { name: "Certificate", value: "BEGIN-line-one\r\nline-two\nab" },
  ]);
  assert.equal(masker.mask("BEGIN-line-one"), "***");
  assert.equal(masker.mask("line-two"), "***");
  assert.equal(masker.mask("ab"), "ab");
});

Deno.test("secretParameterNames matches case-insensitively", () => {
  const names = secretParameterNames({
    AdminPassword: "x",
    client_secret: "x",
    apiToken: "x",
    SigningKey: "x",
    UserCredentials: "x",
    TenantName: "x",
    Department: "x",
  });
  assert.deepEqual(names, [
    "AdminPassword",
    "client_secret",
    "apiToken",
    "SigningKey",
    "UserCredentials",
  ]);
});

Deno.test("secretParameterNames adds extra patterns", () => {
  const parameters = { Passphrase: "x", Certificate: "x", User: "x" };
  assert.deepEqual(secretParameterNames(parameters), []);
  assert.deepEqual(secretParameterNames(parameters, ["pass", "CERT"]), [
    "Passphrase",
    "Certificate",
  ]);
});

Deno.test("secretParameterNames rejects an empty pattern", () => {
  assert.throws(() => secretParameterNames({ a: "x" }, [" "]), TypeError);
});

Deno.test("DEFAULT_SECRET_PATTERNS lists the default patterns", () => {
  assert.deepEqual(DEFAULT_SECRET_PATTERNS, [
    "PASSWORD",
    "SECRET",
    "TOKEN",
    "KEY",
    "CREDENTIAL",
  ]);
});

Deno.test("jobSecrets includes the registry password", () => {
  const secrets = jobSecrets({
    registryPassword: "registry-pass",
    parameters: { AppSecret: "s3cr3t-value", Region: "eu" },
  });
  assert.deepEqual(secrets, [
    { name: "registryPassword", value: "registry-pass" },
    { name: "AppSecret", value: "s3cr3t-value" },
  ]);
  assert.deepEqual(
    jobSecrets({ registryPassword: null, parameters: {} }),
    [],
  );
});
