-- Redeliveries previewd asked GitHub for, so a sweep neither asks twice for the same delivery while
-- GitHub is still working on it nor keeps asking for one that never arrives.
CREATE TABLE redelivery_requests (
    guid          text PRIMARY KEY,                -- X-GitHub-Delivery of the missed delivery
    delivery_id   bigint NOT NULL,                 -- the attempt whose redelivery was requested last
    event         text,
    action        text,
    requested_at  timestamptz NOT NULL,            -- when the last request was sent
    attempts      integer NOT NULL DEFAULT 1 CHECK (attempts >= 0)
);
CREATE INDEX redelivery_requests_requested_at ON redelivery_requests (requested_at);
