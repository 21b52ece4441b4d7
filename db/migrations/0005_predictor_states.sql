-- sculpt schema, version 5: each guest's predictor state (driver/predict.h,
-- drv_predictor_export/import), so that a restart of sculpt-compute
-- continues every guest's prediction where it stopped instead of a cold
-- start from the fleet.  The state is the driver's own versioned,
-- checksummed bytes, zlib-compressed; one the binary cannot read is
-- refused at start-up (that guest starts cold) and replaced by the next
-- save.  Deleted with its instance (db_instance_delete), and with the row
-- itself when retention removes it.
CREATE TABLE predictor_states (
    instance_uuid uuid PRIMARY KEY REFERENCES instances (uuid) ON DELETE CASCADE,
    version integer NOT NULL,     -- DRV_PREDICTOR_STATE_VERSION of the state
    size integer NOT NULL,        -- its uncompressed size in bytes
    samples bigint NOT NULL,      -- samples the predictor had observed
    state bytea NOT NULL,
    saved_at timestamptz NOT NULL DEFAULT now()
);
