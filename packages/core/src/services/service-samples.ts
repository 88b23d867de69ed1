import type { Db } from "@berth/db";

/*
 * A service's tasks over time, for its charts: every SAMPLE_MS the leader stores, per service,
 * how many tasks run, how many are wanted, and how many started in those seconds to replace one
 * that ended on its own (failed, exited, rejected, or lost with its host; not those an update or
 * a scale retired). Kept for an hour, beside the containers' own stats history.
 */

export const SERVICE_SAMPLE_MS = 10_000;
export const SERVICE_SAMPLE_KEEP_MS = 60 * 60 * 1000;

export interface ServiceSamplePoint {
  at: number;
  running: number;
  desired: number;
  restarts: number;
}

type Counts = { serviceId: string; running: number; desired: number; restarts: number };

/** Each service's counts at `at` (or one service's), restarts over the SAMPLE_MS before it. */
function countsAt(db: Db, at: Date, serviceId: string | null): Promise<Counts[]> {
  const since = new Date(at.getTime() - SERVICE_SAMPLE_MS);
  return db.$queryRaw<Counts[]>`
    select s.id as "serviceId",
      (select count(*)::int from task t where t."serviceId" = s.id and t."desiredState" = 'running' and t.state = 'running') as running,
      case when v.spec->'mode'->>'kind' = 'replicated' then (v.spec->'mode'->>'replicas')::int
           else (select count(*)::int from task t where t."serviceId" = s.id and t."desiredState" = 'running') end as desired,
      (select count(*)::int from task t
         cross join lateral (
           select p.state from task p
           where p."serviceId" = t."serviceId" and p.slot = t.slot and p."createdAt" < t."createdAt"
             and (t.slot <> 0 or p."hostId" = t."hostId")
           order by p."createdAt" desc limit 1) prev
         where t."serviceId" = s.id and t."createdAt" > ${since} and t."createdAt" <= ${at}
           and prev.state in ('failed', 'complete', 'rejected', 'orphaned')) as restarts
    from service s join service_version v on v."serviceId" = s.id and v.version = s.version
    where ${serviceId}::text is null or s.id = ${serviceId}`;
}

/** Stores every service's counts now, and forgets what is older than the hour. */
export async function recordServiceSamples(db: Db, now = new Date()): Promise<number> {
  let rows = await countsAt(db, now, null);
  const insert = () => db.serviceSample.createMany({ data: rows.map((r) => ({ ...r, at: now })), skipDuplicates: true });
  if (rows.length) {
    await insert().catch(async (e: { code?: string }) => {
      // A service removed between the count and the insert: sample the ones that remain.
      if (e.code !== "P2003") throw e;
      const left = new Set(
        (await db.service.findMany({ where: { id: { in: rows.map((r) => r.serviceId) } }, select: { id: true } })).map((x) => x.id),
      );
      rows = rows.filter((r) => left.has(r.serviceId));
      if (rows.length) await insert();
    });
  }
  await db.serviceSample.deleteMany({ where: { at: { lt: new Date(now.getTime() - SERVICE_SAMPLE_KEEP_MS) } } });
  return rows.length;
}

/** A service's stored hour, oldest first, and a point for this moment. */
export async function serviceHistory(db: Db, serviceId: string, now = new Date()): Promise<ServiceSamplePoint[]> {
  const [stored, live] = await Promise.all([
    db.serviceSample.findMany({
      where: { serviceId, at: { gte: new Date(now.getTime() - SERVICE_SAMPLE_KEEP_MS) } },
      orderBy: { at: "asc" },
    }),
    countsAt(db, now, serviceId),
  ]);
  const points = stored.map((s) => ({ at: s.at.getTime(), running: s.running, desired: s.desired, restarts: s.restarts }));
  for (const c of live) points.push({ at: now.getTime(), running: c.running, desired: c.desired, restarts: c.restarts });
  return points;
}
