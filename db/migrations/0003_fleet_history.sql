-- sculpt schema, version 3: the prediction module's fleet history
-- (driver/predict.h, drv_fleet_export/import), so that a restart keeps
-- what every guest taught the predictor.  Each record is the fixed-size
-- struct of its layout version, zlib-compressed; a record whose version
-- or size the binary does not write any more is skipped at load (the
-- group starts over) and replaced by the next save.

-- One row per fleet group ("flavor=m1.small", "project=..|name=web-#", "*").
CREATE TABLE fleet_groups (
    key text PRIMARY KEY,
    version integer NOT NULL,          -- DRV_FLEET_RECORD_VERSION of the record
    size integer NOT NULL,             -- its uncompressed size in bytes
    guests double precision NOT NULL,  -- guests that fed it (also in the record)
    updated_s bigint NOT NULL,         -- its last sample, Unix s (also in the record)
    record bytea NOT NULL,
    saved_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fleet_groups_updated ON fleet_groups (updated_s DESC);

-- The fleet's calibration (one row): pooled residual distributions and the
-- SLO controller's state.
CREATE TABLE fleet_calibration (
    id smallint PRIMARY KEY CHECK (id = 1),
    version integer NOT NULL,
    size integer NOT NULL,
    updated_s bigint NOT NULL,
    record bytea NOT NULL,
    saved_at timestamptz NOT NULL DEFAULT now()
);
