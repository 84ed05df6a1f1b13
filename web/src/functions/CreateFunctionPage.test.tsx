import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import {
  expectAccessible,
  meWithLimits,
  mockFetch,
  platformError,
  renderApp,
  sampleFunction,
  sampleMe,
  signedIn,
} from "../test/utils";
import { CreateFunctionPage } from "./CreateFunctionPage";

const SAMPLES = {
  items: [
    {
      name: "echo",
      image: "127.0.0.1:26450/samples/echo:v1",
      description: "Answers the request body back; prints one log line per request",
    },
    { name: "hello-rust", image: "127.0.0.1:26450/samples/hello-rust:v1", description: null },
  ],
};

function setup(routes: Parameters<typeof mockFetch>[0] = {}) {
  signedIn();
  // a server without samples unless a test says otherwise
  const m = mockFetch({
    "GET /v1/me": { body: sampleMe },
    "GET /v1/samples": { body: { items: [] } },
    "GET /v1/secrets": { body: { items: [] } },
    ...routes,
  });
  const r = renderApp(<CreateFunctionPage />, {
    fetch: m.fetch,
    path: "/functions/new",
    routePath: "/functions/new",
  });
  return { ...m, ...r };
}

describe("CreateFunctionPage", () => {
  it("shows client-side errors on their fields and focuses the first", async () => {
    const { calls, container } = setup();
    // the tenant's replica limit has arrived
    await waitFor(() =>
      expect(screen.getByLabelText("Replicas")).toHaveAccessibleDescription("0 to 20"),
    );
    await userEvent.type(screen.getByLabelText("Name"), "Bad_Name");
    await userEvent.type(screen.getByLabelText("Replicas"), "50");
    await userEvent.click(screen.getByRole("button", { name: "Create function" }));
    const name = screen.getByLabelText("Name");
    expect(name).toHaveAttribute("aria-invalid", "true");
    expect(name).toHaveAccessibleDescription(/lowercase letters, digits and '-'/);
    expect(screen.getByLabelText("Image")).toHaveAccessibleDescription(/required/);
    expect(screen.getByLabelText("Replicas")).toHaveAccessibleDescription(/between 0 and 20/);
    expect(screen.getByRole("alert")).toHaveTextContent("Please fix the 3 highlighted fields.");
    await waitFor(() => expect(name).toHaveFocus());
    expect(calls.filter((c) => c.method === "POST")).toHaveLength(0);
    await expectAccessible(container);
  });

  it("checks replicas against the tenant's limit from /v1/me", async () => {
    const { calls } = setup({ "GET /v1/me": { body: meWithLimits({ maxReplicas: 5 }) } });
    const replicas = screen.getByLabelText("Replicas");
    await waitFor(() => expect(replicas).toHaveAccessibleDescription("0 to 5"));
    await userEvent.type(screen.getByLabelText("Name"), "hello");
    await userEvent.type(screen.getByLabelText("Image"), "nginx:alpine");
    await userEvent.type(replicas, "6");
    await userEvent.click(screen.getByLabelText("Autoscale"));
    expect(screen.getByLabelText("Maximum replicas")).toHaveAttribute("placeholder", "up to 5");
    await userEvent.type(screen.getByLabelText("Maximum replicas"), "3");
    await userEvent.click(screen.getByRole("button", { name: "Create function" }));
    expect(replicas).toHaveAccessibleDescription("Replicas must be between 0 and 5.");
    expect(calls.filter((c) => c.method === "POST")).toHaveLength(0);
  });

  it("leaves the replica limit to the server while /v1/me is loading", async () => {
    const { calls } = setup({
      "GET /v1/me": () => new Promise(() => {}),
      "POST /v1/functions": platformError(
        422,
        "validation_failed",
        "replicas: must be between 0 and 20",
        "replicas",
      ),
    });
    const replicas = screen.getByLabelText("Replicas");
    expect(replicas).toHaveAccessibleDescription("0 or more");
    await userEvent.type(screen.getByLabelText("Name"), "hello");
    await userEvent.type(screen.getByLabelText("Image"), "nginx:alpine");
    await userEvent.type(replicas, "50");
    await userEvent.click(screen.getByRole("button", { name: "Create function" }));
    await waitFor(() => expect(replicas).toHaveAccessibleDescription("must be between 0 and 20"));
    expect(await calls.find((c) => c.method === "POST")!.json()).toMatchObject({ replicas: 50 });
  });

  it("puts a server field error on the field it names", async () => {
    setup({
      "POST /v1/functions": {
        status: 422,
        body: {
          error: {
            code: "validation_failed",
            message: "must be at least requests.cpu (2)",
            field: "resources.limits.cpu",
          },
        },
      },
    });
    await userEvent.type(screen.getByLabelText("Name"), "hello");
    await userEvent.type(screen.getByLabelText("Image"), "nginx:alpine");
    await userEvent.click(screen.getByRole("button", { name: "Create function" }));
    const limit = screen.getByLabelText("CPU limit");
    await waitFor(() =>
      expect(limit).toHaveAccessibleDescription("must be at least requests.cpu (2)"),
    );
    expect(limit).toHaveAttribute("aria-invalid", "true");
  });

  it("maps a server env error to the right row", async () => {
    setup({
      "POST /v1/functions": {
        status: 422,
        body: {
          error: { code: "validation_failed", message: "reserved name", field: "env[0].name" },
        },
      },
    });
    await userEvent.type(screen.getByLabelText("Name"), "hello");
    await userEvent.type(screen.getByLabelText("Image"), "nginx:alpine");
    await userEvent.click(screen.getByRole("button", { name: "Add variable" }));
    await userEvent.type(screen.getByLabelText("Variable 1 name"), "KUBERNETES_X");
    await userEvent.click(screen.getByRole("button", { name: "Create function" }));
    await waitFor(() =>
      expect(screen.getByLabelText("Variable 1 name")).toHaveAccessibleDescription("reserved name"),
    );
  });

  it("shows a duplicate name on the name field", async () => {
    setup({
      "POST /v1/functions": {
        status: 409,
        body: { error: { code: "conflict", message: "function hello already exists" } },
      },
    });
    await userEvent.type(screen.getByLabelText("Name"), "hello");
    await userEvent.type(screen.getByLabelText("Image"), "nginx:alpine");
    await userEvent.click(screen.getByRole("button", { name: "Create function" }));
    await waitFor(() =>
      expect(screen.getByLabelText("Name")).toHaveAccessibleDescription(
        "function hello already exists",
      ),
    );
  });

  it("shows other server errors as a banner", async () => {
    setup({
      "POST /v1/functions": {
        status: 500,
        body: { error: { code: "internal", message: "internal error" } },
      },
    });
    await userEvent.type(screen.getByLabelText("Name"), "hello");
    await userEvent.type(screen.getByLabelText("Image"), "nginx:alpine");
    await userEvent.click(screen.getByRole("button", { name: "Create function" }));
    expect(await screen.findByText("Could not create the function")).toBeInTheDocument();
  });

  it("creates the function and opens it", async () => {
    const { calls } = setup({ "POST /v1/functions": { status: 201, body: sampleFunction } });
    await userEvent.type(screen.getByLabelText("Name"), "hello");
    await userEvent.type(screen.getByLabelText("Image"), "nginx:alpine");
    await userEvent.type(screen.getByLabelText("Replicas"), "2");
    await userEvent.click(screen.getByRole("button", { name: "Create function" }));
    expect(await screen.findByText("detail page")).toBeInTheDocument();
    const post = calls.find((c) => c.method === "POST")!;
    expect(await post.json()).toEqual({ name: "hello", image: "nginx:alpine", replicas: 2 });
    expect(post.headers.get("authorization")).toBe("Bearer token-alice");
  });
});

