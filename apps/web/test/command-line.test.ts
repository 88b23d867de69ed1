import { test } from "node:test";
import assert from "node:assert/strict";
import { splitCommandLine } from "../src/components/command-line.ts";

test("the run dialog splits a command line into argv as a shell would, without expanding anything", () => {
  assert.deepEqual(splitCommandLine("sleep 10"), ["sleep", "10"]);
  assert.deepEqual(splitCommandLine(`sh -c "echo a b; echo \\"q\\""`), ["sh", "-c", 'echo a b; echo "q"']);
  assert.deepEqual(splitCommandLine("sh -c 'echo $HOME; `id`'"), ["sh", "-c", "echo $HOME; `id`"]);
  assert.deepEqual(splitCommandLine("a\\ b  ''  c"), ["a b", "", "c"]);
  assert.deepEqual(splitCommandLine("   "), []);
  assert.throws(() => splitCommandLine(`echo "open`), /unterminated " quote/);
});
