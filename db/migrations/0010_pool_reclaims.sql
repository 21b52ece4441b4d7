-- sculpt schema, version 10: a pool counts its idle members reclaimed --
-- destroyed to make room for a real guest's build or resize -- beside its
-- hits, misses and expiries (GET /v1/pools, sculpt_pool_reclaims_total).
ALTER TABLE pools ADD COLUMN reclaims bigint NOT NULL DEFAULT 0;
