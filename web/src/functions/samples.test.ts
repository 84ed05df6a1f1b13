import { describe, expect, it, vi } from "vitest";
import { ApiError, type ApiClient } from "../api/client";
import { sampleFunction } from "../test/utils";
import { deploySample, SUFFIX_ATTEMPTS, suffixedName } from "./samples";
import { NAME_MAX, validateName } from "./validation";

const echo = { name: "echo", image: "127.0.0.1:26450/samples/echo:v1", description: null };
const conflict = () => new ApiError(409, "conflict", "function echo already exists");

function apiWith(createFunction: ApiClient["createFunction"]) {
  return { createFunction } as unknown as ApiClient;
}

describe("suffixedName", () => {
  it("appends a dash and the suffix", () => {
    expect(suffixedName("echo", "k3x9")).toBe("echo-k3x9");
  });

  it("stays a valid name for the longest sample names", () => {
    const name = suffixedName("a".repeat(NAME_MAX), "zz99");
    expect(name).toHaveLength(NAME_MAX);
    expect(validateName(name)).toBeNull();
    // a cut that would end in '-' drops it
    expect(suffixedName(`${"a".repeat(54)}-bbbbbb`, "zz99")).toBe(`${"a".repeat(54)}-zz99`);
  });

  it("makes random lowercase suffixes", () => {
    const names = new Set(Array.from({ length: 20 }, () => suffixedName("echo")));
    for (const n of names) expect(n).toMatch(/^echo-[a-z0-9]{4}$/);
    expect(names.size).toBeGreaterThan(1);
  });
});

describe("deploySample", () => {
  it("uses the sample's name when it is free", async () => {
    const create = vi.fn().mockResolvedValue({ ...sampleFunction, name: "echo" });
    await expect(deploySample(apiWith(create), echo)).resolves.toMatchObject({ name: "echo" });
    expect(create).toHaveBeenCalledExactlyOnceWith({ name: "echo", image: echo.image });
  });

  it("tries suffixed names after a conflict", async () => {
    const create = vi
      .fn()
      .mockRejectedValueOnce(conflict())
      .mockRejectedValueOnce(conflict())
      .mockResolvedValue({ ...sampleFunction, name: "echo-bbbb" });
    const suffixes = ["aaaa", "bbbb"];
    await deploySample(apiWith(create), echo, () => suffixes.shift()!);
    expect(create.mock.calls.map(([r]) => (r as { name: string }).name)).toEqual([
      "echo",
      "echo-aaaa",
      "echo-bbbb",
    ]);
  });

  it("gives up after a few conflicts", async () => {
    const create = vi.fn().mockRejectedValue(conflict());
    await expect(deploySample(apiWith(create), echo)).rejects.toMatchObject({ status: 409 });
    expect(create).toHaveBeenCalledTimes(1 + SUFFIX_ATTEMPTS);
  });

  it("passes other errors on at once", async () => {
    const quota = new ApiError(403, "quota_exceeded", "function quota is used up");
    const create = vi.fn().mockRejectedValue(quota);
    await expect(deploySample(apiWith(create), echo)).rejects.toBe(quota);
    expect(create).toHaveBeenCalledTimes(1);
  });
});
