import assert from "node:assert/strict";
import { ConfigError, loadSettings } from "../../src/config/load_settings.ts";

async function withSettingsFile(
  content: string,
  body: (path: string) => Promise<void>,
): Promise<void> {
  const directory = await Deno.makeTempDir();
  const path = `${directory}/appsettings.json`;
  await Deno.writeTextFile(path, content);
  try {
    await body(path);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
}

async function configError(promise: Promise<unknown>): Promise<ConfigError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ConfigError, `not a ConfigError: ${error}`);
    return error;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("loadSettings uses defaults without file or environment", async () => {
  const { settings, configPath } = await loadSettings({
    configPath: undefined,
    env: {},
  });
  assert.equal(configPath, null);
  assert.equal(settings.api.baseUrl, "http://localhost:5000");
  assert.equal(settings.api.pollingIntervalSeconds, 10);
  assert.equal(settings.container.defaultTimeoutSeconds, 3600);
  assert.equal(settings.container.pullPolicy, "IfNotPresent");
  assert.equal(settings.customer.customerName, null);
  assert.equal(settings.container.dockerEndpoint.kind, "unix");
});

Deno.test("loadSettings layers flag over environment over file", async () => {
  await withSettingsFile(
    JSON.stringify({
      ApiSettings: { BaseUrl: "http://file:1", PollingIntervalSeconds: 5 },
      ContainerSettings: { DefaultTimeout: 60 },
      CustomerSettings: { CustomerName: "alpha" },
    }),
    async (path) => {
      const { settings } = await loadSettings({
        configPath: path,
        env: {
          ApiSettings__BaseUrl: "http://env:2",
          apisettings__pollingintervalseconds: "0.5",
        },
        flags: [{
          key: "ApiSettings:BaseUrl",
          value: "http://flag:3",
          flag: "--api-url",
        }],
      });
      assert.equal(settings.api.baseUrl, "http://flag:3");
      assert.equal(settings.api.pollingIntervalSeconds, 0.5);
      assert.equal(settings.container.defaultTimeoutSeconds, 60);
      assert.equal(settings.customer.customerName, "alpha");
    },
  );
});

Deno.test("loadSettings reads keys case-insensitively with comments", async () => {
  await withSettingsFile(
    `{
      // ASP.NET allows comments and trailing commas
      "apisettings": { "baseurl": "http://x:1/", },
      "Logging": { "LogLevel": { "Default": "Information" } },
      /* a block comment with "quotes" */
      "containerSettings": { "pullPolicy": "always" },
    }`,
    async (path) => {
      const { settings, warnings } = await loadSettings({
        configPath: path,
        env: {},
      });
      assert.equal(settings.api.baseUrl, "http://x:1");
      assert.equal(settings.container.pullPolicy, "Always");
      assert.deepEqual(warnings, []);
    },
  );
});

Deno.test("loadSettings names key, value and source of a bad value", async () => {
  const error = await configError(
    loadSettings({ env: { ApiSettings__PollingIntervalSeconds: "soon" } }),
  );
  assert.equal(error.problems.length, 1);
  assert.match(error.message, /ApiSettings:PollingIntervalSeconds/);
  assert.match(error.message, /"soon"/);
  assert.match(
    error.message,
    /environment variable ApiSettings__PollingIntervalSeconds/,
  );
  assert.match(error.message, /from 0\.1 to 86400/);
});

Deno.test("loadSettings rejects a polling interval below 0.1", async () => {
  const error = await configError(
    loadSettings({
      env: {},
      flags: [{
        key: "ApiSettings:PollingIntervalSeconds",
        value: "0.05",
        flag: "--polling-interval",
      }],
    }),
  );
  assert.match(error.message, /flag --polling-interval/);
});

Deno.test("loadSettings rejects a fractional DefaultTimeout", async () => {
  await withSettingsFile(
    JSON.stringify({ ContainerSettings: { DefaultTimeout: 1.5 } }),
    async (path) => {
      const error = await configError(
        loadSettings({ configPath: path, env: {} }),
      );
      assert.match(
        error.message,
        /ContainerSettings:DefaultTimeout: 1\.5 from file/,
      );
      assert.match(error.message, /whole number of seconds/);
    },
  );
});

Deno.test("loadSettings lists every bad value at once", async () => {
  const error = await configError(
    loadSettings({
      env: {
        ContainerSettings__PullPolicy: "Sometimes",
        ApiSettings__BaseUrl: "ftp://x",
      },
    }),
  );
  assert.equal(error.problems.length, 2);
  assert.match(error.message, /one of IfNotPresent, Always, Never/);
  assert.match(error.message, /http:\/\/ or https:\/\/ URL/);
});

Deno.test("loadSettings fails on a missing explicit file", async () => {
  const error = await configError(
    loadSettings({ configPath: "/nonexistent/appsettings.json", env: {} }),
  );
  assert.match(error.message, /\/nonexistent\/appsettings.json/);
});

