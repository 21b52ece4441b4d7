-- sculpt schema, version 8: the rest of what the pool manager learnt
-- survives a restart (driver/presculpt_pool.h, drv_pool_mgr_boot_times,
-- drv_pool_mgr_calibration): how long each class's members take to boot,
-- so that a member is not paused after cold_start_latency until boots are
-- seen again, and how much the planner tightens the idle budget, so that
-- it does not start over at 1 and relearn over hours.

-- The class's learnt boot time (EWMA of member boots), ms; NULL: none yet.
ALTER TABLE pool_classes ADD COLUMN boot_ms float8 CHECK (boot_ms > 0);

-- The planner's idle-budget calibration (one row): EWMAs of measured and
-- allowed idle vCPU-seconds per interval of interval_s, the weight they
-- gathered, the log of the tightening factor.
CREATE TABLE presculpt_calibration (
    id smallint PRIMARY KEY CHECK (id = 1),
    interval_s bigint NOT NULL CHECK (interval_s > 0),
    real_idle float8 NOT NULL CHECK (real_idle >= 0),
    allowed_idle float8 NOT NULL CHECK (allowed_idle >= 0),
    weight float8 NOT NULL CHECK (weight BETWEEN 0 AND 1),
    log_factor float8 NOT NULL CHECK (log_factor >= 0),
    saved_at timestamptz NOT NULL DEFAULT now()
);
