-- sculpt schema, version 6: a shape's CPU weight (driver/shape.h
-- cpu_weight, cgroup v2 cpu.weight units), so that a restart, a crash
-- recovery and the reshape log keep the weight the engine chose from the
-- guest's priority.  A shape is now seven columns, PREFIX_cpu_weight the
-- seventh; 0 (rows written before) means "not set": 100 per vCPU of
-- PREFIX_res, what drv_shape_cpu_weight() gives.
ALTER TABLE instances ADD COLUMN shape_cpu_weight integer NOT NULL DEFAULT 0
    CHECK (shape_cpu_weight BETWEEN 0 AND 10000);
ALTER TABLE reshapes
    ADD COLUMN from_cpu_weight integer NOT NULL DEFAULT 0
        CHECK (from_cpu_weight BETWEEN 0 AND 10000),
    ADD COLUMN to_cpu_weight integer NOT NULL DEFAULT 0
        CHECK (to_cpu_weight BETWEEN 0 AND 10000);
ALTER TABLE pools ADD COLUMN shape_cpu_weight integer NOT NULL DEFAULT 0
    CHECK (shape_cpu_weight BETWEEN 0 AND 10000);
ALTER TABLE pool_members ADD COLUMN shape_cpu_weight integer NOT NULL DEFAULT 0
    CHECK (shape_cpu_weight BETWEEN 0 AND 10000);
-- an intent's shapes are NULL when it has none, the weight with them
ALTER TABLE intents
    ADD COLUMN from_cpu_weight integer CHECK (from_cpu_weight BETWEEN 0 AND 10000),
    ADD COLUMN to_cpu_weight integer CHECK (to_cpu_weight BETWEEN 0 AND 10000);
