-- The claim query looks at the head of each serial key (the oldest open job of that key) and at the
-- oldest unkeyed queued jobs, so its cost no longer grows with the number of jobs waiting behind a key.
-- This index serves the unkeyed half; `jobs_serial_open` serves the heads.
CREATE INDEX jobs_ready_unkeyed ON jobs (run_at, id) WHERE state = 'queued' AND serial_key IS NULL;
