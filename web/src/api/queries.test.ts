import { describe, expect, it } from "vitest";
import { QueryClient } from "@tanstack/react-query";
import { invocation } from "../test/utils";
import {
  forgetSecret,
  isActive,
  markInvokeKeyRevoked,
  putInvocation,
  putInvokeKey,
  putSecret,
  queryKeys,
  type InvocationPages,
} from "./queries";
import type { InvokeKey, InvokeKeyList, Secret, SecretList } from "./types";

function pages(...lists: ReturnType<typeof invocation>[][]): InvocationPages {
  return {
    pages: lists.map((items, i) => ({ items, nextCursor: i < lists.length - 1 ? `c${i}` : null })),
    pageParams: lists.map((_, i) => (i === 0 ? null : `c${i - 1}`)),
  };
}

const ids = (qc: QueryClient, status: Parameters<typeof queryKeys.invocationList>[1]) =>
  qc
    .getQueryData<InvocationPages>(queryKeys.invocationList("hello", status))
    ?.pages.map((p) => p.items.map((i) => `${i.id.slice(0, 8)}:${i.status}`));

describe("putInvocation", () => {
  it("puts a new invocation at the top of the lists it belongs in", () => {
    const qc = new QueryClient();
    const old = invocation({ status: "succeeded" });
    const dead = invocation({ status: "dead" });
    qc.setQueryData(queryKeys.invocationList("hello", "all"), pages([old], [dead]));
    qc.setQueryData(queryKeys.invocationList("hello", "queued"), pages([]));
    qc.setQueryData(queryKeys.invocationList("hello", "dead"), pages([dead]));
    const fresh = invocation({ status: "queued" });
    putInvocation(qc, fresh);
    const s = (i: typeof old) => `${i.id.slice(0, 8)}:${i.status}`;
    expect(ids(qc, "all")).toEqual([[s(fresh), s(old)], [s(dead)]]);
    expect(ids(qc, "queued")).toEqual([[s(fresh)]]);
    expect(ids(qc, "dead")).toEqual([[s(dead)]]);
    expect(qc.getQueryData(queryKeys.invocation(fresh.id))).toEqual(fresh);
    // every list of the function is refetched
    expect(qc.getQueryState(queryKeys.invocationList("hello", "dead"))?.isInvalidated).toBe(true);
  });

  it("replaces a re-driven invocation where it is, keeping its loaded attempts", () => {
    const qc = new QueryClient();
    const dead = invocation({ status: "dead" });
    const attemptLog = [{ n: 1, startedAt: dead.createdAt, outcome: "failed" }];
    qc.setQueryData(queryKeys.invocationList("hello", "all"), pages([invocation(), dead]));
    qc.setQueryData(queryKeys.invocationList("hello", "dead"), pages([dead]));
    qc.setQueryData(queryKeys.invocation(dead.id), { ...dead, attemptLog });
    putInvocation(qc, { ...dead, status: "queued" });
    expect(ids(qc, "all")?.[0]?.[1]).toBe(`${dead.id.slice(0, 8)}:queued`);
    expect(ids(qc, "dead")).toEqual([[`${dead.id.slice(0, 8)}:queued`]]);
    expect(qc.getQueryData(queryKeys.invocation(dead.id))).toMatchObject({
      status: "queued",
      attemptLog,
    });
  });

  it("leaves other functions' lists alone", () => {
    const qc = new QueryClient();
    qc.setQueryData(queryKeys.invocationList("other", "all"), pages([]));
    putInvocation(qc, invocation());
    expect(
      qc.getQueryData<InvocationPages>(queryKeys.invocationList("other", "all"))?.pages[0]?.items,
    ).toEqual([]);
  });
});

describe("isActive", () => {
  it("is true while the worker may still change it", () => {
    expect(
      ["queued", "running", "succeeded", "failed", "dead"].map((status) =>
        isActive({ status: status as "queued" }),
      ),
    ).toEqual([true, true, false, false, false]);
  });
});

