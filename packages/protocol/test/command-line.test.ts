import { test } from "node:test";
import assert from "node:assert/strict";
import { splitCommandLine } from "../src/command-line.ts";

test("a command line splits into argv as a shell would, without expanding anything (the run and service dialogs, compose's command strings)", () => {
  assert.deepEqual(splitCommandLine("sleep 10"), ["sleep", "10"]);
  assert.deepEqual(splitCommandLine(`sh -c "echo a b; echo \\"q\\""`), ["sh", "-c", 'echo a b; echo "q"']);
  assert.deepEqual(splitCommandLine("sh -c 'echo $HOME; `id`'"), ["sh", "-c", "echo $HOME; `id`"]);
  assert.deepEqual(splitCommandLine("a\\ b  ''  c"), ["a b", "", "c"]);
  assert.deepEqual(splitCommandLine("   "), []);
  assert.throws(() => splitCommandLine(`echo "open`), /unterminated " quote/);
});
