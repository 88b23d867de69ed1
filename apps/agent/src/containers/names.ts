import { randomInt } from "node:crypto";

// Docker-style generated names (adjective_noun); ours name ships and harbours.
const ADJECTIVES = ["brave", "calm", "eager", "fair", "gentle", "happy", "jolly", "keen", "lucid", "merry", "nimble", "proud", "quick", "quiet", "sharp", "steady", "swift", "tidy", "vivid", "wise"];
const NOUNS = ["anchor", "barge", "buoy", "cutter", "dhow", "ferry", "galleon", "harbor", "jetty", "keel", "ketch", "lighter", "mast", "pier", "quay", "schooner", "sloop", "tug", "wharf", "yawl"];

export function generateName(taken: (name: string) => boolean): string {
  for (let i = 0; ; i++) {
    const base = `${ADJECTIVES[randomInt(ADJECTIVES.length)]}_${NOUNS[randomInt(NOUNS.length)]}`;
    const name = i < 10 ? base : `${base}${randomInt(100)}`;
    if (!taken(name)) return name;
  }
}