describe("CreateFunctionPage retries", () => {
  it("sets the attempts of asynchronous invocations", async () => {
    const { calls } = setup({ "POST /v1/functions": { status: 201, body: sampleFunction } });
    await userEvent.type(screen.getByLabelText("Name"), "hello");
    await userEvent.type(screen.getByLabelText("Image"), "nginx:alpine");
    const attempts = screen.getByLabelText("Attempts per invocation");
    await userEvent.type(attempts, "25");
    await userEvent.click(screen.getByRole("button", { name: "Create function" }));
    expect(attempts).toHaveAccessibleDescription("Attempts must be between 1 and 20.");
    await waitFor(() => expect(attempts).toHaveFocus());
    expect(calls.some((c) => c.method === "POST")).toBe(false);
    await userEvent.clear(attempts);
    await userEvent.type(attempts, "3");
    await userEvent.click(screen.getByRole("button", { name: "Create function" }));
    expect(await screen.findByText("detail page")).toBeInTheDocument();
    expect(await calls.find((c) => c.method === "POST")!.json()).toEqual({
      name: "hello",
      image: "nginx:alpine",
      retry: { maxAttempts: 3 },
    });
  });

  it("puts the server's refusal on the attempts field", async () => {
    setup({
      "POST /v1/functions": platformError(
        422,
        "validation_failed",
        "retry.maxAttempts: must be between 1 and 20",
        "retry.maxAttempts",
      ),
    });
    await userEvent.type(screen.getByLabelText("Name"), "hello");
    await userEvent.type(screen.getByLabelText("Image"), "nginx:alpine");
    await userEvent.type(screen.getByLabelText("Attempts per invocation"), "5");
    await userEvent.click(screen.getByRole("button", { name: "Create function" }));
    await waitFor(() =>
      expect(screen.getByLabelText("Attempts per invocation")).toHaveAccessibleDescription(
        "must be between 1 and 20",
      ),
    );
  });
});