Deno.test("loadSettings fails on a file that is not JSON", async () => {
  await withSettingsFile("{ not json", async (path) => {
    const error = await configError(
      loadSettings({ configPath: path, env: {} }),
    );
    assert.match(error.message, /is not valid JSON/);
  });
});

Deno.test("loadSettings warns about an unknown key in its own section", async () => {
  await withSettingsFile(
    JSON.stringify({ ApiSettings: { BaseUrll: "http://x:1" } }),
    async (path) => {
      const { warnings } = await loadSettings({ configPath: path, env: {} });
      assert.equal(warnings.length, 1);
      assert.match(warnings[0], /ApiSettings:BaseUrll/);
    },
  );
});

Deno.test("loadSettings warns about a misspelt section only", async () => {
  await withSettingsFile(
    JSON.stringify({
      ContainerSetting: { MaxConcurrentJobs: 2 },
      AllowedHosts: "*",
      ConnectionStrings: { Default: "x" },
    }),
    async (path) => {
      const { settings, warnings } = await loadSettings({
        configPath: path,
        env: {},
      });
      assert.equal(warnings.length, 1);
      assert.match(warnings[0], /Unknown section ContainerSetting/);
      assert.match(warnings[0], /Did you mean ContainerSettings\?/);
      assert.equal(settings.container.maxConcurrentJobs, 4);
    },
  );
});

Deno.test("loadSettings builds a list from indexed variables", async () => {
  const { settings } = await loadSettings({
    env: {
      LogSettings__SecretParameterPatterns__1: "PIN",
      LogSettings__SecretParameterPatterns__0: "PASSPHRASE",
    },
  });
  assert.deepEqual(settings.log.secretParameterPatterns, ["PASSPHRASE", "PIN"]);
});

Deno.test("loadSettings falls back to DOCKER_HOST for the endpoint", async () => {
  const { settings } = await loadSettings({
    env: { DOCKER_HOST: "tcp://127.0.0.1:2375/" },
  });
  const endpoint = settings.container.dockerEndpoint;
  assert.equal(endpoint.kind, "tcp");
  assert.equal(endpoint.text, "tcp://127.0.0.1:2375");
});

Deno.test("loadSettings takes TLS settings as the Docker CLI does", async () => {
  const { settings } = await loadSettings({
    env: {
      ContainerSettings__DockerEndpoint: "engine.example:2376",
      DOCKER_TLS_VERIFY: "1",
      DOCKER_CERT_PATH: "/certs",
    },
  });
  const endpoint = settings.container.dockerEndpoint;
  assert.equal(endpoint.kind, "tcp");
  if (endpoint.kind !== "tcp") return;
  assert.deepEqual(endpoint.tls, { certPath: "/certs", verify: true });
});

Deno.test("loadSettings rejects an endpoint with another scheme", async () => {
  const error = await configError(
    loadSettings({ env: { ContainerSettings__DockerEndpoint: "ssh://host" } }),
  );
  assert.match(
    error.message,
    /ContainerSettings:DockerEndpoint: "ssh:\/\/host"/,
  );
});

Deno.test("loadSettings rejects an unknown time zone", async () => {
  const error = await configError(
    loadSettings({ env: { ScheduleSettings__TimeZone: "Mars/Olympus" } }),
  );
  assert.match(error.message, /Mars\/Olympus/);
  assert.match(error.message, /IANA time zone/);
});

Deno.test("loadSettings rejects an unknown key in --set", async () => {
  const error = await configError(
    loadSettings({
      env: {},
      flags: [{ key: "Api:Url", value: "x", flag: "--set" }],
    }),
  );
  assert.match(error.message, /Unknown setting "Api:Url"/);
});

Deno.test("loadSettings reads a file with a byte order mark", async () => {
  await withSettingsFile(
    "\uFEFF" + JSON.stringify({ ApiSettings: { BaseUrl: "http://bom:1" } }),
    async (path) => {
      const { settings } = await loadSettings({ configPath: path, env: {} });
      assert.equal(settings.api.baseUrl, "http://bom:1");
    },
  );
});

Deno.test("loadSettings reads Section:Key environment variables", async () => {
  const { settings } = await loadSettings({
    env: { "CustomerSettings:CustomerName": "gamma" },
  });
  assert.equal(settings.customer.customerName, "gamma");
});

Deno.test("loadSettings warns about variables that differ in case", async () => {
  const { warnings } = await loadSettings({
    env: {
      ApiSettings__BaseUrl: "http://one:1",
      APISETTINGS__BASEURL: "http://two:2",
    },
  });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /both set ApiSettings:BaseUrl/);
});

Deno.test("loadSettings rejects an invalid container user", async () => {
  for (const user of ["root:", "a b", ":1000"]) {
    const error = await configError(
      loadSettings({ env: { ContainerSettings__User: user } }),
    );
    assert.match(error.message, /ContainerSettings:User/);
  }
});
