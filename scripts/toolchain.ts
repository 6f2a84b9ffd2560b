/**
 * Finds the pinned Zig, installing it into `.tools/` from PyPI (package
 * `ziglang`) when the pinned version is not on PATH. The pin lives in one
 * place: `.zig-version`.
 *
 * @module
 */

const root = new URL("../", import.meta.url);

/** The pinned Zig version. */
export const zigVersion: string = Deno.readTextFileSync(new URL(".zig-version", root)).trim();

const localDir = new URL(`.tools/zig-${zigVersion}/`, root);
const exe = Deno.build.os === "windows" ? "zig.exe" : "zig";
const localZig = new URL(`ziglang/${exe}`, localDir).pathname;

async function versionOf(zig: string): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(zig, { args: ["version"], stdout: "piped", stderr: "null" }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

async function python(): Promise<string> {
  for (const candidate of ["python3", "python"]) {
    try {
      const out = await new Deno.Command(candidate, { args: ["--version"], stdout: "null", stderr: "null" }).output();
      if (out.success) return candidate;
    } catch {
      // Try the next name.
    }
  }
  throw new Error("Zig is not installed and no python3 was found to fetch it (pip install ziglang)");
}

/** Path of a Zig of the pinned version, installing it if needed. */
export async function findZig(): Promise<string> {
  if (await versionOf("zig") === zigVersion) return "zig";
  if (await versionOf(localZig) === zigVersion) return localZig;
  console.error(`avx: fetching Zig ${zigVersion} (PyPI ziglang) into .tools/ ...`);
  const py = await python();
  const pip = await new Deno.Command(py, {
    args: [
      "-m",
      "pip",
      "install",
      "--quiet",
      "--disable-pip-version-check",
      "--no-input",
      "--upgrade",
      "--target",
      localDir.pathname,
      `ziglang==${zigVersion}`,
    ],
    env: { PIP_ROOT_USER_ACTION: "ignore" },
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!pip.success) throw new Error(`pip could not install ziglang==${zigVersion}`);
  const got = await versionOf(localZig);
  if (got !== zigVersion) throw new Error(`installed Zig reports ${got}, expected ${zigVersion}`);
  return localZig;
}

/** Run the pinned Zig with `args` in the project root; exits on failure. */
export async function runZig(args: string[]): Promise<void> {
  const zig = await findZig();
  const status = await new Deno.Command(zig, {
    args,
    cwd: root.pathname,
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  if (!status.success) Deno.exit(status.code || 1);
}
