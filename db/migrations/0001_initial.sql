-- sculpt schema, version 1.
--
-- Conventions: times are timestamptz (sculpt_ts()/sculpt_ms() convert from
-- and to Unix milliseconds); a resource vector is a float8[] in the order of
-- driver/resource.h (vcpu, mem_mib, net_in_mbps, net_out_mbps,
-- disk_read_iops, disk_write_iops, disk_read_mbps, disk_write_mbps); a shape
-- is six columns PREFIX_res, PREFIX_vcpus_online, PREFIX_vcpus_max,
-- PREFIX_mem_max_mib, PREFIX_pcpus (libvirt cpuset syntax), PREFIX_numa_node.
-- Applied in one transaction by db/migrate.c, which records it in
-- sculpt_schema.

CREATE FUNCTION sculpt_ts(ms bigint) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT to_timestamp(ms / 1000.0) $$;
CREATE FUNCTION sculpt_ms(t timestamptz) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT (extract(epoch FROM t) * 1000)::bigint $$;

-- The writer thread's progress, per process start (origin): the sequence
-- number of the last queued record committed.  After a connection is lost
-- during COMMIT, it tells the writer which records made it.
CREATE TABLE sculpt_writer (
    origin uuid PRIMARY KEY,
    seq bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Instances sculpt hosts, live and deleted (deleted rows keep the history
-- the predictor learns from until [database] deleted_retention).
CREATE TABLE instances (
    uuid uuid PRIMARY KEY,
    name text,
    project_id text,
    user_id text,
    image_ref text,
    flavor_name text,
    flavor_vcpus integer NOT NULL DEFAULT 0,
    flavor_memory_mb bigint NOT NULL DEFAULT 0,
    flavor_root_gb bigint NOT NULL DEFAULT 0,
    flavor_ephemeral_gb bigint NOT NULL DEFAULT 0,
    flavor_swap_mb bigint NOT NULL DEFAULT 0,
    vm_state text,
    task_state text,
    power_state smallint NOT NULL DEFAULT 0,
    domain text,
    created_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    vanished_at timestamptz,          -- reconcile found its guest gone
    shape_res float8[] NOT NULL,
    shape_vcpus_online integer NOT NULL,
    shape_vcpus_max integer NOT NULL,
    shape_mem_max_mib float8 NOT NULL,
    shape_pcpus text NOT NULL DEFAULT '',
    shape_numa_node integer NOT NULL DEFAULT -1
);
CREATE INDEX instances_flavor ON instances (flavor_name);
CREATE INDEX instances_project ON instances (project_id);
CREATE INDEX instances_image ON instances (image_ref);
CREATE INDEX instances_deleted ON instances (deleted_at) WHERE deleted_at IS NOT NULL;

-- Key/value pairs of an instance: metadata (kind 'm') and its flavor's
-- extra specs (kind 'x'), in the order given.
CREATE TABLE instance_kv (
    instance_uuid uuid NOT NULL REFERENCES instances (uuid) ON DELETE CASCADE,
    kind "char" NOT NULL CHECK (kind IN ('m', 'x')),
    pos integer NOT NULL,
    key text NOT NULL,
    value text NOT NULL,
    PRIMARY KEY (instance_uuid, kind, pos)
);

-- Every blueprint revision of every instance, with the model and the cost
-- terms that chose it.  q is [nsteps][resource][quantile] flattened.
CREATE TABLE blueprints (
    id bigserial PRIMARY KEY,
    instance_uuid uuid NOT NULL,
    revision integer NOT NULL,
    created_at timestamptz NOT NULL,
    reason text,
    model text NOT NULL,
    start_at timestamptz NOT NULL,
    step_s integer NOT NULL,
    nsteps integer NOT NULL,
    confidence float8 NOT NULL,
    res_confidence float8[] NOT NULL,
    q float8[] NOT NULL,
    band float8[] NOT NULL,
    term_names text[] NOT NULL,
    term_values float8[] NOT NULL,
    UNIQUE (instance_uuid, revision)
);
CREATE INDEX blueprints_created ON blueprints (created_at);

-- Operator-written blueprints for a workload class (NULL: any).
CREATE TABLE custom_blueprints (
    id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    description text,
    flavor_name text,
    image_ref text,
    project_id text,
    model text NOT NULL,
    start_at timestamptz NOT NULL,
    step_s integer NOT NULL,
    nsteps integer NOT NULL,
    confidence float8 NOT NULL,
    res_confidence float8[] NOT NULL,
    q float8[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Usage per guest per step, one column per resource (the predictor's
-- queries aggregate them).  Written by COPY through a staging table.
CREATE TABLE usage_samples (
    instance_uuid uuid NOT NULL,
    t timestamptz NOT NULL,
    step_s integer NOT NULL,
    vcpu float8 NOT NULL,
    mem_mib float8 NOT NULL,
    net_in_mbps float8 NOT NULL,
    net_out_mbps float8 NOT NULL,
    disk_read_iops float8 NOT NULL,
    disk_write_iops float8 NOT NULL,
    disk_read_mbps float8 NOT NULL,
    disk_write_mbps float8 NOT NULL,
    PRIMARY KEY (instance_uuid, t)
);
CREATE INDEX usage_samples_t ON usage_samples USING brin (t);

-- Raw samples older than [database] usage_raw_retention, rolled up into
-- buckets: n samples, their mean and their peak per resource.
CREATE TABLE usage_rollups (
    instance_uuid uuid NOT NULL,
    t timestamptz NOT NULL,
    step_s integer NOT NULL,
    n integer NOT NULL,
    vcpu float8 NOT NULL,
    mem_mib float8 NOT NULL,
    net_in_mbps float8 NOT NULL,
    net_out_mbps float8 NOT NULL,
    disk_read_iops float8 NOT NULL,
    disk_write_iops float8 NOT NULL,
    disk_read_mbps float8 NOT NULL,
    disk_write_mbps float8 NOT NULL,
    vcpu_peak float8 NOT NULL,
    mem_mib_peak float8 NOT NULL,
    net_in_mbps_peak float8 NOT NULL,
    net_out_mbps_peak float8 NOT NULL,
    disk_read_iops_peak float8 NOT NULL,
    disk_write_iops_peak float8 NOT NULL,
    disk_read_mbps_peak float8 NOT NULL,
    disk_write_mbps_peak float8 NOT NULL,
    PRIMARY KEY (instance_uuid, t)
);
CREATE INDEX usage_rollups_t ON usage_rollups USING brin (t);

-- Every shape applied: when, from, to, why, how long it took.
CREATE TABLE reshapes (
    id bigserial PRIMARY KEY,
    instance_uuid uuid NOT NULL,
    at timestamptz NOT NULL,
    from_res float8[] NOT NULL,
    from_vcpus_online integer NOT NULL,
    from_vcpus_max integer NOT NULL,
    from_mem_max_mib float8 NOT NULL,
    from_pcpus text NOT NULL,
    from_numa_node integer NOT NULL,
    to_res float8[] NOT NULL,
    to_vcpus_online integer NOT NULL,
    to_vcpus_max integer NOT NULL,
    to_mem_max_mib float8 NOT NULL,
    to_pcpus text NOT NULL,
    to_numa_node integer NOT NULL,
    reason text,
    duration_ms float8 NOT NULL,
    ok boolean NOT NULL,
    error text,
    intent_id bigint UNIQUE
);
CREATE INDEX reshapes_instance ON reshapes (instance_uuid, at);
CREATE INDEX reshapes_at ON reshapes USING brin (at);

-- The host's topology and capacity over time.
CREATE TABLE host_snapshots (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL,
    host text NOT NULL,
    cpus integer NOT NULL,
    numa_nodes integer NOT NULL,
    capacity float8[] NOT NULL,
    reserved float8[] NOT NULL,
    allocated float8[] NOT NULL,
    used float8[] NOT NULL,
    fragmentation float8 NOT NULL,
    topology text
);
CREATE INDEX host_snapshots_at ON host_snapshots (at);

-- Pre-sculpted pools (a request class and its target size) and members.
CREATE TABLE pools (
    key text PRIMARY KEY,
    flavor_name text,
    image_ref text,
    project_id text,
    target_size integer NOT NULL,
    confidence float8 NOT NULL,
    expires_at timestamptz,
    shape_res float8[] NOT NULL,
    shape_vcpus_online integer NOT NULL,
    shape_vcpus_max integer NOT NULL,
    shape_mem_max_mib float8 NOT NULL,
    shape_pcpus text NOT NULL,
    shape_numa_node integer NOT NULL,
    term_names text[] NOT NULL,
    term_values float8[] NOT NULL,
    hits bigint NOT NULL DEFAULT 0,
    misses bigint NOT NULL DEFAULT 0,
    expiries bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pool_members (
    uuid uuid PRIMARY KEY,
    pool_key text NOT NULL,
    domain text,
    state text NOT NULL CHECK (state IN ('preparing', 'ready', 'paused', 'handed_over',
                                         'released', 'gone')),
    shape_res float8[] NOT NULL,
    shape_vcpus_online integer NOT NULL,
    shape_vcpus_max integer NOT NULL,
    shape_mem_max_mib float8 NOT NULL,
    shape_pcpus text NOT NULL,
    shape_numa_node integer NOT NULL,
    created_at timestamptz NOT NULL,
    ready_at timestamptz,
    expires_at timestamptz,
    instance_uuid uuid,
    handed_over_at timestamptz,
    reason text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pool_members_live ON pool_members (pool_key)
    WHERE state IN ('preparing', 'ready', 'paused');
CREATE INDEX pool_members_updated ON pool_members (updated_at);

-- Requests received and their outcome.
CREATE TABLE events (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL,
    request_id text,
    instance_uuid uuid,
    source text NOT NULL,
    action text NOT NULL,
    code text NOT NULL,               -- 'OK' or an err_code name ('INVALID'...)
    message text,
    duration_ms float8 NOT NULL DEFAULT 0
);
CREATE INDEX events_at ON events (at);
CREATE INDEX events_instance ON events (instance_uuid, at) WHERE instance_uuid IS NOT NULL;
CREATE INDEX events_request ON events (request_id) WHERE request_id IS NOT NULL;

-- sculpt.conf options changed at run time (the API's PUT /v1/config/...).
CREATE TABLE settings (
    section text NOT NULL,
    name text NOT NULL,
    value text NOT NULL,
    updated_by text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (section, name)
);

-- The journal of multi-step operations (db.h, "Intents").
CREATE TABLE intents (
    id bigserial PRIMARY KEY,
    op text NOT NULL CHECK (op IN ('spawn', 'reshape', 'destroy', 'handover')),
    state text NOT NULL DEFAULT 'open'
        CHECK (state IN ('open', 'done', 'rolled_back', 'failed')),
    instance_uuid uuid NOT NULL,
    domain text,
    member_uuid uuid,
    from_res float8[],
    from_vcpus_online integer,
    from_vcpus_max integer,
    from_mem_max_mib float8,
    from_pcpus text,
    from_numa_node integer,
    to_res float8[],
    to_vcpus_online integer,
    to_vcpus_max integer,
    to_mem_max_mib float8,
    to_pcpus text,
    to_numa_node integer,
    step text,
    request_id text,
    message text,
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX intents_open ON intents (id) WHERE state = 'open';
CREATE INDEX intents_finished ON intents (finished_at) WHERE finished_at IS NOT NULL;
