// Two roles for the DNS figure, each run inside a lab namespace by bench/network.ts:
//   dns-probe.ts SERVER NAME COUNT   sends COUNT A queries for NAME one after another to SERVER:53
//                                    and prints their latencies in ms as JSON;
//   dns-probe.ts --serve ADDR:PORT   a stand-in upstream resolver that answers every A query with
//                                    10.1.2.3, so forwarded lookups never leave the lab.
import { createSocket } from "node:dgram";
import * as dnsPacket from "dns-packet";

const args = process.argv.slice(2);

if (args[0] === "--serve") {
  const [address, port] = args[1]!.split(":") as [string, string];
  const s = createSocket("udp4");
  s.on("message", (msg, r) => {
    const q = dnsPacket.decode(msg);
    const name = q.questions?.[0]?.name ?? "";
    s.send(
      dnsPacket.encode({
        id: q.id,
        type: "response",
        flags: dnsPacket.RECURSION_AVAILABLE,
        questions: q.questions ?? [],
        answers: [{ type: "A", name, ttl: 60, class: "IN", data: "10.1.2.3" }],
      }),
      r.port,
      r.address,
    );
  });
  s.bind(Number(port), address, () => process.stdout.write("ready\n"));
} else {
  const [server, name, countText] = args as [string, string, string];
  const count = Number(countText);
  const s = createSocket("udp4");
  const latencies: number[] = [];
  let id = 0;
  let sentAt = 0;
  let timer: NodeJS.Timeout | undefined;
  const ask = () => {
    id = (id + 1) & 0xffff;
    const query = dnsPacket.encode({ id, type: "query", flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: "A", name }] });
    sentAt = performance.now();
    s.send(query, 53, server);
    timer = setTimeout(() => {
      process.stderr.write(`no answer for ${name} from ${server} within 2 s\n`);
      process.exit(1);
    }, 2000);
  };
  s.on("message", (msg) => {
    const reply = dnsPacket.decode(msg);
    if (reply.id !== id) return;
    clearTimeout(timer);
    const rcode = (reply.flags ?? 0) & 0xf;
    if (rcode !== 0 || !reply.answers?.some((a) => a.type === "A")) {
      process.stderr.write(`${name}: no A record (rcode ${rcode})\n`);
      process.exit(1);
    }
    latencies.push(performance.now() - sentAt);
    if (latencies.length === count) {
      process.stdout.write(JSON.stringify(latencies));
      s.close();
    } else ask();
  });
  s.bind(0, ask);
}