describe("CreateFunctionPage samples", () => {
  const posts = (calls: Request[]) => calls.filter((c) => c.method === "POST");

  it("shows nothing new when the server offers no samples", async () => {
    const { calls } = setup();
    await waitFor(() => expect(calls.some((c) => c.url.endsWith("/v1/samples"))).toBe(true));
    await waitFor(() => expect(screen.queryByText("Loading samples…")).not.toBeInTheDocument());
    expect(screen.queryByRole("heading", { name: "Start from a sample" })).not.toBeInTheDocument();
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /^Deploy / })).not.toBeInTheDocument();
  });

  it("shows loading, then the samples with their descriptions and images", async () => {
    let release: () => void = () => {};
    const answered = new Promise<void>((r) => (release = r));
    const { container } = setup({
      "GET /v1/samples": async () => {
        await answered;
        return { body: SAMPLES };
      },
    });
    expect(await screen.findByText("Loading samples…")).toBeInTheDocument();
    release();
    expect(await screen.findByRole("heading", { name: "Start from a sample" })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Deploy echo" })).toBeEnabled();
    expect(screen.getByRole("button", { name: "Deploy hello-rust" })).toBeEnabled();
    expect(screen.getByTestId("sample-echo")).toHaveTextContent(/prints one log line per request/);
    expect(screen.getByTestId("sample-echo")).toHaveTextContent("127.0.0.1:26450/samples/echo:v1");
    expect(screen.getByRole("button", { name: "Use as template for hello-rust" })).toBeEnabled();
    await expectAccessible(container);
  });

  it("deploys a sample in one step and opens its page", async () => {
    const { calls } = setup({
      "GET /v1/samples": { body: SAMPLES },
      "POST /v1/functions": {
        status: 201,
        body: { ...sampleFunction, name: "echo", spec: { ...sampleFunction.spec } },
      },
    });
    await userEvent.click(await screen.findByRole("button", { name: "Deploy echo" }));
    expect(await screen.findByText("detail page")).toBeInTheDocument();
    const sent = posts(calls);
    expect(sent).toHaveLength(1);
    expect(await sent[0]!.json()).toEqual({
      name: "echo",
      image: "127.0.0.1:26450/samples/echo:v1",
    });
  });

  it("deploys under a suffixed name when the sample's name is taken", async () => {
    const names: string[] = [];
    const { calls } = setup({
      "GET /v1/samples": { body: SAMPLES },
      "POST /v1/functions": async (req) => {
        const { name } = (await req.json()) as { name: string };
        names.push(name);
        if (name === "echo")
          return {
            status: 409,
            body: { error: { code: "conflict", message: "function echo already exists" } },
          };
        return { status: 201, body: { ...sampleFunction, name } };
      },
    });
    await userEvent.click(await screen.findByRole("button", { name: "Deploy echo" }));
    expect(await screen.findByText("detail page")).toBeInTheDocument();
    expect(names).toHaveLength(2);
    expect(names[0]).toBe("echo");
    expect(names[1]).toMatch(/^echo-[a-z0-9]{4}$/);
    expect(posts(calls)).toHaveLength(2);
  });

  it("shows why a sample could not be deployed", async () => {
    setup({
      "GET /v1/samples": { body: SAMPLES },
      "POST /v1/functions": {
        status: 403,
        body: { error: { code: "quota_exceeded", message: "function quota (2) is used up" } },
      },
    });
    await userEvent.click(await screen.findByRole("button", { name: "Deploy hello-rust" }));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("Could not deploy hello-rust");
    expect(alert).toHaveTextContent("function quota (2) is used up");
    expect(screen.getByRole("button", { name: "Deploy hello-rust" })).toBeEnabled();
    expect(screen.queryByText("detail page")).not.toBeInTheDocument();
  });

  it("shows a samples error with a retry", async () => {
    let fail = true;
    setup({
      "GET /v1/samples": () =>
        fail
          ? { status: 500, body: { error: { code: "internal", message: "internal error" } } }
          : { body: SAMPLES },
    });
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("Could not load the sample functions");
    fail = false;
    await userEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect(await screen.findByRole("button", { name: "Deploy echo" })).toBeInTheDocument();
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
  });

  it("uses a sample as a template: fills name and image only", async () => {
    const { calls } = setup({
      "GET /v1/samples": { body: SAMPLES },
      "POST /v1/functions": { status: 201, body: { ...sampleFunction, name: "echo" } },
    });
    await userEvent.type(screen.getByLabelText("Replicas"), "2");
    await userEvent.click(await screen.findByRole("button", { name: "Use as template for echo" }));
    const name = screen.getByLabelText("Name");
    expect(name).toHaveValue("echo");
    expect(screen.getByLabelText("Image")).toHaveValue("127.0.0.1:26450/samples/echo:v1");
    expect(screen.getByLabelText("Replicas")).toHaveValue("2");
    await waitFor(() => expect(name).toHaveFocus());
    expect(posts(calls)).toHaveLength(0);
    await userEvent.clear(name);
    await userEvent.type(name, "my-echo");
    await userEvent.click(screen.getByRole("button", { name: "Create function" }));
    expect(await screen.findByText("detail page")).toBeInTheDocument();
    expect(await posts(calls)[0]!.json()).toEqual({
      name: "my-echo",
      image: "127.0.0.1:26450/samples/echo:v1",
      replicas: 2,
    });
  });

  it("creates a function that scales on requests down to zero", async () => {
    const { calls } = setup({
      "POST /v1/functions": { status: 201, body: { ...sampleFunction, name: "lazy" } },
    });
    await userEvent.type(screen.getByLabelText("Name"), "lazy");
    await userEvent.type(screen.getByLabelText("Image"), "nginx:alpine");
    await userEvent.click(screen.getByLabelText("Autoscale"));
    await userEvent.click(screen.getByLabelText("On requests in flight (can scale to zero)"));
    await userEvent.type(screen.getByLabelText("Minimum replicas"), "0");
    await userEvent.type(screen.getByLabelText("Maximum replicas"), "4");
    await userEvent.type(screen.getByLabelText("Requests per replica"), "5");
    await userEvent.type(screen.getByLabelText("Idle seconds before zero"), "120");
    await userEvent.click(screen.getByRole("button", { name: "Create function" }));
    await waitFor(() => expect(calls.filter((c) => c.method === "POST")).toHaveLength(1));
    const post = calls.find((c) => c.method === "POST")!;
    const body = (await post.json()) as { autoscaling: unknown };
    expect(body.autoscaling).toEqual({
      minReplicas: 0,
      maxReplicas: 4,
      targetConcurrency: 5,
      idleSeconds: 120,
    });
  });
});