describe("invoke keys in the cache", () => {
  const github: InvokeKey = {
    id: "k1",
    function: "hello",
    name: "github",
    prefix: "efi_AbCdEfGh",
    createdAt: "2026-01-01T00:00:00Z",
    expiresAt: null,
    revokedAt: null,
    lastUsedAt: null,
    active: true,
  };

  it("adds a new key to its function's list without the key itself", () => {
    const qc = new QueryClient();
    qc.setQueryData<InvokeKeyList>(queryKeys.invokeKeys("hello"), { items: [github] });
    putInvokeKey(qc, { ...github, id: "k2", name: "stripe", key: "efi_secret" });
    const items = qc.getQueryData<InvokeKeyList>(queryKeys.invokeKeys("hello"))?.items;
    expect(items?.map((k) => k.name)).toEqual(["github", "stripe"]);
    expect(JSON.stringify(items)).not.toContain("efi_secret");
    expect(qc.getQueryState(queryKeys.invokeKeys("hello"))?.isInvalidated).toBe(true);
  });

  it("marks a revoked key at once", () => {
    const qc = new QueryClient();
    qc.setQueryData<InvokeKeyList>(queryKeys.invokeKeys("hello"), {
      items: [github, { ...github, id: "k2" }],
    });
    markInvokeKeyRevoked(qc, "hello", "k1", "2026-01-03T00:00:00Z");
    const items = qc.getQueryData<InvokeKeyList>(queryKeys.invokeKeys("hello"))?.items;
    expect(items?.map((k) => [k.id, k.active, k.revokedAt])).toEqual([
      ["k1", false, "2026-01-03T00:00:00Z"],
      ["k2", true, null],
    ]);
  });
});

describe("secrets in the cache", () => {
  const secret = (name: string, version = 1): Secret => ({
    name,
    keys: ["password"],
    sizeBytes: 10,
    version,
    createdAt: "2026-01-01T00:00:00Z",
    updatedAt: "2026-01-01T00:00:00Z",
  });
  const names = (qc: QueryClient) =>
    qc.getQueryData<SecretList>(queryKeys.secretList())?.items.map((s) => `${s.name}@${s.version}`);

  it("puts a saved secret into the list in name order, only its listed fields", () => {
    const qc = new QueryClient();
    qc.setQueryData<SecretList>(queryKeys.secretList(), { items: [secret("api"), secret("db")] });
    qc.setQueryData(queryKeys.secret("db"), { ...secret("db"), usedBy: ["hello"] });
    putSecret(qc, secret("cache"));
    putSecret(qc, {
      ...secret("db", 2),
      // a field the server does not send: never cached
      ...({ data: { password: "pw" } } as object),
    });
    expect(names(qc)).toEqual(["api@1", "cache@1", "db@2"]);
    expect(JSON.stringify(qc.getQueryData(queryKeys.secretList()))).not.toContain("pw");
    // its usedBy is read again next time
    expect(qc.getQueryData(queryKeys.secret("db"))).toBeUndefined();
    expect(qc.getQueryState(queryKeys.secretList())?.isInvalidated).toBe(true);
  });

  it("forgets a deleted secret", () => {
    const qc = new QueryClient();
    qc.setQueryData<SecretList>(queryKeys.secretList(), { items: [secret("api"), secret("db")] });
    qc.setQueryData(queryKeys.secret("db"), secret("db"));
    forgetSecret(qc, "db");
    expect(names(qc)).toEqual(["api@1"]);
    expect(qc.getQueryData(queryKeys.secret("db"))).toBeUndefined();
  });
});

describe("metrics keys", () => {
  it("keeps the tenant overview apart from every function's metrics", () => {
    expect(queryKeys.tenantMetrics("1h")).toEqual(["tenant-metrics", "1h"]);
    // removing a deleted function's metrics (a prefix) must not touch the overview
    const qc = new QueryClient();
    qc.setQueryData(queryKeys.functionMetrics("hello", "1h"), 1);
    qc.setQueryData(queryKeys.tenantMetrics("1h"), 2);
    qc.removeQueries({ queryKey: queryKeys.metrics("hello") });
    expect(qc.getQueryData(queryKeys.functionMetrics("hello", "1h"))).toBeUndefined();
    expect(qc.getQueryData(queryKeys.tenantMetrics("1h"))).toBe(2);
  });
});
