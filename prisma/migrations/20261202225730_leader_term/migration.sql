-- CreateTable
CREATE TABLE "leader_term" (
    "job" TEXT NOT NULL,
    "term" BIGINT NOT NULL,
    "electedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "leader_term_pkey" PRIMARY KEY ("job")
);

-- A leader's write runs after this in the same transaction: it holds the job's term row FOR SHARE
-- until the write commits (so a new leader's raise waits for it), or refuses with SQLSTATE BF001
-- when the term is over (another process leads now).
-- (The body writes its semicolons as \073, since Prisma's pg adapter splits a migration at every one of them.)
CREATE FUNCTION berth_fence(job_name TEXT, held_term BIGINT) RETURNS VOID LANGUAGE plpgsql AS E'
BEGIN
  PERFORM 1 FROM "leader_term" WHERE "job" = job_name AND "term" = held_term FOR SHARE\073
  IF NOT FOUND THEN
    RAISE EXCEPTION ''the % leadership of term % is over'', job_name, held_term USING ERRCODE = ''BF001''\073
  END IF\073
END';