const SECRETS = {
  items: [
    {
      name: "db",
      keys: ["password", "user"],
      sizeBytes: 20,
      version: 1,
      createdAt: "2026-01-01T00:00:00Z",
      updatedAt: "2026-01-01T00:00:00Z",
    },
    {
      name: "tls",
      keys: ["tls.crt"],
      sizeBytes: 900,
      version: 1,
      createdAt: "2026-01-01T00:00:00Z",
      updatedAt: "2026-01-01T00:00:00Z",
    },
  ],
};

describe("CreateFunctionPage secrets", () => {
  it("points to the tenant page when there are no secrets", async () => {
    setup();
    expect(await screen.findByTestId("secret-refs-none")).toHaveTextContent(
      "Your tenant has no secrets yet.",
    );
    expect(screen.getByRole("link", { name: "Create one on the Tenant page" })).toHaveAttribute(
      "href",
      "/tenant",
    );
    expect(screen.getByRole("button", { name: "Add secret variable" })).toBeDisabled();
  });

  it("reads a key as a variable and mounts a secret, picked from the tenant's secrets", async () => {
    const { calls, container } = setup({
      "GET /v1/secrets": { body: SECRETS },
      "POST /v1/functions": { status: 201, body: sampleFunction },
    });
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Name"), "api");
    await user.type(screen.getByLabelText("Image"), "nginx:alpine");
    await user.click(await screen.findByRole("button", { name: "Add secret variable" }));
    await user.type(screen.getByLabelText("Secret variable 1 name"), "DB_PASSWORD");
    const key = screen.getByLabelText("Secret variable 1 key");
    expect(key).toBeDisabled();
    await user.selectOptions(screen.getByLabelText("Secret variable 1 secret"), "db");
    expect(key).toBeEnabled();
    expect(
      within(key)
        .getAllByRole("option")
        .map((o) => o.textContent),
    ).toEqual(["Choose a key", "password", "user"]);
    await user.selectOptions(key, "password");
    // a secret with one key: it is picked at once
    await user.click(screen.getByRole("button", { name: "Add secret variable" }));
    await user.type(screen.getByLabelText("Secret variable 2 name"), "TLS_CERT");
    await user.selectOptions(screen.getByLabelText("Secret variable 2 secret"), "tls");
    expect(screen.getByLabelText("Secret variable 2 key")).toHaveValue("tls.crt");
    const mount = screen.getByRole("checkbox", { name: "Mount db" });
    expect(mount).toHaveAccessibleDescription(
      "/var/eventflow/secrets/db/password, /var/eventflow/secrets/db/user",
    );
    await user.click(mount);
    await expectAccessible(container);
    await user.click(screen.getByRole("button", { name: "Create function" }));
    expect(await screen.findByText("detail page")).toBeInTheDocument();
    expect(await calls.find((c) => c.method === "POST")!.json()).toEqual({
      name: "api",
      image: "nginx:alpine",
      secretEnv: [
        { name: "DB_PASSWORD", secret: "db", key: "password" },
        { name: "TLS_CERT", secret: "tls", key: "tls.crt" },
      ],
      secretFiles: ["db"],
    });
  });

  it("checks the rows before sending", async () => {
    const { calls } = setup({ "GET /v1/secrets": { body: SECRETS } });
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Name"), "api");
    await user.type(screen.getByLabelText("Image"), "nginx:alpine");
    await user.click(screen.getByRole("button", { name: "Add variable" }));
    await user.type(screen.getByLabelText("Variable 1 name"), "MODE");
    await user.type(screen.getByLabelText("Variable 1 value"), "prod");
    await user.click(await screen.findByRole("button", { name: "Add secret variable" }));
    await user.type(screen.getByLabelText("Secret variable 1 name"), "MODE");
    await user.click(screen.getByRole("button", { name: "Create function" }));
    const name = screen.getByLabelText("Secret variable 1 name");
    expect(name).toHaveAccessibleDescription('"MODE" is already set in env or above.');
    expect(screen.getByLabelText("Secret variable 1 secret")).toHaveAccessibleDescription(
      "Choose a secret.",
    );
    expect(screen.getByLabelText("Secret variable 1 key")).toHaveAccessibleDescription(
      "Choose a key.",
    );
    await waitFor(() => expect(name).toHaveFocus());
    expect(calls.some((c) => c.method === "POST")).toBe(false);
  });

  it("puts the server's refusal of a reference on the input it names", async () => {
    const { calls } = setup({
      "GET /v1/secrets": { body: SECRETS },
      "POST /v1/functions": platformError(
        422,
        "validation_failed",
        'secretEnv[0].key: secret "db" has no key "password"',
        "secretEnv[0].key",
      ),
    });
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Name"), "api");
    await user.type(screen.getByLabelText("Image"), "nginx:alpine");
    await user.click(await screen.findByRole("button", { name: "Add secret variable" }));
    await user.type(screen.getByLabelText("Secret variable 1 name"), "DB_PASSWORD");
    await user.selectOptions(screen.getByLabelText("Secret variable 1 secret"), "db");
    await user.selectOptions(screen.getByLabelText("Secret variable 1 key"), "password");
    await user.click(screen.getByRole("button", { name: "Create function" }));
    const key = screen.getByLabelText("Secret variable 1 key");
    await waitFor(() =>
      expect(key).toHaveAccessibleDescription('secret "db" has no key "password"'),
    );
    expect(key).toHaveAttribute("aria-invalid", "true");
    await waitFor(() => expect(key).toHaveFocus());
    expect(calls.filter((c) => c.method === "POST")).toHaveLength(1);
  });

  it("puts the server's refusal of a mounted secret on its checkbox", async () => {
    setup({
      "GET /v1/secrets": { body: SECRETS },
      "POST /v1/functions": platformError(
        422,
        "validation_failed",
        'secretFiles[1]: no secret "tls"',
        "secretFiles[1]",
      ),
    });
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Name"), "api");
    await user.type(screen.getByLabelText("Image"), "nginx:alpine");
    await user.click(await screen.findByRole("checkbox", { name: "Mount db" }));
    await user.click(screen.getByRole("checkbox", { name: "Mount tls" }));
    await user.click(screen.getByRole("button", { name: "Create function" }));
    const tls = screen.getByRole("checkbox", { name: "Mount tls" });
    await waitFor(() => expect(tls).toHaveAttribute("aria-invalid", "true"));
    expect(tls).toHaveAccessibleDescription('/var/eventflow/secrets/tls/tls.crt no secret "tls"');
    await waitFor(() => expect(tls).toHaveFocus());
  });
});
